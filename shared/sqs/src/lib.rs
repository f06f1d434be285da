//! The usage queue in AWS: [`SqsUsageQueue`] implements the app's [`UsageQueue`] port on SQS
//! `SendMessageBatch`, and [`send_json_batch`] sends any list of JSON bodies the same way (the
//! invoice runner's work queue reuses it). SDK types stay in this crate.
//!
//! Accepted usage is packed tightly: several events per message (a [`UsageMessage`] body, what
//! the usage aggregator reads) and several messages per call, within SQS's limits computed on
//! the real serialized bytes: at most [`BATCH_ENTRIES_MAX`] entries per call, each body and the
//! bodies of one call together at most [`MESSAGE_BYTES_MAX`] / [`BATCH_BYTES_MAX`] bytes.
//!
//! Failures are retried here, a bounded number of times with backoff: entries SQS reports as
//! failed, and calls that were throttled, timed out or answered 5xx. The SDK's own retries are
//! turned off, so [`SEND_ATTEMPTS_MAX`] is the one bound on how long a request can wait. When
//! messages are still not accepted, `enqueue` fails with an unavailable-kind [`AppError`]: the
//! API answers 503 and the client resends the whole request. That is safe although the
//! messages sent before the failure were accepted: aggregation counts an event exactly once
//! per (user, event id), so their events arriving a second time are recognised as duplicates.

use std::collections::HashSet;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use billing_app::AppError;
use billing_app::ports::{UsageQueue, WorkQueue};
use billing_app::runs::ShardWork;
#[cfg(doc)]
use billing_app::usage::UsageMessage;
use billing_aws::{Answer, Backoff, CallFailure, Undelivered, classify, deliver_all};
use billing_core::usage::UsageEvent;
use serde::Serialize;

/// Names the usage queue's URL.
pub const QUEUE_URL_VAR: &str = "BILLING_USAGE_QUEUE_URL";
/// SQS's limit on one message body (256 KiB), in bytes.
pub const MESSAGE_BYTES_MAX: usize = 256 * 1024;
/// SQS's limit on the bodies of one `SendMessageBatch` call together, in bytes.
pub const BATCH_BYTES_MAX: usize = 256 * 1024;
/// SQS's limit on the entries of one `SendMessageBatch` call.
pub const BATCH_ENTRIES_MAX: usize = 10;
/// Events per usage message: one message is one aggregation run, so it is bounded like one
/// request of `POST /v1/usage`.
pub const EVENTS_PER_MESSAGE_MAX: usize = billing_app::usage::EVENTS_PER_REQUEST_MAX;
/// Attempts per message, the first included, before `enqueue` gives up. With the backoff below
/// a request waits at most ~0.35 s between attempts in all.
pub const SEND_ATTEMPTS_MAX: u32 = 4;
/// The wait between attempts: 50 ms doubling, never more than 200 ms (the most 4 attempts
/// reach), each drawn from zero to that.
const BACKOFF: Backoff = Backoff::new(50, 200);
/// One call may take this long before it counts as failed (and is retried).
const CALL_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);

/// `{"events":[` … `]}`: a [`UsageMessage`] body around its serialized events.
const USAGE_BODY_PREFIX: &str = "{\"events\":[";
const USAGE_BODY_SUFFIX: &str = "]}";

