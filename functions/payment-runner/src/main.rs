//! Wires configuration (`BILLING_TABLE`, the AWS environment) to the scheduled payment run.

use std::sync::Arc;

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use billing_app::clock::SystemClock;
use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    billing_lambda::init_logs();
    let app = billing_lambda::app(
        billing_lambda::table_from_env().await?,
        Arc::new(SystemClock),
    );
    lambda_runtime::run(service_fn(|event: LambdaEvent<EventBridgeEvent>| {
        let app = app.clone();
        async move {
            billing_payment_runner::handle(&app, event.payload)
                .await
                .map_err(|e| Error::from(e.to_string()))
        }
    }))
    .await
}
