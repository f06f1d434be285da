//! The events publisher: the table's DynamoDB stream in, EventBridge domain events out.
//!
//! Every audit entry is written with an outbox item in the same transaction as its change. The
//! stream shows each committed write once, in order per item; the INSERT records of outbox
//! items are the events to publish (`billing_app::events::publish_entries`: publish, then
//! remove from the outbox). Every other record is skipped: other items, updates, and the
//! REMOVE records of outbox items, which this function's own removals cause.
//!
//! Events are published in stream order, [`ENTRIES_PER_PUBLISH`] at a time. On the first
//! failure the handler stops and answers the sequence number of the first record not
//! published as its only batch item failure: Lambda checkpoints a stream shard there and
//! retries from that record on, so everything before it is done and nothing after it is
//! skipped. (An empty identifier, should a record lack its sequence number, makes Lambda retry
//! the whole batch.) Whatever the retries never publish — the records expire after 24 hours,
//! or the event source mapping gives up — stays in the outbox for the sweep
//! (`billing_app::events::publish_outbox`). Delivery is at least once; consumers deduplicate
//! on the event's `detail.id`.

use aws_lambda_events::event::dynamodb::{Event, EventRecord};
use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use billing_app::AppError;
use billing_app::events::{PublishReport, publish_entries, publish_outbox};
use billing_app::ports::EventSink;
use billing_ledger::{AuditEntry, Ledger};
use serde::{Deserialize, Serialize};

/// Events published per sink call: one `PutEvents` call, so a failure names a record close to
/// the one that failed and few events before it are published twice.
pub const ENTRIES_PER_PUBLISH: usize = billing_eventbridge::ENTRIES_PER_CALL_MAX;

/// Events published by one scheduled sweep; the next sweep takes the rest.
pub const SWEEP_LIMIT: usize = 10_000;

/// What invokes the publisher: the table's stream, or the schedule of its sweep.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum PublisherEvent {
    // The stream first: a schedule event has no `Records`, a stream batch no `detail-type`.
    Stream(Event),
    Sweep(EventBridgeEvent),
}

#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum PublisherOutput {
    Stream(DynamoDbEventResponse),
    Sweep(PublishReport),
}

/// Handles one invocation: a stream batch, or a sweep of what the stream left in the outbox
/// (records it could not publish before they expired). A failed sweep is an error, so the
/// schedule's retry policy runs it again; nothing leaves the outbox unpublished either way.
pub async fn handle_event(
    ledger: &Ledger,
    sink: &dyn EventSink,
    event: PublisherEvent,
) -> Result<PublisherOutput, AppError> {
    match event {
        PublisherEvent::Stream(event) => {
            Ok(PublisherOutput::Stream(handle(ledger, sink, event).await))
        }
        PublisherEvent::Sweep(_) => {
            let report = publish_outbox(ledger, sink, SWEEP_LIMIT).await?;
            tracing::info!(
                published = report.published,
                more = report.limit_reached,
                "outbox swept"
            );
            Ok(PublisherOutput::Sweep(report))
        }
    }
}

/// Publishes the outbox items `event` inserted; the response names where to retry from.
pub async fn handle(ledger: &Ledger, sink: &dyn EventSink, event: Event) -> DynamoDbEventResponse {
    let records = event.records.len();
    let mut chunk: Vec<(String, AuditEntry)> = Vec::with_capacity(ENTRIES_PER_PUBLISH);
    let mut published = 0;
    for record in event.records {
        match outbox_entry(record) {
            Record::Skip => {}
            Record::Publish(sequence, entry) => {
                chunk.push((sequence, entry));
                if chunk.len() == ENTRIES_PER_PUBLISH {
                    match publish(ledger, sink, &mut chunk).await {
                        Ok(count) => published += count,
                        Err(sequence) => return retry_from(sequence),
                    }
                }
            }
            Record::Unreadable(sequence, problem) => {
                // Publish what came before it; then this record blocks its shard until the
                // event source mapping's retry limit sends it to the failure destination.
                if let Err(sequence) = publish(ledger, sink, &mut chunk).await {
                    return retry_from(sequence);
                }
                tracing::error!(%sequence, %problem, "an outbox item in the stream cannot be read");
                return retry_from(sequence);
            }
        }
    }
    match publish(ledger, sink, &mut chunk).await {
        Ok(count) => published += count,
        Err(sequence) => return retry_from(sequence),
    }
    tracing::info!(records, published, "stream batch published");
    DynamoDbEventResponse::default()
}

enum Record {
    Skip,
    Publish(String, AuditEntry),
    Unreadable(String, String),
}

fn outbox_entry(record: EventRecord) -> Record {
    if record.event_name != "INSERT" {
        return Record::Skip;
    }
    let sequence = record.change.sequence_number.unwrap_or_default();
    match Ledger::outbox_entry_from_image(&record.change.new_image) {
        Ok(Some(entry)) => Record::Publish(sequence, entry),
        Ok(None) => Record::Skip,
        Err(error) => Record::Unreadable(sequence, error.to_string()),
    }
}

/// Publishes and empties `chunk`; on failure, the sequence number of its first record.
async fn publish(
    ledger: &Ledger,
    sink: &dyn EventSink,
    chunk: &mut Vec<(String, AuditEntry)>,
) -> Result<u64, String> {
    if chunk.is_empty() {
        return Ok(0);
    }
    let entries: Vec<AuditEntry> = chunk.iter().map(|(_, entry)| entry.clone()).collect();
    match publish_entries(ledger, sink, &entries).await {
        Ok(count) => {
            chunk.clear();
            Ok(count)
        }
        Err(error) => {
            let sequence = chunk[0].0.clone();
            tracing::warn!(%error, %sequence, "domain events not published; the stream retries from this record");
            Err(sequence)
        }
    }
}

fn retry_from(sequence: String) -> DynamoDbEventResponse {
    let mut failure = DynamoDbBatchItemFailure::default();
    failure.item_identifier = Some(sequence);
    let mut response = DynamoDbEventResponse::default();
    response.batch_item_failures.push(failure);
    response
}
