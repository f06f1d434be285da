//! The usage aggregator: an SQS batch of usage messages in, exactly-once usage sums out.
//!
//! Each message is aggregated on its own through `billing_app::usage::aggregate_batch`, with
//! its SQS message id as the batch id: SQS redelivers a message under the same id, so a
//! redelivery finds its own claims and adds nothing twice. A message that cannot be aggregated
//! (unreadable body, store failure) is reported in `batchItemFailures`, so SQS retries it alone
//! — its neighbours are not replayed — until the queue's receive count sends it to the DLQ.

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use billing_app::App;
use billing_app::usage::{AggregationReport, UsageMessage, aggregate_batch};
use billing_ledger::QueuedUsage;

/// Aggregates every message of `event`; the response names the ones to retry.
pub async fn handle(app: &App, event: SqsEvent) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    for message in event.records {
        let Some(message_id) = message.message_id.clone() else {
            // Without an id a message can be neither deduplicated nor reported: SQS always
            // sends one, so this is a malformed test event; skip it loudly.
            tracing::error!("an SQS record without a messageId was skipped");
            continue;
        };
        match aggregate_message(app, &message_id, &message).await {
            Ok(report) => {
                app.metrics
                    .usage_aggregated(report.counted, report.duplicates, report.late);
                tracing::info!(%message_id, counted = report.counted, duplicates = report.duplicates, late = report.late, "usage aggregated");
            }
            Err(problem) => {
                tracing::warn!(%message_id, %problem, "usage message not aggregated; SQS will retry it");
                let mut failure = BatchItemFailure::default();
                failure.item_identifier = message_id;
                response.batch_item_failures.push(failure);
            }
        }
    }
    response
}

async fn aggregate_message(
    app: &App,
    message_id: &str,
    message: &SqsMessage,
) -> Result<AggregationReport, String> {
    let body = message.body.as_deref().ok_or("the message has no body")?;
    let usage: UsageMessage =
        serde_json::from_str(body).map_err(|e| format!("unreadable usage message: {e}"))?;
    let batch = QueuedUsage {
        batch_id: message_id.to_owned(),
        events: usage.events,
        queue_position: String::new(),
    };
    aggregate_batch(app, &batch)
        .await
        .map_err(|e| e.to_string())
}
