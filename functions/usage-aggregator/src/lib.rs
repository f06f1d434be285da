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

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use billing_app::App;
use billing_app::usage::{AggregationReport, UsageMessage, aggregate_batch, aggregate_pass};
use billing_ledger::QueuedUsage;

/// Aggregates every message of `event`; the response names the ones to retry.
pub async fn handle(app: &App, event: SqsEvent) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    let mut batches = Vec::with_capacity(event.records.len());
    for message in event.records {
        let Some(message_id) = message.message_id.clone() else {
            // Without an id a message can be neither deduplicated nor reported: SQS always
            // sends one, so this is a malformed test event; skip it loudly.
            tracing::error!("an SQS record without a messageId was skipped");
            continue;
        };
        match read_message(message.body.as_deref()) {
            Ok(usage) => batches.push(QueuedUsage {
                batch_id: message_id,
                events: usage.events,
                queue_position: String::new(),
            }),
            Err(problem) => fail(&mut response, message_id, &problem),
        }
    }
    if batches.is_empty() {
        return response;
    }
    match aggregate_pass(app, &batches).await {
        Ok(report) => reported(app, batches.len(), &report),
        Err(problem) => {
            tracing::warn!(%problem, "the batch's pass failed; aggregating its messages one by one");
            for batch in &batches {
                match aggregate_batch(app, batch).await {
                    Ok(report) => reported(app, 1, &report),
                    Err(problem) => {
                        fail(&mut response, batch.batch_id.clone(), &problem.to_string())
                    }
                }
            }
        }
    }
    response
}

fn read_message(body: Option<&str>) -> Result<UsageMessage, String> {
    let body = body.ok_or("the message has no body")?;
    serde_json::from_str(body).map_err(|e| format!("unreadable usage message: {e}"))
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

fn fail(response: &mut SqsBatchResponse, message_id: String, problem: &str) {
    tracing::warn!(%message_id, %problem, "usage message not aggregated; SQS will retry it");
    let mut failure = BatchItemFailure::default();
    failure.item_identifier = message_id;
    response.batch_item_failures.push(failure);
}
