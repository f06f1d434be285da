//! Wires configuration (`BILLING_TABLE`, the AWS environment) to the SQS handler, each
//! invocation timed and its metrics written as one CloudWatch EMF line.

use std::sync::Arc;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use billing_app::clock::SystemClock;
use billing_lambda::LambdaConfig;
use billing_lambda::emf::{EmfMetrics, instrument};
use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    billing_lambda::init_logs();
    let config = LambdaConfig::from_env()?;
    let metrics = Arc::new(EmfMetrics::from_env("usage-aggregator"));
    let app = config
        .app(config.table().await, Arc::new(SystemClock), metrics.clone())
        .await;
    let metrics = &metrics;
    lambda_runtime::run(service_fn(|event: LambdaEvent<SqsEvent>| {
        let app = app.clone();
        async move {
            instrument(metrics, async {
                Ok::<SqsBatchResponse, Error>(
                    billing_usage_aggregator::handle(&app, event.payload).await,
                )
            })
            .await
        }
    }))
    .await
}
