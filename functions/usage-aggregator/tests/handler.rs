//! The aggregator's handler on a real SQS event payload (`fixtures/sqs-batch.json`), over the
//! embedded store and DynamoDB Local: one poison message is reported alone, duplicates across
//! messages count once, and a redelivered batch adds nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use aws_lambda_events::event::sqs::SqsEvent;
use billing_app::App;
use billing_app::clock::TestClock;
use billing_ledger::Ledger;
use billing_store::testing as fixtures;

fn batch() -> SqsEvent {
    serde_json::from_str(include_str!("fixtures/sqs-batch.json"))
        .expect("the fixture is an SQS event")
}

async fn sum(app: &App) -> u64 {
    let from: billing_core::Timestamp = "2027-01-01T00:00:00Z".parse().unwrap();
    let to: billing_core::Timestamp = "2027-02-01T00:00:00Z".parse().unwrap();
    app.ledger
        .usage_sum("usr_sqs", "api_calls", from, to)
        .await
        .unwrap()
}

async fn the_poison_message_is_retried_alone_and_nothing_counts_twice(app: App) {
    let response = billing_usage_aggregator::handle(&app, batch()).await;
    let failed: Vec<&str> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    assert_eq!(failed, ["3c5e7a9b-1d2f-4a6b-8c0d-e1f2a3b4c5d6"]);
    // evt-1 (1000, the first accepted copy) + evt-2 (250) + evt-4 (7); the resent evt-1 is a duplicate.
    assert_eq!(sum(&app).await, 1_257);
    // SQS redelivers the whole batch (say the function timed out): nothing is added twice.
    let again = billing_usage_aggregator::handle(&app, batch()).await;
    assert_eq!(again.batch_item_failures.len(), 1);
    assert_eq!(sum(&app).await, 1_257);
    // The response is the shape Lambda expects for ReportBatchItemFailures.
    let json = serde_json::to_value(&again).unwrap();
    assert_eq!(
        json["batchItemFailures"][0]["itemIdentifier"],
        "3c5e7a9b-1d2f-4a6b-8c0d-e1f2a3b4c5d6"
    );
}

fn app_on(ledger: Ledger) -> App {
    App::local(ledger.clone(), Arc::new(TestClock::new(ledger)))
}

#[tokio::test]
async fn embedded_the_poison_message_is_retried_alone_and_nothing_counts_twice() {
    let fixture = fixtures::embedded("aggregator").await.unwrap();
    the_poison_message_is_retried_alone_and_nothing_counts_twice(app_on(Ledger::new(
        fixture.table.clone(),
    )))
    .await;
}

#[tokio::test]
async fn dynamodb_the_poison_message_is_retried_alone_and_nothing_counts_twice() {
    let Some(fixture) = fixtures::dynamodb("aggregator").await else {
        return;
    };
    the_poison_message_is_retried_alone_and_nothing_counts_twice(app_on(Ledger::new(
        fixture.table.clone(),
    )))
    .await;
}

/// The Lambda's wiring (`main.rs`): the app reports to the function's EMF metrics and each
/// invocation is instrumented, so its document holds what that batch counted, and only that.
#[tokio::test]
async fn each_invocation_writes_one_emf_document_with_what_its_batch_counted() {
    let fixture = fixtures::embedded("aggregator_emf").await.unwrap();
    let (metrics, captured) = billing_lambda::emf::Captured::metrics("usage-aggregator");
    let app = app_on(Ledger::new(fixture.table.clone())).with_metrics(metrics.clone());
    let mut poison_only = batch();
    poison_only.records.retain(|record| {
        record.message_id.as_deref() == Some("3c5e7a9b-1d2f-4a6b-8c0d-e1f2a3b4c5d6")
    });
    for event in [batch(), poison_only] {
        let response = billing_lambda::emf::instrument(&metrics, async {
            Ok::<_, String>(billing_usage_aggregator::handle(&app, event).await)
        })
        .await
        .unwrap();
        assert_eq!(response.batch_item_failures.len(), 1);
    }
    let documents = captured.documents().unwrap();
    assert_eq!(documents.len(), 2, "one document per invocation");
    let first = billing_lambda::emf::read_document(&documents[0]).unwrap();
    // evt-1, evt-2 and evt-4 count; the resent evt-1 is a duplicate. A poison message is a
    // batch item failure, not a failed invocation.
    assert_eq!(
        (
            first["Invocations"],
            first["Errors"],
            first["UsageEventsCounted"],
            first["UsageEventsDuplicate"]
        ),
        (1, 0, 3, 1)
    );
    assert!(!first.contains_key("UsageEventsLate"));
    let second = billing_lambda::emf::read_document(&documents[1]).unwrap();
    assert_eq!((second["Invocations"], second["Errors"]), (1, 0));
    assert!(
        !second.contains_key("UsageEventsCounted") && !second.contains_key("UsageEventsDuplicate"),
        "the first batch's counts are not reported again: {second:?}"
    );
}
