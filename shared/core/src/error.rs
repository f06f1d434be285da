//! The one error type of the billing domain.
//!
//! Every variant has a stable machine-readable [`BillingError::code`] so the API layer can map
//! it to a status and an error envelope in one place, and validation failures carry the
//! `param` that names the offending field.

use thiserror::Error;

/// A value that failed validation, with the field it came from (`usage_charges[0].tiers[1].up_to`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The path of the offending field, as the client spelled it.
    pub param: String,
    /// Stable code, e.g. `invalid_value`, `out_of_range`, `tiers_not_ascending`.
    pub code: &'static str,
    /// Human-readable explanation.
    pub message: String,
}

impl FieldError {
    pub fn new(param: impl Into<String>, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            param: param.into(),
            code,
            message: message.into(),
        }
    }

    /// Nests the field under a parent path: `quantity` under `events[3]` is `events[3].quantity`.
    #[must_use]
    pub fn within(mut self, parent: &str) -> Self {
        self.param = if self.param.is_empty() {
            parent.to_owned()
        } else if self.param.starts_with('[') {
            format!("{parent}{}", self.param)
        } else {
            format!("{parent}.{}", self.param)
        };
        self
    }
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.param, self.message)
    }
}

impl std::error::Error for FieldError {}

/// Everything the billing rules can refuse.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum BillingError {
    #[error("invalid {0}")]
    Invalid(FieldError),

    /// A computed amount does not fit the money type (i64 cents). Never wraps, never panics.
    #[error("amount overflow while computing {what}")]
    AmountOverflow { what: &'static str },

    /// An instant outside what the calendar arithmetic supports.
    #[error("date out of range while computing {what}")]
    DateOutOfRange { what: &'static str },

    #[error("subscription is {status}; cannot {action}")]
    IllegalTransition {
        status: &'static str,
        action: &'static str,
    },

    /// The current period has ended: the renewal must run before anything else happens to it.
    #[error("the current period ended at {period_end}; renew the subscription first")]
    RenewalDue { period_end: String },

    #[error("the current period ends at {period_end}; it is not due for renewal yet")]
    NotDue { period_end: String },

    /// The instant lies before the start of the current period (the clock only moves forward).
    #[error("instant {at} is before the current period start {period_start}")]
    BeforePeriodStart { at: String, period_start: String },

    #[error("no plan with code {plan_code}")]
    UnknownPlan { plan_code: String },

    #[error("plan {plan_code} is archived")]
    PlanArchived { plan_code: String },

    #[error("the subscription is already on plan {plan_code}")]
    SamePlan { plan_code: String },

    #[error("plan {plan_code} is in {found}, the subscription bills in {expected}")]
    CurrencyMismatch {
        plan_code: String,
        expected: String,
        found: String,
    },

    #[error("metric {metric} is already priced by another live subscription of this user")]
    MetricAlreadyPriced { metric: String },

    #[error("invoice is {status}, not open")]
    InvoiceNotOpen { status: &'static str },

    #[error("invoice is {status}; only paid invoices take credit or debit notes")]
    InvoiceNotPaid { status: &'static str },

    #[error(
        "credit notes would total {requested_total_cents}¢, over the invoice's cap of {cap_cents}¢"
    )]
    CreditNoteOverCap {
        cap_cents: i64,
        requested_total_cents: i64,
    },
}

impl BillingError {
    /// Stable machine-readable code, the `code` of the API error envelope.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Invalid(field) => field.code,
            Self::AmountOverflow { .. } => "amount_overflow",
            Self::DateOutOfRange { .. } => "date_out_of_range",
            Self::IllegalTransition { .. } => "illegal_transition",
            Self::RenewalDue { .. } => "renewal_due",
            Self::NotDue { .. } => "not_due",
            Self::BeforePeriodStart { .. } => "before_period_start",
            Self::UnknownPlan { .. } => "plan_not_found",
            Self::PlanArchived { .. } => "plan_archived",
            Self::SamePlan { .. } => "same_plan",
            Self::CurrencyMismatch { .. } => "currency_mismatch",
            Self::MetricAlreadyPriced { .. } => "metric_already_priced",
            Self::InvoiceNotOpen { .. } => "invoice_not_open",
            Self::InvoiceNotPaid { .. } => "invoice_not_paid",
            Self::CreditNoteOverCap { .. } => "credit_note_over_cap",
        }
    }

    /// The request field this error is about, when there is one.
    pub fn param(&self) -> Option<&str> {
        match self {
            Self::Invalid(field) => Some(&field.param),
            Self::UnknownPlan { .. }
            | Self::PlanArchived { .. }
            | Self::SamePlan { .. }
            | Self::MetricAlreadyPriced { .. }
            | Self::CurrencyMismatch { .. } => Some("plan_code"),
            Self::CreditNoteOverCap { .. } => Some("amount_cents"),
            _ => None,
        }
    }
}

impl From<FieldError> for BillingError {
    fn from(value: FieldError) -> Self {
        Self::Invalid(value)
    }
}

pub type Result<T, E = BillingError> = std::result::Result<T, E>;
