//! Domain events in AWS: [`EventBridgeSink`] implements the app's [`EventSink`] port with
//! EventBridge `PutEvents`. SDK types stay in this crate.
//!
//! Each audit entry is one event on the configured bus: `Source` [`SOURCE`], `DetailType` the
//! action's wire name (`invoice.paid`), `Detail` the entry as JSON with its stable audit `id`
//! (EventBridge's own event id differs on every put, so consumers deduplicate on `detail.id`),
//! `Time` the entry's time, no `Resources`. Entries go [`ENTRIES_PER_CALL_MAX`] per call and at
//! most [`CALL_BYTES_MAX`] bytes per call by EventBridge's size rules.
//!
//! Entries EventBridge reports as failed (`FailedEntryCount`, `Entries[].ErrorCode`) and calls
//! that were throttled, timed out or answered 5xx are retried here, a bounded number of times
//! with backoff (the SDK's own retries are off, so [`PUT_ATTEMPTS_MAX`] is the one bound). If
//! some still fail, `publish` fails: the caller keeps them in the outbox and publishes them
//! again later, so delivery is at least once.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_eventbridge::Client;
use aws_sdk_eventbridge::primitives::DateTime;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use billing_app::AppError;
use billing_app::ports::EventSink;
use billing_aws::{Answer, Backoff, CallFailure, Undelivered, classify, deliver_all};
use billing_ledger::AuditEntry;

