//! The publisher's handler on a real DynamoDB Streams event (`fixtures/dynamodb-stream.json`:
//! the items of one audited change as the stream shows them, and the REMOVE of an outbox item
//! published earlier), against a real EventBridge API (moto's server, `infra/moto.sh`) with a
//! rule that forwards `source: billing` to an SQS queue, over the embedded store. Also the
//! outbox sweep onto the same bus, and the partial-failure answer with a failing sink.
//!
//! The moto tests read `AWS_ENDPOINT_URL_EVENTBRIDGE` and `AWS_ENDPOINT_URL_SQS`; without them
//! they are skipped, unless `BILLING_REQUIRE_MOTO=1`, where they fail.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::sync::Mutex;

use async_trait::async_trait;
use aws_lambda_events::event::dynamodb::Event;
use aws_sdk_eventbridge::types::Target;
use aws_sdk_sqs::types::QueueAttributeName;
use billing_app::AppError;
use billing_app::ports::EventSink;
use billing_core::audit::AuditAction;
use billing_eventbridge::{EventBridgeSink, SOURCE};
use billing_events_publisher::{PublisherEvent, PublisherOutput, handle, handle_event};
use billing_ledger::keys::{self, shard_of};
use billing_ledger::{AuditEntry, Change, Ledger};
use billing_store::testing::{self as fixtures, Fixture};
use billing_store::{AttributeValue, Key};

const FIRST_SEQUENCE: &str = "4421584500000000017450439091";

fn stream() -> Event {
    serde_json::from_str(include_str!("fixtures/dynamodb-stream.json"))
        .expect("the fixture is a DynamoDB stream event")
}

/// The entries of the fixture's outbox INSERTs, in stream order.
fn fixture_entries() -> Vec<AuditEntry> {
    stream()
        .records
        .iter()
        .filter(|record| record.event_name == "INSERT")
        .filter_map(|record| Ledger::outbox_entry_from_image(&record.change.new_image).unwrap())
        .collect()
}

/// A ledger on a fresh embedded table where `entries` were audited, as the app writes them.
async fn ledger_with(entries: &[AuditEntry]) -> (Fixture, Ledger) {
    let fixture = fixtures::embedded("events-publisher").await.unwrap();
    let ledger = Ledger::new(fixture.table.clone());
    for chunk in entries.chunks(10) {
        let mut change = Change::new();
        for entry in chunk {
            change.audit(entry).unwrap();
        }
        ledger.commit(change).await.unwrap();
    }
    (fixture, ledger)
}

async fn in_outbox(ledger: &Ledger, entry: &AuditEntry) -> bool {
    ledger
        .outbox(shard_of(&entry.id), 100)
        .await
        .unwrap()
        .iter()
        .any(|waiting| waiting.id == entry.id)
}

fn string(value: &AttributeValue) -> String {
    match value {
        AttributeValue::S(text) => text.clone(),
        other => panic!("not a string: {other:?}"),
    }
}

#[test]
fn a_stream_batch_is_told_from_a_schedule_event() {
    let event: PublisherEvent =
        serde_json::from_str(include_str!("fixtures/dynamodb-stream.json")).unwrap();
    assert!(matches!(event, PublisherEvent::Stream(_)));
}

#[tokio::test]
async fn the_fixture_shows_the_items_the_ledger_writes() {
    let entries = fixture_entries();
    assert_eq!(entries.len(), 2);
    let (fixture, _ledger) = ledger_with(&entries).await;
    for record in stream().records {
        if record.event_name != "INSERT" {
            continue;
        }
        let key = Key::new(
            string(&record.change.keys["pk"]),
            string(&record.change.keys["sk"]),
        );
        let stored = fixture.table.get(&key).await.unwrap().expect("stored");
        assert_eq!(stored, record.change.new_image, "item {key:?}");
    }
}

/// Remembers what it was given; refuses any publish that holds `refused_id`.
#[derive(Default)]
struct Recorder {
    published: Mutex<Vec<AuditEntry>>,
    refused_id: Option<String>,
}

