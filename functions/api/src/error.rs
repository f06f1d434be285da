//! The one error of the HTTP layer and the one place that maps errors to a status and the
//! envelope of API.md: `{"error": {"type", "code", "message", "param"}}`. Use-case errors
//! arrive as [`AppError`] and keep their codes; the variants here are what only HTTP knows
//! (auth, idempotency, limits). A 5xx is logged with its detail and answered without it.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use billing_app::{AppError, ErrorKind};
use billing_ledger::LedgerError;
use serde::Serialize;
use utoipa::ToSchema;

/// The `type` of an error (API.md "Errors").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorType {
    InvalidRequest,
    Authentication,
    Permission,
    NotFound,
    Conflict,
    Idempotency,
    RateLimited,
    Payment,
    Internal,
}

/// The body of every error response.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorEnvelope {
    pub error: ErrorBody,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorBody {
    #[serde(rename = "type")]
    pub error_type: ErrorType,
    /// Stable machine-readable code (`invoice_not_open`, `unknown_field`).
    pub code: String,
    pub message: String,
    /// The offending field (`events[3].quantity`), or null.
    #[schema(required = true)]
    pub param: Option<String>,
    /// For a declined charge (402): the failed payment that was recorded.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub payment: Option<serde_json::Value>,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Whatever a use case refused or failed at, with its kind, code and param.
    #[error(transparent)]
    App(#[from] AppError),

    /// The request itself is malformed (body, query, header) before any use case runs.
    #[error("{message}")]
    InvalidRequest {
        code: &'static str,
        message: String,
        param: Option<String>,
    },

    #[error("{message}")]
    Unauthenticated { code: &'static str, message: String },

    #[error("this token lacks the {needed} scope this route needs")]
    Forbidden { needed: &'static str },

    /// No route at this path (or a route that is switched off by configuration).
    #[error("no route {method} {path}")]
    RouteNotFound { method: String, path: String },

    #[error("{method} is not allowed here{hint}")]
    MethodNotAllowed { method: String, hint: &'static str },

    #[error("the request body is larger than {limit_bytes} bytes")]
    PayloadTooLarge { limit_bytes: usize },

    #[error("the request body must be JSON: send Content-Type: application/json")]
    UnsupportedMediaType,

    #[error("too many requests; retry in {retry_after_seconds} s")]
    RateLimited { retry_after_seconds: u64 },

    #[error("this Idempotency-Key was used with a different request")]
    IdempotencyKeyReused,

    #[error("a request with this Idempotency-Key is still in progress; retry later")]
    IdempotencyInProgress,

    /// Unexpected: the detail goes to the log only.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    pub fn invalid(code: &'static str, message: impl Into<String>, param: Option<String>) -> Self {
        Self::InvalidRequest {
            code,
            message: message.into(),
            param,
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::App(error) => match error.kind() {
                ErrorKind::InvalidRequest => StatusCode::BAD_REQUEST,
                ErrorKind::NotFound => StatusCode::NOT_FOUND,
                ErrorKind::Conflict => StatusCode::CONFLICT,
                ErrorKind::Unprocessable => StatusCode::UNPROCESSABLE_ENTITY,
                ErrorKind::Payment => StatusCode::PAYMENT_REQUIRED,
                ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
                ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            },
            Self::InvalidRequest { .. } => StatusCode::BAD_REQUEST,
            Self::Unauthenticated { .. } => StatusCode::UNAUTHORIZED,
            Self::Forbidden { .. } => StatusCode::FORBIDDEN,
            Self::RouteNotFound { .. } => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::IdempotencyKeyReused => StatusCode::UNPROCESSABLE_ENTITY,
            Self::IdempotencyInProgress => StatusCode::CONFLICT,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn error_type(&self) -> ErrorType {
        match self {
            Self::App(error) => match error.kind() {
                // API.md has no separate type for a refused-by-rule request (credit note cap):
                // like Stripe, it is an invalid request, told apart by status and code.
                ErrorKind::InvalidRequest | ErrorKind::Unprocessable => ErrorType::InvalidRequest,
                ErrorKind::NotFound => ErrorType::NotFound,
                ErrorKind::Conflict => ErrorType::Conflict,
                ErrorKind::Payment => ErrorType::Payment,
                ErrorKind::Unavailable | ErrorKind::Internal => ErrorType::Internal,
            },
            Self::InvalidRequest { .. }
            | Self::MethodNotAllowed { .. }
            | Self::PayloadTooLarge { .. }
            | Self::UnsupportedMediaType => ErrorType::InvalidRequest,
            Self::Unauthenticated { .. } => ErrorType::Authentication,
            Self::Forbidden { .. } => ErrorType::Permission,
            Self::RouteNotFound { .. } => ErrorType::NotFound,
            Self::RateLimited { .. } => ErrorType::RateLimited,
            Self::IdempotencyKeyReused | Self::IdempotencyInProgress => ErrorType::Idempotency,
            Self::Internal(_) => ErrorType::Internal,
        }
    }

    pub fn code(&self) -> &str {
        match self {
            Self::App(error) => error.code(),
            Self::InvalidRequest { code, .. } | Self::Unauthenticated { code, .. } => code,
            Self::Forbidden { .. } => "insufficient_scope",
            Self::RouteNotFound { .. } => "route_not_found",
            Self::MethodNotAllowed { .. } => "method_not_allowed",
            Self::PayloadTooLarge { .. } => "body_too_large",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::RateLimited { .. } => "rate_limited",
            Self::IdempotencyKeyReused => "key_reused",
            Self::IdempotencyInProgress => "request_in_progress",
            Self::Internal(_) => "internal_error",
        }
    }

    pub fn param(&self) -> Option<&str> {
        match self {
            Self::App(error) => error.param(),
            Self::InvalidRequest { param, .. } => param.as_deref(),
            _ => None,
        }
    }

    /// What the client may read: never the detail of a 5xx.
    pub fn public_message(&self) -> String {
        match self {
            Self::App(error) => error.public_message(),
            Self::Internal(_) => "internal error".to_owned(),
            other => other.to_string(),
        }
    }

    pub fn envelope(&self) -> ErrorEnvelope {
        let payment = match self {
            Self::App(AppError::PaymentDeclined { payment, .. }) => {
                serde_json::to_value(payment).ok()
            }
            _ => None,
        };
        ErrorEnvelope {
            error: ErrorBody {
                error_type: self.error_type(),
                code: self.code().to_owned(),
                message: self.public_message(),
                param: self.param().map(str::to_owned),
                payment,
            },
        }
    }
}

impl From<LedgerError> for ApiError {
    fn from(error: LedgerError) -> Self {
        Self::App(error.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!(status = status.as_u16(), code = self.code(), error = %self, "request failed");
        }
        let body = serde_json::to_vec(&self.envelope()).unwrap_or_else(|_| {
            br#"{"error":{"type":"internal","code":"internal_error","message":"internal error","param":null}}"#.to_vec()
        });
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        match &self {
            Self::RateLimited {
                retry_after_seconds,
            } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_seconds));
            }
            Self::Unauthenticated { .. } => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            _ => {}
        }
        response
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use billing_core::FieldError;

    #[test]
    fn app_errors_keep_their_code_and_param_and_map_kind_to_status() {
        let error = ApiError::from(AppError::from(FieldError::new(
            "events[3].quantity",
            "out_of_range",
            "too big",
        )));
        assert_eq!(error.status(), StatusCode::BAD_REQUEST);
        let envelope = serde_json::to_value(error.envelope()).unwrap();
        assert_eq!(
            envelope,
            serde_json::json!({"error": {
                "type": "invalid_request",
                "code": "out_of_range",
                "message": "events[3].quantity: too big",
                "param": "events[3].quantity"
            }})
        );
        let conflict = ApiError::from(AppError::conflict("invoice_not_open", "paid", None));
        assert_eq!(
            (conflict.status(), conflict.error_type()),
            (StatusCode::CONFLICT, ErrorType::Conflict)
        );
    }

    #[test]
    fn server_errors_hide_their_detail() {
        for error in [
            ApiError::Internal("db password is hunter2".into()),
            ApiError::App(AppError::internal(
                "reading",
                std::io::Error::other("db password is hunter2"),
            )),
            ApiError::App(AppError::bug("db password is hunter2")),
            ApiError::App(AppError::Unavailable("db password is hunter2".into())),
        ] {
            assert!(error.status().is_server_error());
            let text = serde_json::to_string(&error.envelope()).unwrap();
            assert!(!text.contains("hunter2"), "{text}");
        }
    }
}