/// Names the event bus domain events are put on.
pub const EVENT_BUS_VAR: &str = "BILLING_EVENT_BUS";
/// The `source` of every domain event: what rules match on.
pub const SOURCE: &str = "billing";
/// EventBridge's limit on the entries of one `PutEvents` call.
pub const ENTRIES_PER_CALL_MAX: usize = 10;
/// EventBridge's limit on the entries of one call together (256 KB), by its size rules.
pub const CALL_BYTES_MAX: usize = 256 * 1024;
/// What EventBridge counts for an entry's `Time`.
const TIME_BYTES: usize = 14;
/// Attempts per entry, the first included, before `publish` gives up.
pub const PUT_ATTEMPTS_MAX: u32 = 4;
/// The wait between attempts: 50 ms doubling, never more than 200 ms (the most 4 attempts
/// reach), each drawn from zero to that.
const BACKOFF: Backoff = Backoff::new(50, 200);
/// One call may take this long before it counts as failed (and is retried).
const CALL_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum EventBridgeError {
    #[error("{var}: {problem}")]
    Config { var: &'static str, problem: String },

    #[error("cannot serialise audit entry {id}: {message}")]
    Serialize { id: String, message: String },

    #[error("audit entry {id} is {bytes} bytes as an event, over EventBridge's {max}")]
    EventTooLarge {
        id: String,
        bytes: usize,
        max: usize,
    },

    /// Not every event was accepted: refused (another attempt cannot help) or still failing
    /// after every attempt (throttling, 5xx, timeouts, failed entries).
    #[error("EventBridge did not take every event: {0}")]
    Undelivered(#[from] Undelivered),
}

impl From<EventBridgeError> for AppError {
    /// Unavailable when retrying later may succeed, internal otherwise; the detail only reaches
    /// the logs.
    fn from(error: EventBridgeError) -> Self {
        match error {
            EventBridgeError::Undelivered(ref undelivered) if undelivered.is_exhausted() => {
                Self::Unavailable(format!("event bus: {error}"))
            }
            other => Self::internal("event bus", other),
        }
    }
}

/// What one publish did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PutReport {
    /// Events EventBridge accepted.
    pub events: usize,
    /// `PutEvents` calls made, retries included.
    pub calls: usize,
}

/// An EventBridge client configured from the environment (region, credentials, and
/// `AWS_ENDPOINT_URL_EVENTBRIDGE` for a local stand-in), with rustls on ring as in
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

/// An EventBridge client for set-up calls (tests and tools creating what the adapters use), on
/// [`billing_aws::setup_sdk_config_from_env`]: not for the adapters themselves.
pub async fn setup_client_from_env() -> Client {
    Client::new(&billing_aws::setup_sdk_config_from_env().await)
}

/// The event sink on one EventBridge bus.
#[derive(Debug, Clone)]
pub struct EventBridgeSink {
    client: Client,
    bus_name: String,
}

impl EventBridgeSink {
    pub fn new(client: Client, bus_name: impl Into<String>) -> Self {
        Self {
            client,
            bus_name: bus_name.into(),
        }
    }

    /// The bus named by `BILLING_EVENT_BUS`, with a client from the environment.
    pub async fn from_env() -> Result<Self, EventBridgeError> {
        let bus_name = std::env::var(EVENT_BUS_VAR)
            .ok()
            .filter(|name| !name.trim().is_empty())
            .ok_or_else(|| EventBridgeError::Config {
                var: EVENT_BUS_VAR,
                problem: "is not set".to_owned(),
            })?;
        tracing::info!(bus = %bus_name, "event bus");
        Ok(Self::new(client_from_env().await, bus_name))
    }

    pub fn bus_name(&self) -> &str {
        &self.bus_name
    }

    /// Puts one event per entry, in order; see the crate docs.
    pub async fn put(&self, entries: &[AuditEntry]) -> Result<PutReport, EventBridgeError> {
        let events = entries
            .iter()
            .map(Event::of)
            .collect::<Result<Vec<_>, _>>()?;
        deliver(
            &SdkSender {
                client: &self.client,
                bus_name: &self.bus_name,
            },
            &events,
        )
        .await
    }
}

#[async_trait]
impl EventSink for EventBridgeSink {
    async fn publish(&self, entries: &[AuditEntry]) -> Result<(), AppError> {
        match self.put(entries).await {
            Ok(report) => {
                tracing::debug!(
                    events = report.events,
                    calls = report.calls,
                    "domain events published"
                );
                Ok(())
            }
            Err(error) => {
                tracing::warn!(%error, events = entries.len(), "domain events not published; they stay in the outbox");
                Err(error.into())
            }
        }
    }
}

/// One audit entry as an event.
#[derive(Debug, Clone, PartialEq)]
struct Event {
    id: String,
    detail_type: &'static str,
    detail: String,
    time_ms: i64,
}

impl Event {
    fn of(entry: &AuditEntry) -> Result<Self, EventBridgeError> {
        let detail = serde_json::to_string(entry).map_err(|error| EventBridgeError::Serialize {
            id: entry.id.clone(),
            message: error.to_string(),
        })?;
        let event = Self {
            id: entry.id.clone(),
            detail_type: entry.action.as_str(),
            detail,
            time_ms: entry.at.timestamp_millis(),
        };
        let bytes = event.size();
        if bytes > CALL_BYTES_MAX {
            return Err(EventBridgeError::EventTooLarge {
                id: event.id,
                bytes,
                max: CALL_BYTES_MAX,
            });
        }
        Ok(event)
    }

    /// Its size by EventBridge's rules: the UTF-8 bytes of source, detail type and detail,
    /// plus a fixed size for the time (no resources).
    fn size(&self) -> usize {
        TIME_BYTES + SOURCE.len() + self.detail_type.len() + self.detail.len()
    }
}

/// Consecutive runs of `events` (their indexes) that each fit one `PutEvents` call.
fn plan_calls(events: &[Event]) -> Vec<Vec<usize>> {
    let mut calls: Vec<Vec<usize>> = Vec::new();
    let mut call = Vec::new();
    let mut call_bytes = 0;
    for (index, event) in events.iter().enumerate() {
        if call.len() == ENTRIES_PER_CALL_MAX || call_bytes + event.size() > CALL_BYTES_MAX {
            calls.push(std::mem::take(&mut call));
            call_bytes = 0;
        }
        call.push(index);
        call_bytes += event.size();
    }
    if !call.is_empty() {
        calls.push(call);
    }
    calls
}

/// Puts one call's events: EventBridge, or a stand-in in the unit tests. Answers, in the
/// order of `events`, `None` for an accepted event and its error code for a failed one.
trait PutSender {
    async fn put_events(&self, events: &[&Event]) -> Result<Vec<Option<String>>, CallFailure>;
}

struct SdkSender<'a> {
    client: &'a Client,
    bus_name: &'a str,
}

