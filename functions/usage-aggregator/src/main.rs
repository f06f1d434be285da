//! Wires configuration (`BILLING_TABLE`, the AWS environment) to the SQS handler.

use std::sync::Arc;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use billing_app::App;
use billing_app::clock::SystemClock;
use billing_ledger::Ledger;
use billing_store::{DynamoDbTable, client_from_env};
use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing_subscriber::fmt()
        .json()
        .with_current_span(false)
        .without_time()
        .init();
    let table = std::env::var("BILLING_TABLE")
        .ok()
        .filter(|t| !t.trim().is_empty())
        .ok_or("BILLING_TABLE: is not set")?;
    let ledger = Ledger::new(Arc::new(DynamoDbTable::new(client_from_env().await, table)));
    // The aggregator charges nothing and queues nothing: of the app's ports it uses the ledger
    // and the clock only.
    let app = App::local(ledger, Arc::new(SystemClock));
    lambda_runtime::run(service_fn(|event: LambdaEvent<SqsEvent>| {
        let app = app.clone();
        async move {
            Ok::<SqsBatchResponse, Error>(
                billing_usage_aggregator::handle(&app, event.payload).await,
            )
        }
    }))
    .await
}
