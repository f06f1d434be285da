//! Wires configuration (`BILLING_TABLE`, `BILLING_EVENT_BUS`, the AWS environment) to the
//! stream handler and the outbox sweep, each invocation timed and its metrics (events
//! published) written as one CloudWatch EMF line.

use std::sync::Arc;

use billing_eventbridge::EventBridgeSink;
use billing_events_publisher::{PublisherEvent, PublisherOutput};
use billing_lambda::emf::{EmfMetrics, instrument};
use billing_lambda::{LambdaConfig, MeteredSink};
use billing_ledger::Ledger;
use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    billing_lambda::init_logs();
    let config = LambdaConfig::from_env()?;
    let ledger = Ledger::new(config.table().await);
    let metrics = Arc::new(EmfMetrics::from_env("events-publisher"));
    let sink = MeteredSink::new(EventBridgeSink::from_env().await?, metrics.clone());
    let (sink, metrics) = (&sink, &metrics);
    lambda_runtime::run(service_fn(|event: LambdaEvent<PublisherEvent>| {
        let ledger = ledger.clone();
        async move {
            instrument(
                metrics,
                billing_events_publisher::handle_event(&ledger, sink, event.payload),
            )
            .await
            .map_err(|e| Error::from(e.to_string()))
            .map(|output: PublisherOutput| output)
        }
    }))
    .await
}
