//! DynamoDB's error codes mapped to the port's typed outcomes (a failed condition, a
//! transaction conflict, a refused request), everything else a backend error with its source.

use super::BACKEND;
use crate::error::{CancellationReason, StoreError};
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};

pub(super) fn error_code<E: ProvideErrorMetadata, R>(error: &SdkError<E, R>) -> Option<&str> {
    error
        .as_service_error()
        .and_then(ProvideErrorMetadata::code)
}

/// Maps an SDK failure to the port's typed outcomes by DynamoDB's error codes.
pub(super) fn sdk_error<E, R>(context: &str, error: SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    match error_code(&error) {
        Some("ConditionalCheckFailedException") => StoreError::ConditionFailed,
        Some("TransactionConflictException") => StoreError::TransactionConflict,
        Some("ValidationException") => StoreError::InvalidRequest(
            error
                .as_service_error()
                .and_then(ProvideErrorMetadata::message)
                .unwrap_or("DynamoDB refused the request")
                .to_string(),
        ),
        _ => {
            let message = format!(
                "{context}: {}",
                aws_sdk_dynamodb::error::DisplayErrorContext(&error)
            );
            StoreError::backend(BACKEND, message, error)
        }
    }
}

pub(super) fn cancellation_reason(code: Option<&str>) -> CancellationReason {
    match code {
        None | Some("None") => CancellationReason::None,
        Some("ConditionalCheckFailed") => CancellationReason::ConditionFailed,
        Some("TransactionConflict") => CancellationReason::TransactionConflict,
        Some(other) => CancellationReason::Other {
            code: other.to_string(),
        },
    }
}

pub(super) fn build_error(error: aws_sdk_dynamodb::error::BuildError) -> StoreError {
    StoreError::backend(BACKEND, "cannot build a request", error)
}
