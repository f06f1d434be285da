//! The usage aggregator: an SQS batch of usage messages in, exactly-once usage sums out.
//!
//! The readable messages of a batch (up to 100) are aggregated in one pass through
//! `billing_app::usage::aggregate_pass`, each with its SQS message id as its batch id: SQS
//! redelivers a message under the same id, so a redelivery finds its own claims and marker and
//! adds nothing twice, whatever neighbours it arrives with. The pass writes the per-second sums,
//! period checks and day counters once per chunk of messages instead of once per message.
//!
//! A message that cannot be aggregated is reported alone in `batchItemFailures`, so SQS
//! retries it alone — its neighbours are not replayed — until the queue's receive count sends
//! it to the DLQ: an unreadable body at once; when the pass fails (a store failure, a message
//! the store refuses), each message is then aggregated on its own (those the pass applied find
//! their markers) and only the ones that fail again are reported.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use billing_app::App;
use billing_app::usage::{AggregationReport, UsageMessage, aggregate_batch, aggregate_pass};
use billing_lambda::sqs::{BatchFailures, records};
use billing_ledger::QueuedUsage;

/// What a message is, in logs and problems.
const WHAT: &str = "usage message";

/// Aggregates every message of `event`; the response names the ones to retry.
pub async fn handle(app: &App, event: SqsEvent) -> SqsBatchResponse {
    let mut failures = BatchFailures::default();
    let mut batches = Vec::with_capacity(event.records.len());
    for record in records::<UsageMessage>(event, WHAT) {
        match record.body {
            Ok(usage) => batches.push(QueuedUsage {
                batch_id: record.message_id,
                events: usage.events,
                queue_position: String::new(),
            }),
            Err(problem) => failures.retry(record.message_id, WHAT, &problem),
        }
    }
    if batches.is_empty() {
        return failures.into_response();
    }
    match aggregate_pass(app, &batches).await {
        Ok(report) => reported(app, batches.len(), &report),
        Err(problem) => {
            tracing::warn!(%problem, "the batch's pass failed; aggregating its messages one by one");
            for batch in &batches {
                match aggregate_batch(app, batch).await {
                    Ok(report) => reported(app, 1, &report),
                    Err(problem) => {
                        failures.retry(batch.batch_id.clone(), WHAT, &problem.to_string())
                    }
                }
            }
        }
    }
    failures.into_response()
}

fn reported(app: &App, messages: usize, report: &AggregationReport) {
    app.metrics
        .usage_aggregated(report.counted, report.duplicates, report.late);
    tracing::info!(
        messages,
        counted = report.counted,
        duplicates = report.duplicates,
        late = report.late,
        "usage aggregated"
    );
}
