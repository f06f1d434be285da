//! The AWS SDK plumbing the adapters share (`billing-store`'s DynamoDB, `billing-sqs`,
//! `billing-eventbridge`): one way to configure a client from the environment, and, for the
//! adapters that retry on their own terms, one rule for which failed calls are worth another
//! attempt (the wait before it is the workspace's one [`Backoff`], from `billing-core`).

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_runtime_api::http::Response;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
pub use billing_core::backoff::Backoff;

/// Attempts (the first included) and the per-attempt limit of set-up calls: see
/// [`setup_sdk_config_from_env`].
const SETUP_ATTEMPTS_MAX: u32 = 5;
const SETUP_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(30);

/// The SDK configuration for set-up calls — tests and local tools creating the queues and buses
/// the adapters then use: the SDK's standard retries and 30 s per attempt. A loaded local
/// stand-in (moto on a busy 2-core machine) has taken longer than the adapters' 5 s to create a
/// queue, and set-up is not what the adapters' own bounded retries are for.
pub async fn setup_sdk_config_from_env() -> aws_config::SdkConfig {
    sdk_config_from_env(
        RetryConfig::standard().with_max_attempts(SETUP_ATTEMPTS_MAX),
        Some(SETUP_ATTEMPT_TIMEOUT),
    )
    .await
}

/// SDK configuration from the environment (region, credentials, and the service-specific
/// `AWS_ENDPOINT_URL_<SERVICE>` a local stand-in sets), over rustls with the ring provider —
/// the SDK's default TLS would pull in aws-lc-rs, a C build the Lambda zips do without.
/// `attempt_timeout` bounds each call attempt when the caller retries by itself.
pub async fn sdk_config_from_env(
    retry: RetryConfig,
    attempt_timeout: Option<Duration>,
) -> aws_config::SdkConfig {
    use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
    let http_client = aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https();
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(http_client)
        .retry_config(retry);
    if let Some(timeout) = attempt_timeout {
        loader = loader.timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .operation_attempt_timeout(timeout)
                .build(),
        );
    }
    loader.load().await
}

/// A call that failed as a whole, and whether another attempt could succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallFailure {
    pub retryable: bool,
    /// What failed, for logs: the service's error code and HTTP status, or the transport's.
    pub code: String,
}

/// Throttling, 5xx, timeouts and connection failures are worth another attempt; a missing
/// resource, denied access or an invalid request are not (asking again cannot fix them).
pub fn classify<E: ProvideErrorMetadata + std::error::Error + 'static>(
    error: &SdkError<E, Response>,
) -> CallFailure {
    match error {
        SdkError::ServiceError(context) => {
            let status = context.raw().status().as_u16();
            let code = context.err().code().unwrap_or("unknown").to_owned();
            CallFailure {
                retryable: status >= 500 || status == 429 || code.contains("Throttl"),
                code: format!("{code} (HTTP {status})"),
            }
        }
        SdkError::DispatchFailure(failure) => CallFailure {
            retryable: !failure.is_user(),
            code: format!("{}", DisplayErrorContext(error)),
        },
        SdkError::TimeoutError(_) | SdkError::ResponseError(_) => CallFailure {
            retryable: true,
            code: format!("{}", DisplayErrorContext(error)),
        },
        _ => CallFailure {
            retryable: false,
            code: format!("{}", DisplayErrorContext(error)),
        },
    }
}

/// What one call of a batch API (`SendMessageBatch`, `PutEvents`) did with the items it was
/// given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Answer {
    /// The items to send again: failed, or missing from the answer (a second copy is
    /// harmless, a lost one is not).
    pub pending: Vec<usize>,
    /// How many items the service accepted.
    pub accepted: usize,
    /// The last item failure worth another attempt, for the error if none succeeds.
    pub failure: Option<String>,
    /// An item failure that another attempt cannot fix (the request's own fault).
    pub refused: Option<String>,
}

/// Why some items of a delivery were not delivered. Each adapter wraps it in its own error
/// and names the service; `accepted` counts what went through before (already delivered, so a
/// retry of the whole request sends those again: at least once).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Undelivered {
    /// Every attempt failed for reasons worth retrying; `last` is the last of them.
    #[error(
        "{pending} item(s) not accepted after {attempts} attempts ({accepted} accepted before); last error: {last}"
    )]
    Exhausted {
        pending: usize,
        accepted: usize,
        attempts: u32,
        last: String,
    },
    /// The service refused in a way another attempt cannot fix (no such queue or bus, access
    /// denied, an invalid entry).
    #[error("{pending} item(s) refused ({accepted} accepted before): {code}")]
    Refused {
        pending: usize,
        accepted: usize,
        code: String,
    },
}

impl Undelivered {
    /// Whether asking again later may succeed (the service was unavailable, not refusing).
    pub fn is_exhausted(&self) -> bool {
        matches!(self, Self::Exhausted { .. })
    }
}

/// Counts kept across the calls of one delivery.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    pub accepted: usize,
    pub calls: usize,
}

/// Delivers `calls` (each a list of indexes into the caller's items, within the service's
/// per-call limits) one after another with retries (`deliver_with_retries`), stopping at the first that
/// cannot be completed, so a failed delivery leaves as few accepted duplicates as possible.
pub async fn deliver_all<F, Fut>(
    calls: impl IntoIterator<Item = Vec<usize>>,
    max_attempts: u32,
    backoff: Backoff,
    mut call: F,
) -> Result<Progress, Undelivered>
where
    F: FnMut(Vec<usize>) -> Fut,
    Fut: std::future::Future<Output = Result<Answer, CallFailure>>,
{
    let mut progress = Progress::default();
    for pending in calls {
        deliver_with_retries(pending, max_attempts, backoff, &mut progress, &mut call).await?;
    }
    Ok(progress)
}

/// Sends the items `pending` (indexes into the caller's list) with `call`, then again only
/// those that failed, up to `max_attempts` calls, waiting by `backoff` between them.
/// A call that fails as a whole is retried when [`CallFailure::retryable`]; anything refused
/// stops the delivery at once. `progress` counts what was accepted, also when it fails.
async fn deliver_with_retries<F, Fut>(
    mut pending: Vec<usize>,
    max_attempts: u32,
    backoff: Backoff,
    progress: &mut Progress,
    call: &mut F,
) -> Result<(), Undelivered>
where
    F: FnMut(Vec<usize>) -> Fut,
    Fut: std::future::Future<Output = Result<Answer, CallFailure>>,
{
    let mut attempts = 0;
    let mut last = String::new();
    while !pending.is_empty() {
        if attempts == max_attempts {
            return Err(Undelivered::Exhausted {
                pending: pending.len(),
                accepted: progress.accepted,
                attempts,
                last,
            });
        }
        if attempts > 0 {
            tokio::time::sleep(backoff.delay(attempts, rand::random())).await;
        }
        attempts += 1;
        progress.calls += 1;
        match call(pending.clone()).await {
            Ok(answer) => {
                progress.accepted += answer.accepted;
                pending = answer.pending;
                if let Some(code) = answer.refused {
                    return Err(Undelivered::Refused {
                        pending: pending.len(),
                        accepted: progress.accepted,
                        code,
                    });
                }
                if let Some(failure) = answer.failure {
                    last = failure;
                }
            }
            Err(failure) if failure.retryable => last = failure.code,
            Err(failure) => {
                return Err(Undelivered::Refused {
                    pending: pending.len(),
                    accepted: progress.accepted,
                    code: failure.code,
                });
            }
        }
    }
    Ok(())
}
