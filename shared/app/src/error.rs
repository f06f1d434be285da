//! The one error of the use cases. Each has a [`ErrorKind`] (what the HTTP layer turns into a
//! status and an error `type`), a stable `code` and, when a field is at fault, its `param`.
//! Unexpected failures keep their detail for the logs and never show it to clients.

use billing_core::payment::Payment;
use billing_core::{BillingError, FieldError};
use billing_ledger::LedgerError;
use thiserror::Error;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// 400: the request is wrong.
    InvalidRequest,
    /// 404: a resource in the path does not exist.
    NotFound,
    /// 409: the request conflicts with the current state.
    Conflict,
    /// 422: well-formed but refused by a rule (credit note cap).
    Unprocessable,
    /// 402: the payment was declined.
    Payment,
    /// 503: the store cannot be reached; retry.
    Unavailable,
    /// 500.
    Internal,
}

/// Any error kept as the source of an internal one.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

fn source_suffix(source: Option<&(dyn std::error::Error + Send + Sync + 'static)>) -> String {
    source
        .map(|source| format!(": {source}"))
        .unwrap_or_default()
}

#[derive(Debug, Error)]
pub enum AppError {
    #[error("{0}")]
    Invalid(FieldError),

    #[error("no {entity} {id}")]
    NotFound { entity: &'static str, id: String },

    /// A body names something that does not exist (`user_id`, `plan_code`).
    #[error("no {entity} {id}")]
    Missing {
        entity: &'static str,
        id: String,
        param: &'static str,
        code: &'static str,
    },

    #[error("{message}")]
    Conflict {
        code: &'static str,
        message: String,
        param: Option<&'static str>,
    },

    #[error(transparent)]
    Billing(#[from] BillingError),

    /// The charge was declined; the failed payment is recorded and returned.
    #[error("payment declined: {code}")]
    PaymentDeclined { code: String, payment: Box<Payment> },

    #[error("store unavailable: {0}")]
    Unavailable(String),

    /// An unexpected failure: what was being done, and the error that stopped it (kept as
    /// the source, and shown in the message for the logs; never in a response).
    #[error("internal error: {context}{}", source_suffix(.source.as_deref()))]
    Internal {
        context: String,
        #[source]
        source: Option<BoxError>,
    },

    /// A setting read at start does not hold: the process must not start with it.
    #[error("{variable}: {message}")]
    Config {
        variable: &'static str,
        message: String,
    },
}

impl AppError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Invalid(_) | Self::Missing { .. } => ErrorKind::InvalidRequest,
            Self::NotFound { .. } => ErrorKind::NotFound,
            Self::Conflict { .. } => ErrorKind::Conflict,
            Self::PaymentDeclined { .. } => ErrorKind::Payment,
            Self::Unavailable(_) => ErrorKind::Unavailable,
            Self::Internal { .. } | Self::Config { .. } => ErrorKind::Internal,
            Self::Billing(error) => match error {
                BillingError::Invalid(_)
                | BillingError::CurrencyMismatch { .. }
                | BillingError::DateOutOfRange { .. } => ErrorKind::InvalidRequest,
                BillingError::UnknownPlan { .. } => ErrorKind::InvalidRequest,
                BillingError::CreditNoteOverCap { .. } | BillingError::AmountOverflow { .. } => {
                    ErrorKind::Unprocessable
                }
                BillingError::IllegalTransition { .. }
                | BillingError::RenewalDue { .. }
                | BillingError::NotDue { .. }
                | BillingError::BeforePeriodStart { .. }
                | BillingError::PlanArchived { .. }
                | BillingError::SamePlan { .. }
                | BillingError::MetricAlreadyPriced { .. }
                | BillingError::InvoiceNotOpen { .. }
                | BillingError::InvoiceNotPaid { .. } => ErrorKind::Conflict,
            },
        }
    }

    pub fn code(&self) -> &str {
        match self {
            Self::Invalid(field) => field.code,
            Self::NotFound { .. } => "resource_missing",
            Self::Missing { code, .. } | Self::Conflict { code, .. } => code,
            Self::Billing(error) => error.code(),
            Self::PaymentDeclined { code, .. } => code,
            Self::Unavailable(_) => "store_unavailable",
            Self::Internal { .. } | Self::Config { .. } => "internal_error",
        }
    }

    pub fn param(&self) -> Option<&str> {
        match self {
            Self::Invalid(field) => Some(&field.param),
            Self::Missing { param, .. } => Some(param),
            Self::Conflict { param, .. } => *param,
            Self::Billing(error) => error.param(),
            _ => None,
        }
    }

    /// The message a client may see: everything but internal detail.
    pub fn public_message(&self) -> String {
        match self {
            Self::Unavailable(_) => "the store is unavailable; retry shortly".to_owned(),
            Self::Internal { .. } | Self::Config { .. } => "internal error".to_owned(),
            other => other.to_string(),
        }
    }

    pub fn conflict(
        code: &'static str,
        message: impl Into<String>,
        param: Option<&'static str>,
    ) -> Self {
        Self::Conflict {
            code,
            message: message.into(),
            param,
        }
    }

    /// An unexpected failure of `context` (what was being done), caused by `source`.
    pub fn internal(context: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Self::Internal {
            context: context.into(),
            source: Some(source.into()),
        }
    }

    /// An unexpected state with no error behind it (a bug): `context` says what it is.
    pub fn bug(context: impl Into<String>) -> Self {
        Self::Internal {
            context: context.into(),
            source: None,
        }
    }

    pub fn not_found(entity: &'static str, id: impl Into<String>) -> Self {
        Self::NotFound {
            entity,
            id: id.into(),
        }
    }
}

impl From<FieldError> for AppError {
    fn from(value: FieldError) -> Self {
        Self::Invalid(value)
    }
}

impl From<LedgerError> for AppError {
    fn from(value: LedgerError) -> Self {
        match value {
            error if error.unavailable().is_some() => {
                Self::Unavailable(error.unavailable().unwrap_or_default().to_owned())
            }
            // A cursor from another list, or edited: the client's mistake.
            error if error.is_invalid_cursor() => Self::Invalid(FieldError::new(
                "cursor",
                "invalid_cursor",
                "the cursor is not one this list handed out",
            )),
            other => Self::internal("ledger", other),
        }
    }
}