impl PutSender for SdkSender<'_> {
    async fn put_events(&self, events: &[&Event]) -> Result<Vec<Option<String>>, CallFailure> {
        let mut request = self.client.put_events();
        for event in events {
            request = request.entries(
                PutEventsRequestEntry::builder()
                    .event_bus_name(self.bus_name)
                    .source(SOURCE)
                    .detail_type(event.detail_type)
                    .detail(&event.detail)
                    .time(DateTime::from_millis(event.time_ms))
                    .build(),
            );
        }
        let output = request.send().await.map_err(|error| classify(&error))?;
        let answers = output.entries();
        // EventBridge answers one result per entry, in order; an entry without one is treated
        // as failed, so it is put again rather than lost.
        Ok((0..events.len())
            .map(|position| match answers.get(position) {
                Some(result) => result
                    .error_code()
                    .map(|code| format!("{code}: {}", result.error_message().unwrap_or_default())),
                None => Some("no result for the entry".to_owned()),
            })
            .collect())
    }
}

/// Puts every event, call after call; within a call, the failed entries are put again until
/// accepted or [`PUT_ATTEMPTS_MAX`] attempts are spent. Stops at the first call that cannot be
/// completed.
async fn deliver(sender: &impl PutSender, events: &[Event]) -> Result<PutReport, EventBridgeError> {
    let progress = deliver_all(
        plan_calls(events),
        PUT_ATTEMPTS_MAX,
        BACKOFF,
        |pending| async move {
            let batch: Vec<&Event> = pending.iter().map(|&index| &events[index]).collect();
            let results = sender.put_events(&batch).await?;
            let mut answer = Answer::default();
            for (index, result) in pending.iter().zip(results) {
                match result {
                    None => answer.accepted += 1,
                    Some(code) => {
                        answer.failure = Some(code);
                        answer.pending.push(*index);
                    }
                }
            }
            Ok(answer)
        },
    )
    .await?;
    Ok(PutReport {
        events: progress.accepted,
        calls: progress.calls,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use billing_core::audit::{AuditAction, EntityType};
    use std::sync::Mutex;

    fn entry(id: &str, data: serde_json::Value) -> AuditEntry {
        AuditEntry {
            id: id.to_owned(),
            at: "2027-01-10T12:00:00.250Z".parse().unwrap(),
            actor: "system:invoice-run".to_owned(),
            action: AuditAction::InvoicePaid,
            entity_type: EntityType::Invoice,
            entity_id: "inv_1".to_owned(),
            data,
        }
    }

    #[test]
    fn an_entry_becomes_an_event_named_by_its_action_with_the_whole_entry_as_detail() {
        let entry = entry("aud_1", serde_json::json!({"amount_cents": 500}));
        let event = Event::of(&entry).unwrap();
        assert_eq!(event.detail_type, "invoice.paid");
        assert_eq!(event.time_ms, entry.at.timestamp_millis());
        let detail: AuditEntry = serde_json::from_str(&event.detail).unwrap();
        assert_eq!(detail, entry);
        assert_eq!(
            event.size(),
            14 + "billing".len() + "invoice.paid".len() + event.detail.len()
        );
    }

    #[test]
    fn calls_hold_at_most_ten_events_and_256_kb_and_a_larger_event_is_an_error() {
        let small: Vec<Event> = (0..23)
            .map(|i| Event::of(&entry(&format!("aud_{i}"), serde_json::json!({}))).unwrap())
            .collect();
        let sizes: Vec<usize> = plan_calls(&small).iter().map(Vec::len).collect();
        assert_eq!(sizes, [10, 10, 3]);
        let large: Vec<Event> = (0..3)
            .map(|i| {
                Event::of(&entry(
                    &format!("aud_{i}"),
                    serde_json::json!({"note": "x".repeat(100_000)}),
                ))
                .unwrap()
            })
            .collect();
        assert_eq!(plan_calls(&large), [vec![0, 1], vec![2]]);
        let huge = entry(
            "aud_huge",
            serde_json::json!({"note": "x".repeat(CALL_BYTES_MAX)}),
        );
        assert!(matches!(
            Event::of(&huge),
            Err(EventBridgeError::EventTooLarge { .. })
        ));
    }

    /// Fails the events whose ids are listed, once per listing, and records each call's ids.
    struct Flaky {
        failures: Mutex<Vec<String>>,
        refuse: bool,
        calls: Mutex<Vec<Vec<String>>>,
    }

    impl Flaky {
        fn new(failures: &[&str], refuse: bool) -> Self {
            Self {
                failures: Mutex::new(failures.iter().map(|s| (*s).to_owned()).collect()),
                refuse,
                calls: Mutex::new(Vec::new()),
            }
        }
    }

    impl PutSender for Flaky {
        async fn put_events(&self, events: &[&Event]) -> Result<Vec<Option<String>>, CallFailure> {
            self.calls
                .lock()
                .unwrap()
                .push(events.iter().map(|e| e.id.clone()).collect());
            if self.refuse {
                return Err(CallFailure {
                    retryable: false,
                    code: "ResourceNotFoundException (HTTP 400)".into(),
                });
            }
            let mut failures = self.failures.lock().unwrap();
            Ok(events
                .iter()
                .map(|event| {
                    let position = failures.iter().position(|id| *id == event.id)?;
                    failures.remove(position);
                    Some("ThrottlingException: slow down".to_owned())
                })
                .collect())
        }
    }

    fn events(count: usize) -> Vec<Event> {
        (0..count)
            .map(|i| Event::of(&entry(&format!("aud_{i}"), serde_json::json!({}))).unwrap())
            .collect()
    }

    #[tokio::test]
    async fn failed_entries_are_put_again_alone() {
        let sender = Flaky::new(&["aud_2", "aud_2", "aud_5"], false);
        let report = deliver(&sender, &events(12)).await.unwrap();
        assert_eq!(
            report,
            PutReport {
                events: 12,
                calls: 4
            }
        );
        let calls = sender.calls.lock().unwrap();
        assert_eq!(calls[1], ["aud_2", "aud_5"]);
        assert_eq!(calls[2], ["aud_2"]);
        assert_eq!(calls[3], ["aud_10", "aud_11"]);
    }

    #[tokio::test]
    async fn entries_failing_every_attempt_are_an_unavailable_error() {
        let sender = Flaky::new(&["aud_1"; PUT_ATTEMPTS_MAX as usize], false);
        let error = deliver(&sender, &events(3)).await.unwrap_err();
        assert!(matches!(
            error,
            EventBridgeError::Undelivered(Undelivered::Exhausted {
                pending: 1,
                accepted: 2,
                attempts: PUT_ATTEMPTS_MAX,
                ..
            })
        ));
        assert_eq!(
            AppError::from(error).kind(),
            billing_app::ErrorKind::Unavailable
        );
    }

    #[tokio::test]
    async fn a_refused_call_is_not_retried() {
        let sender = Flaky::new(&[], true);
        let error = deliver(&sender, &events(3)).await.unwrap_err();
        assert!(matches!(
            error,
            EventBridgeError::Undelivered(Undelivered::Refused {
                pending: 3,
                accepted: 0,
                ..
            })
        ));
        assert_eq!(sender.calls.lock().unwrap().len(), 1);
    }
}