#[derive(Debug, thiserror::Error)]
pub enum SqsError {
    #[error("{var}: {problem}")]
    Config { var: &'static str, problem: String },

    #[error("a message body of {bytes} bytes is over SQS's limit of {max} bytes")]
    MessageTooLarge { bytes: usize, max: usize },

    #[error("cannot serialise a message body: {0}")]
    Serialize(#[from] serde_json::Error),

    /// Not every message was accepted: refused (another attempt cannot help) or still failing
    /// after every attempt (throttling, 5xx, timeouts, failed entries).
    #[error("SQS did not take every message: {0}")]
    Undelivered(#[from] Undelivered),
}

impl From<SqsError> for AppError {
    /// Unavailable when retrying later may succeed, internal otherwise; both are a 5xx whose
    /// detail only reaches the logs.
    fn from(error: SqsError) -> Self {
        match error {
            SqsError::Undelivered(ref undelivered) if undelivered.is_exhausted() => {
                Self::Unavailable(format!("usage queue: {error}"))
            }
            other => Self::internal("usage queue", other),
        }
    }
}

/// What one send did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SendReport {
    /// Messages SQS accepted.
    pub messages: usize,
    /// `SendMessageBatch` calls made, retries included.
    pub calls: usize,
}

/// An SQS client configured from the environment (region, credentials, and
/// `AWS_ENDPOINT_URL_SQS` for a local stand-in), with rustls on ring as in
/// `billing_store::client_from_env`. Retries are this crate's own (see the crate docs), so the
/// SDK's are off. Build it once per process.
pub async fn client_from_env() -> Client {
    let config = billing_aws::sdk_config_from_env(
        aws_config::retry::RetryConfig::disabled(),
        Some(CALL_ATTEMPT_TIMEOUT),
    )
    .await;
    Client::new(&config)
}

/// An SQS client for set-up calls (tests and tools creating what the adapters use), on
/// [`billing_aws::setup_sdk_config_from_env`]: not for the adapters themselves.
pub async fn setup_client_from_env() -> Client {
    Client::new(&billing_aws::setup_sdk_config_from_env().await)
}

/// Sends each of `bodies`, serialized as JSON, as one message to `queue_url`: as few
/// `SendMessageBatch` calls as SQS's limits allow, failures retried as the crate docs say.
/// On error, the messages counted in the error as accepted were sent; the caller resends and
/// its consumer must tolerate a message twice.
pub async fn send_json_batch<T: Serialize>(
    client: &Client,
    queue_url: &str,
    bodies: &[T],
) -> Result<SendReport, SqsError> {
    let bodies = bodies
        .iter()
        .map(serde_json::to_string)
        .collect::<Result<Vec<_>, _>>()?;
    deliver(&SdkSender { client, queue_url }, &bodies).await
}

/// The usage queue on SQS.
#[derive(Debug, Clone)]
pub struct SqsUsageQueue {
    client: Client,
    queue_url: String,
}

impl SqsUsageQueue {
    pub fn new(client: Client, queue_url: impl Into<String>) -> Self {
        Self {
            client,
            queue_url: queue_url.into(),
        }
    }

    /// The queue named by `BILLING_USAGE_QUEUE_URL`, with a client from the environment.
    pub async fn from_env() -> Result<Self, SqsError> {
        let queue_url = std::env::var(QUEUE_URL_VAR)
            .ok()
            .filter(|url| !url.trim().is_empty())
            .ok_or_else(|| SqsError::Config {
                var: QUEUE_URL_VAR,
                problem: "is not set".to_owned(),
            })?;
        tracing::info!(%queue_url, "usage queue");
        Ok(Self::new(client_from_env().await, queue_url))
    }

    pub fn queue_url(&self) -> &str {
        &self.queue_url
    }

    /// Packs `events` into usage messages and sends them; see the crate docs.
    pub async fn send(&self, events: &[UsageEvent]) -> Result<SendReport, SqsError> {
        let bodies = pack_usage(events)?;
        deliver(
            &SdkSender {
                client: &self.client,
                queue_url: &self.queue_url,
            },
            &bodies,
        )
        .await
    }
}

#[async_trait]
impl UsageQueue for SqsUsageQueue {
    async fn enqueue(&self, events: Vec<UsageEvent>) -> Result<(), AppError> {
        match self.send(&events).await {
            Ok(report) => {
                tracing::debug!(
                    events = events.len(),
                    messages = report.messages,
                    calls = report.calls,
                    "usage queued"
                );
                Ok(())
            }
            Err(error) => {
                tracing::warn!(%error, events = events.len(), "usage not queued; the client will resend");
                Err(error.into())
            }
        }
    }
}

/// Names the run work queue of a runner (its own SQS trigger); unset, the runner does not fan
/// out.
pub const RUN_QUEUE_URL_VAR: &str = "BILLING_RUN_QUEUE_URL";

/// A runner's work queue on SQS: one message per shard of work.
#[derive(Debug, Clone)]
pub struct SqsWorkQueue {
    client: Client,
    queue_url: String,
}

impl SqsWorkQueue {
    pub fn new(client: Client, queue_url: impl Into<String>) -> Self {
        Self {
            client,
            queue_url: queue_url.into(),
        }
    }

    /// The queue named by `BILLING_RUN_QUEUE_URL`, if it is set.
    pub async fn from_env() -> Option<Self> {
        Self::from_env_var(RUN_QUEUE_URL_VAR).await
    }

    /// The queue whose URL the variable `var` holds, if it is set (the API names both
    /// runners' queues: `BILLING_INVOICE_RUN_QUEUE_URL`, `BILLING_PAYMENT_RUN_QUEUE_URL`).
    pub async fn from_env_var(var: &str) -> Option<Self> {
        let queue_url = std::env::var(var)
            .ok()
            .filter(|url| !url.trim().is_empty())?;
        tracing::info!(%queue_url, "run work queue");
        Some(Self::new(client_from_env().await, queue_url))
    }
}

#[async_trait]
impl WorkQueue for SqsWorkQueue {
    async fn send(&self, work: &[ShardWork]) -> Result<(), AppError> {
        send_json_batch(&self.client, &self.queue_url, work)
            .await
            .map(|_| ())
            .map_err(|error| {
                tracing::warn!(%error, shards = work.len(), "shard work not queued");
                error.into()
            })
    }
}

/// The bodies of the usage messages carrying `events`, in order: each a [`UsageMessage`] as
/// `serde_json` writes it, filled up to [`EVENTS_PER_MESSAGE_MAX`] events or
/// [`MESSAGE_BYTES_MAX`] bytes. Each event is serialized once; the body is assembled from
/// those bytes, so its size is known exactly before it is built.
fn pack_usage(events: &[UsageEvent]) -> Result<Vec<String>, SqsError> {
    let frame = USAGE_BODY_PREFIX.len() + USAGE_BODY_SUFFIX.len();
    let mut bodies = Vec::new();
    let mut body = String::new();
    let mut in_body = 0;
    for event in events {
        let json = serde_json::to_string(event)?;
        if frame + json.len() > MESSAGE_BYTES_MAX {
            return Err(SqsError::MessageTooLarge {
                bytes: frame + json.len(),
                max: MESSAGE_BYTES_MAX,
            });
        }
        // The event, a comma before it, and the closing suffix must fit.
        let grown = body.len() + usize::from(in_body > 0) + json.len() + USAGE_BODY_SUFFIX.len();
        if in_body > 0 && (in_body == EVENTS_PER_MESSAGE_MAX || grown > MESSAGE_BYTES_MAX) {
            body.push_str(USAGE_BODY_SUFFIX);
            bodies.push(std::mem::take(&mut body));
            in_body = 0;
        }
        if in_body == 0 {
            body.push_str(USAGE_BODY_PREFIX);
        } else {
            body.push(',');
        }
        body.push_str(&json);
        in_body += 1;
    }
    if in_body > 0 {
        body.push_str(USAGE_BODY_SUFFIX);
        bodies.push(body);
    }
    Ok(bodies)
}

/// Consecutive runs of `bodies` (their indexes) that each fit one `SendMessageBatch` call.
fn plan_batches(bodies: &[String]) -> Result<Vec<Vec<usize>>, SqsError> {
    let mut batches: Vec<Vec<usize>> = Vec::new();
    let mut batch = Vec::new();
    let mut batch_bytes = 0;
    for (index, body) in bodies.iter().enumerate() {
        if body.len() > MESSAGE_BYTES_MAX {
            return Err(SqsError::MessageTooLarge {
                bytes: body.len(),
                max: MESSAGE_BYTES_MAX,
            });
        }
        if batch.len() == BATCH_ENTRIES_MAX || batch_bytes + body.len() > BATCH_BYTES_MAX {
            batches.push(std::mem::take(&mut batch));
            batch_bytes = 0;
        }
        batch.push(index);
        batch_bytes += body.len();
    }
    if !batch.is_empty() {
        batches.push(batch);
    }
    Ok(batches)
}

/// One entry of a call: its id (unique within the call) and its body.
struct Entry<'a> {
    id: String,
    body: &'a str,
}

/// An entry SQS did not take.
struct FailedEntry {
    id: String,
    code: String,
    /// SQS's word that the entry itself is at fault: retrying it cannot help.
    sender_fault: bool,
}

/// What SQS answered to a call that went through.
struct BatchAnswer {
    accepted: Vec<String>,
    failed: Vec<FailedEntry>,
}

/// Sends one batch: SQS, or a stand-in in the unit tests.
trait BatchSender {
    async fn send_batch(&self, entries: &[Entry<'_>]) -> Result<BatchAnswer, CallFailure>;
}

struct SdkSender<'a> {
    client: &'a Client,
    queue_url: &'a str,
}

impl BatchSender for SdkSender<'_> {
    async fn send_batch(&self, entries: &[Entry<'_>]) -> Result<BatchAnswer, CallFailure> {
        let mut request = self.client.send_message_batch().queue_url(self.queue_url);
        for entry in entries {
            let entry = SendMessageBatchRequestEntry::builder()
                .id(&entry.id)
                .message_body(entry.body)
                .build()
                .map_err(|error| CallFailure {
                    retryable: false,
                    code: format!("invalid entry: {error}"),
                })?;
            request = request.entries(entry);
        }
        let output = request.send().await.map_err(|error| classify(&error))?;
        Ok(BatchAnswer {
            accepted: output
                .successful()
                .iter()
                .map(|entry| entry.id().to_owned())
                .collect(),
            failed: output
                .failed()
                .iter()
                .map(|entry| FailedEntry {
                    id: entry.id().to_owned(),
                    code: entry.code().to_owned(),
                    sender_fault: entry.sender_fault(),
                })
                .collect(),
        })
    }
}

/// Sends every body, batch after batch; within a batch, what failed is retried until it is
/// accepted or [`SEND_ATTEMPTS_MAX`] attempts are spent. Stops at the first batch that cannot
/// be sent, so a failed request leaves as few accepted duplicates as possible.
async fn deliver(sender: &impl BatchSender, bodies: &[String]) -> Result<SendReport, SqsError> {
    let progress = deliver_all(
        plan_batches(bodies)?,
        SEND_ATTEMPTS_MAX,
        BACKOFF,
        |pending| async move {
            // Ids are the bodies' indexes: unique within the call, and stable across
            // retries.
            let entries: Vec<Entry<'_>> = pending
                .iter()
                .map(|&index| Entry {
                    id: index.to_string(),
                    body: &bodies[index],
                })
                .collect();
            let answer = sender.send_batch(&entries).await?;
            let accepted: HashSet<&str> = answer.accepted.iter().map(String::as_str).collect();
            let still: Vec<usize> = pending
                .iter()
                .copied()
                .filter(|index| !accepted.contains(index.to_string().as_str()))
                .collect();
            Ok(Answer {
                accepted: pending.len() - still.len(),
                pending: still,
                refused: answer
                    .failed
                    .iter()
                    .find(|f| f.sender_fault)
                    .map(|refused| format!("{} (entry {})", refused.code, refused.id)),
                failure: Some(answer.failed.first().map_or_else(
                    || "entries missing from the answer".to_owned(),
                    |failed| failed.code.clone(),
                )),
            })
        },
    )
    .await?;
    Ok(SendReport {
        messages: progress.accepted,
        calls: progress.calls,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use billing_app::usage::UsageMessage;
    use std::sync::Mutex;

    fn event(id: &str) -> UsageEvent {
        UsageEvent {
            id: id.to_owned(),
            user_id: "usr_1".to_owned(),
            metric: "api_calls".to_owned(),
            quantity: 3,
            timestamp: "2027-01-10T00:00:00Z".parse().unwrap(),
        }
    }

    #[test]
    fn a_packed_body_is_the_usage_message_serde_json_writes() {
        let events: Vec<UsageEvent> = ["a", "b\"quoted\"", "ünïcode"]
            .iter()
            .map(|id| event(id))
            .collect();
        let bodies = pack_usage(&events).unwrap();
        assert_eq!(bodies.len(), 1);
        let expected = serde_json::to_string(&UsageMessage {
            events: events.clone(),
        })
        .unwrap();
        assert_eq!(bodies[0], expected);
        assert!(pack_usage(&[]).unwrap().is_empty());
    }

    #[test]
    fn messages_fill_up_to_the_byte_and_event_limits_and_keep_every_event_in_order() {
        // ~1 KB per event: a message holds about 250 of them.
        let big: Vec<UsageEvent> = (0..1_000)
            .map(|i| event(&format!("{i:04}-{}", "x".repeat(1_000))))
            .collect();
        let bodies = pack_usage(&big).unwrap();
        assert!(bodies.len() >= 4, "{} messages", bodies.len());
        let mut seen = Vec::new();
        for body in &bodies {
            assert!(body.len() <= MESSAGE_BYTES_MAX);
            let message: UsageMessage = serde_json::from_str(body).unwrap();
            seen.extend(message.events);
        }
        assert_eq!(seen, big);
        // Small events: the event limit cuts first.
        let small: Vec<UsageEvent> = (0..2_500).map(|i| event(&i.to_string())).collect();
        let counts: Vec<usize> = pack_usage(&small)
            .unwrap()
            .iter()
            .map(|body| {
                serde_json::from_str::<UsageMessage>(body)
                    .unwrap()
                    .events
                    .len()
            })
            .collect();
        assert_eq!(counts, [1_000, 1_000, 500]);
    }

    #[test]
    fn an_event_too_large_for_any_message_is_an_error() {
        let huge = event(&"x".repeat(MESSAGE_BYTES_MAX));
        assert!(matches!(
            pack_usage(&[huge]),
            Err(SqsError::MessageTooLarge { .. })
        ));
    }

    #[test]
    fn batches_hold_at_most_ten_entries_and_256_kib() {
        let small: Vec<String> = (0..25).map(|i| format!("{{\"n\":{i}}}")).collect();
        let sizes: Vec<usize> = plan_batches(&small).unwrap().iter().map(Vec::len).collect();
        assert_eq!(sizes, [10, 10, 5]);
        let large: Vec<String> = (0..5).map(|_| "y".repeat(100 * 1024)).collect();
        let batches = plan_batches(&large).unwrap();
        assert_eq!(batches, [vec![0, 1], vec![2, 3], vec![4]]);
        let exact = vec!["z".repeat(BATCH_BYTES_MAX)];
        assert_eq!(plan_batches(&exact).unwrap(), [vec![0]]);
    }

    /// Answers each call from a script, and records the entry ids of every call.
    struct Scripted {
        answers: Mutex<Vec<Answer>>,
        calls: Mutex<Vec<Vec<String>>>,
    }

    enum Answer {
        /// Fail these entry ids (by position in the call), accept the rest.
        Fail(Vec<usize>, bool),
        Call(bool),
        All,
    }

    impl Scripted {
        fn new(answers: Vec<Answer>) -> Self {
            Self {
                answers: Mutex::new(answers),
                calls: Mutex::new(Vec::new()),
            }
        }
    }

    impl BatchSender for Scripted {
        async fn send_batch(&self, entries: &[Entry<'_>]) -> Result<BatchAnswer, CallFailure> {
            let ids: Vec<String> = entries.iter().map(|e| e.id.clone()).collect();
            self.calls.lock().unwrap().push(ids.clone());
            let answer = {
                let mut answers = self.answers.lock().unwrap();
                if answers.is_empty() {
                    Answer::All
                } else {
                    answers.remove(0)
                }
            };
            match answer {
                Answer::All => Ok(BatchAnswer {
                    accepted: ids,
                    failed: vec![],
                }),
                Answer::Call(retryable) => Err(CallFailure {
                    retryable,
                    code: "ThrottlingException (HTTP 400)".into(),
                }),
                Answer::Fail(positions, sender_fault) => {
                    let mut answer = BatchAnswer {
                        accepted: vec![],
                        failed: vec![],
                    };
                    for (position, id) in ids.into_iter().enumerate() {
                        if positions.contains(&position) {
                            answer.failed.push(FailedEntry {
                                id,
                                code: "InternalError".into(),
                                sender_fault,
                            });
                        } else {
                            answer.accepted.push(id);
                        }
                    }
                    Ok(answer)
                }
            }
        }
    }

    fn bodies(count: usize) -> Vec<String> {
        (0..count).map(|i| format!("{{\"n\":{i}}}")).collect()
    }

    #[tokio::test]
    async fn failed_entries_are_resent_alone_until_accepted() {
        let sender = Scripted::new(vec![
            Answer::Fail(vec![1, 3], false),
            Answer::Call(true),
            Answer::All,
        ]);
        let report = deliver(&sender, &bodies(12)).await.unwrap();
        assert_eq!(
            report,
            SendReport {
                messages: 12,
                calls: 4
            }
        );
        let calls = sender.calls.lock().unwrap();
        assert_eq!(calls[0].len(), 10);
        assert_eq!(calls[1], ["1", "3"]);
        assert_eq!(calls[2], ["1", "3"]);
        assert_eq!(calls[3], ["10", "11"]);
    }

    #[tokio::test]
    async fn entries_still_failing_after_every_attempt_are_unavailable_and_stop_the_send() {
        let sender = Scripted::new(vec![
            Answer::Fail(vec![0], false),
            Answer::Fail(vec![0], false),
            Answer::Fail(vec![0], false),
            Answer::Fail(vec![0], false),
        ]);
        let error = deliver(&sender, &bodies(12)).await.unwrap_err();
        assert!(
            matches!(
                error,
                SqsError::Undelivered(Undelivered::Exhausted {
                    pending: 1,
                    accepted: 9,
                    attempts: SEND_ATTEMPTS_MAX,
                    ..
                })
            ),
            "{error}"
        );
        // The second batch was never sent.
        assert_eq!(sender.calls.lock().unwrap().len(), 4);
        assert_eq!(
            AppError::from(error).kind(),
            billing_app::ErrorKind::Unavailable
        );
    }

    #[tokio::test]
    async fn refusals_are_not_retried() {
        let sender = Scripted::new(vec![Answer::Call(false)]);
        let error = deliver(&sender, &bodies(3)).await.unwrap_err();
        assert!(matches!(
            error,
            SqsError::Undelivered(Undelivered::Refused { accepted: 0, .. })
        ));
        assert_eq!(sender.calls.lock().unwrap().len(), 1);
        let sender = Scripted::new(vec![Answer::Fail(vec![2], true)]);
        let error = deliver(&sender, &bodies(3)).await.unwrap_err();
        assert!(matches!(
            error,
            SqsError::Undelivered(Undelivered::Refused {
                pending: 1,
                accepted: 2,
                ..
            })
        ));
        assert_eq!(sender.calls.lock().unwrap().len(), 1);
        assert_eq!(
            AppError::from(error).kind(),
            billing_app::ErrorKind::Internal
        );
    }
}
