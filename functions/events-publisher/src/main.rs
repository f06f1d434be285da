//! Wires configuration (`BILLING_TABLE`, `BILLING_EVENT_BUS`, the AWS environment) to the
//! stream handler and the outbox sweep.

use billing_eventbridge::EventBridgeSink;
use billing_events_publisher::{PublisherEvent, PublisherOutput};
use billing_ledger::Ledger;
use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    billing_lambda::init_logs();
    let ledger = Ledger::new(billing_lambda::table_from_env().await?);
    let sink = EventBridgeSink::from_env().await?;
    lambda_runtime::run(service_fn(|event: LambdaEvent<PublisherEvent>| {
        let ledger = ledger.clone();
        let sink = sink.clone();
        async move {
            billing_events_publisher::handle_event(&ledger, &sink, event.payload)
                .await
                .map_err(|e| Error::from(e.to_string()))
                .map(|output: PublisherOutput| output)
        }
    }))
    .await
}
