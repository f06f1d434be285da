//! Wires configuration (`BILLING_TABLE`, the AWS environment) to the SQS handler.

use std::sync::Arc;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use billing_app::clock::SystemClock;
use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    billing_lambda::init_logs();
    let app = billing_lambda::app(
        billing_lambda::table_from_env().await?,
        Arc::new(SystemClock),
    )
    .await?;
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