#[async_trait]
impl EventSink for Recorder {
    async fn publish(&self, entries: &[AuditEntry]) -> Result<(), AppError> {
        if entries
            .iter()
            .any(|e| Some(&e.id) == self.refused_id.as_ref())
        {
            return Err(AppError::Unavailable("refused".into()));
        }
        self.published.lock().unwrap().extend_from_slice(entries);
        Ok(())
    }
}

/// `count` entries, and a stream event whose INSERT records show their outbox items (with an
/// audit item's INSERT between every two), sequence numbers `1000 + i` for entry `i`.
async fn many(count: u32) -> (Fixture, Ledger, Vec<AuditEntry>, Event) {
    let template = fixture_entries().remove(0);
    let entries: Vec<AuditEntry> = (0..count)
        .map(|i| AuditEntry {
            id: format!("aud_{i:04}"),
            ..template.clone()
        })
        .collect();
    let (fixture, ledger) = ledger_with(&entries).await;
    let base = stream();
    let mut event = base.clone();
    event.records.clear();
    for (i, entry) in entries.iter().enumerate() {
        let mut record = base.records[0].clone();
        record.change.new_image = fixture
            .table
            .get(&keys::outbox(entry.at, &entry.id))
            .await
            .unwrap()
            .unwrap();
        record.change.sequence_number = Some(format!("{}", 1000 + i));
        event.records.push(record);
        if i % 2 == 0 {
            let mut other = base.records[1].clone();
            other.change.sequence_number = Some(format!("{}", 5000 + i));
            event.records.push(other);
        }
    }
    (fixture, ledger, entries, event)
}

#[tokio::test]
async fn a_failure_names_the_first_record_not_published_and_what_came_before_is_done() {
    let (_fixture, ledger, entries, event) = many(25).await;
    // The second publish (entries 10–19) fails: 0–9 are out, the stream retries from 10.
    let sink = Recorder {
        refused_id: Some(entries[13].id.clone()),
        ..Recorder::default()
    };
    let response = handle(&ledger, &sink, event).await;
    let failed: Vec<_> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone().unwrap())
        .collect();
    assert_eq!(failed, ["1010"]);
    assert_eq!(*sink.published.lock().unwrap(), entries[..10]);
    for (i, entry) in entries.iter().enumerate() {
        assert_eq!(in_outbox(&ledger, entry).await, i >= 10, "entry {i}");
    }
}

#[tokio::test]
async fn an_unreadable_outbox_item_stops_the_batch_at_its_record() {
    let (_fixture, ledger, entries, mut event) = many(3).await;
    // Entry 1's record (after entry 0's and an audit item's) names no known action.
    let broken = &mut event.records[2];
    assert_eq!(broken.change.sequence_number.as_deref(), Some("1001"));
    broken.change.new_image.insert(
        "action".into(),
        AttributeValue::S("invoice.exploded".into()),
    );
    let sink = Recorder::default();
    let response = handle(&ledger, &sink, event).await;
    assert_eq!(
        response.batch_item_failures[0].item_identifier.as_deref(),
        Some("1001")
    );
    assert_eq!(*sink.published.lock().unwrap(), entries[..1]);
}

/// The Lambda's wiring (`main.rs`): the sink is metered into the function's EMF metrics and
/// each invocation is instrumented. A stream batch that stops at a failure publishes part of
/// it (no error: the response names where to retry); a sweep the sink refuses is an error.
#[tokio::test]
async fn each_invocation_writes_one_emf_document_with_the_events_it_published() {
    let (_fixture, ledger, entries, event) = many(25).await;
    let (metrics, captured) = billing_lambda::emf::Captured::metrics("events-publisher");
    let refusing = billing_lambda::MeteredSink::new(
        Recorder {
            refused_id: Some(entries[13].id.clone()),
            ..Recorder::default()
        },
        metrics.clone(),
    );
    let accepting = billing_lambda::MeteredSink::new(Recorder::default(), metrics.clone());
    let sweep = || -> PublisherEvent {
        serde_json::from_str(include_str!("fixtures/scheduled-event.json")).unwrap()
    };
    billing_lambda::emf::instrument(
        &metrics,
        handle_event(&ledger, &refusing, PublisherEvent::Stream(event)),
    )
    .await
    .unwrap();
    assert!(
        billing_lambda::emf::instrument(&metrics, handle_event(&ledger, &refusing, sweep()))
            .await
            .is_err()
    );
    billing_lambda::emf::instrument(&metrics, handle_event(&ledger, &accepting, sweep()))
        .await
        .unwrap();

    let documents = captured.documents().unwrap();
    let read: Vec<(u64, u64, Option<u64>)> = documents
        .iter()
        .map(|document| {
            let values = billing_lambda::emf::read_document(document).unwrap();
            (
                values["Invocations"],
                values["Errors"],
                values.get("EventsPublished").copied(),
            )
        })
        .collect();
    // The stream published entries 0–9 and stopped at 10's chunk; the refused sweep may have
    // published other shards before the one holding entry 13; the next sweep did the rest.
    let [(1, 0, Some(10)), (1, 1, partly), (1, 0, Some(rest))] = read[..] else {
        panic!("{read:?}");
    };
    assert_eq!(partly.unwrap_or(0) + rest, 15, "{read:?}");
}

