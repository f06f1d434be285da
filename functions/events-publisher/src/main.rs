//! Wires configuration (`BILLING_TABLE`, `BILLING_EVENT_BUS`, the AWS environment) to the
//! stream handler.

use aws_lambda_events::event::dynamodb::Event;
use aws_lambda_events::event::streams::DynamoDbEventResponse;
use billing_eventbridge::EventBridgeSink;
use billing_ledger::Ledger;
use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    billing_lambda::init_logs();
    let ledger = Ledger::new(billing_lambda::table_from_env().await?);
    let sink = EventBridgeSink::from_env().await?;
    lambda_runtime::run(service_fn(|event: LambdaEvent<Event>| {
        let ledger = ledger.clone();
        let sink = sink.clone();
        async move {
            Ok::<DynamoDbEventResponse, Error>(
                billing_events_publisher::handle(&ledger, &sink, event.payload).await,
            )
        }
    }))
    .await
}