// ---- against moto

/// A bus of its own whose rule sends every `source: billing` event to a queue of its own.
struct Bus {
    events: aws_sdk_eventbridge::Client,
    sqs: aws_sdk_sqs::Client,
    name: String,
    queue_url: String,
}

async fn bus(case: &str) -> Option<Bus> {
    let endpoint = std::env::var("AWS_ENDPOINT_URL_EVENTBRIDGE").unwrap_or_default();
    if endpoint.is_empty()
        || std::env::var("AWS_ENDPOINT_URL_SQS")
            .unwrap_or_default()
            .is_empty()
    {
        let required = std::env::var("BILLING_REQUIRE_MOTO").is_ok_and(|v| v == "1");
        assert!(
            !required,
            "BILLING_REQUIRE_MOTO=1 but AWS_ENDPOINT_URL_EVENTBRIDGE or AWS_ENDPOINT_URL_SQS is \
             unset: start moto (infra/moto.sh) and point them at it"
        );
        eprintln!("skipped eventbridge::{case}: AWS_ENDPOINT_URL_EVENTBRIDGE is unset");
        return None;
    }
    // Set-up and reading what arrived use the patient set-up clients; the sinks under test get
    // the adapter's own client (`Bus::events`).
    let setup = billing_eventbridge::setup_client_from_env().await;
    let sqs = billing_sqs::setup_client_from_env().await;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let name = format!("billing-{case}-{}-{nanos}", std::process::id()).replace('_', "-");
    setup
        .create_event_bus()
        .name(&name)
        .send()
        .await
        .unwrap_or_else(|error| panic!("cannot create a bus at {endpoint}: {error:?}"));
    let queue_url = sqs
        .create_queue()
        .queue_name(&name)
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_owned();
    let attributes = sqs
        .get_queue_attributes()
        .queue_url(&queue_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap();
    let queue_arn = attributes.attributes().unwrap()[&QueueAttributeName::QueueArn].clone();
    setup
        .put_rule()
        .name(&name)
        .event_bus_name(&name)
        .event_pattern(serde_json::json!({"source": [SOURCE]}).to_string())
        .send()
        .await
        .unwrap();
    setup
        .put_targets()
        .rule(&name)
        .event_bus_name(&name)
        .targets(
            Target::builder()
                .id("queue")
                .arn(queue_arn)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    Some(Bus {
        events: billing_eventbridge::client_from_env().await,
        sqs,
        name,
        queue_url,
    })
}

impl Bus {
    fn sink(&self) -> EventBridgeSink {
        EventBridgeSink::new(self.events.clone(), &self.name)
    }

    /// The events the rule delivered: waits for `expected`, then a little more for extras.
    async fn delivered(&self, expected: usize) -> Vec<serde_json::Value> {
        let mut events = Vec::new();
        for _ in 0..100 {
            let answer = self
                .sqs
                .receive_message()
                .queue_url(&self.queue_url)
                .max_number_of_messages(10)
                .wait_time_seconds(1)
                .visibility_timeout(600)
                .send()
                .await
                .unwrap();
            if answer.messages().is_empty() && events.len() >= expected {
                return events;
            }
            for message in answer.messages() {
                events.push(serde_json::from_str(message.body().unwrap()).unwrap());
            }
        }
        panic!("{} of {expected} events delivered", events.len());
    }
}

#[tokio::test]
async fn outbox_inserts_are_published_to_the_bus_and_leave_the_outbox() {
    let Some(bus) = bus("stream").await else {
        return;
    };
    let entries = fixture_entries();
    let (_fixture, ledger) = ledger_with(&entries).await;
    let response = handle(&ledger, &bus.sink(), stream()).await;
    assert!(response.batch_item_failures.is_empty(), "{response:?}");

    let delivered = bus.delivered(entries.len()).await;
    let got: BTreeSet<(String, String, String)> = delivered
        .iter()
        .map(|event| {
            (
                event["source"].as_str().unwrap().to_owned(),
                event["detail-type"].as_str().unwrap().to_owned(),
                event["detail"]["id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let want: BTreeSet<(String, String, String)> = [
        (
            AuditAction::InvoiceFinalized,
            "aud_18e0b7f3a2c4d5e6a1b2c3d4",
        ),
        (
            AuditAction::PaymentSucceeded,
            "aud_18e0b7f3a9d1e2f3b4c5d6e7",
        ),
    ]
    .into_iter()
    .map(|(action, id)| {
        (
            "billing".to_owned(),
            action.as_str().to_owned(),
            id.to_owned(),
        )
    })
    .collect();
    // Only the two inserted outbox items: not the audit items, not the removed outbox item.
    assert_eq!(delivered.len(), 2);
    assert_eq!(got, want);
    for event in &delivered {
        let detail: AuditEntry = serde_json::from_value(event["detail"].clone()).unwrap();
        assert!(entries.contains(&detail), "{detail:?}");
        // The event's time is the entry's, and it names no resources.
        assert_eq!(event["time"], event["detail"]["at"]);
        assert_eq!(event["resources"], serde_json::json!([]));
    }
    for entry in &entries {
        assert!(!in_outbox(&ledger, entry).await, "{} still waits", entry.id);
    }
}

#[tokio::test]
async fn a_bus_that_does_not_exist_fails_at_the_first_record_and_keeps_the_outbox() {
    let Some(bus) = bus("missing").await else {
        return;
    };
    let entries = fixture_entries();
    let (_fixture, ledger) = ledger_with(&entries).await;
    let sink = EventBridgeSink::new(bus.events.clone(), format!("{}-does-not-exist", bus.name));
    let response = handle(&ledger, &sink, stream()).await;
    assert_eq!(
        serde_json::to_value(&response).unwrap(),
        serde_json::json!({"batchItemFailures": [{"itemIdentifier": FIRST_SEQUENCE}]})
    );
    for entry in &entries {
        assert!(in_outbox(&ledger, entry).await, "{} was dropped", entry.id);
    }
}

#[tokio::test]
async fn the_sweep_publishes_everything_waiting_in_the_outbox_to_the_bus() {
    let Some(bus) = bus("sweep").await else {
        return;
    };
    let template = fixture_entries().remove(1);
    let entries: Vec<AuditEntry> = (0..35)
        .map(|i| AuditEntry {
            id: format!("aud_sweep_{i:03}"),
            ..template.clone()
        })
        .collect();
    let (_fixture, ledger) = ledger_with(&entries).await;
    // The publisher's schedule invokes the sweep with a real scheduled event.
    let event: PublisherEvent =
        serde_json::from_str(include_str!("fixtures/scheduled-event.json")).unwrap();
    assert!(matches!(event, PublisherEvent::Sweep(_)));
    let PublisherOutput::Sweep(report) = handle_event(&ledger, &bus.sink(), event).await.unwrap()
    else {
        panic!("a scheduled event sweeps the outbox");
    };
    assert_eq!((report.published, report.limit_reached), (35, false));
    let delivered = bus.delivered(entries.len()).await;
    let mut ids: Vec<&str> = delivered
        .iter()
        .map(|event| event["detail"]["id"].as_str().unwrap())
        .collect();
    ids.sort_unstable();
    let mut want: Vec<&str> = entries.iter().map(|e| e.id.as_str()).collect();
    want.sort_unstable();
    assert_eq!(ids, want);
    for entry in &entries {
        assert!(!in_outbox(&ledger, entry).await);
    }
}
