//! Wires configuration (`BILLING_TABLE`, `BILLING_RUN_QUEUE_URL`, the AWS environment) to the
//! scheduled invoice run, each invocation timed and its metrics written as one CloudWatch EMF line.

use std::sync::Arc;

use billing_app::clock::SystemClock;
use billing_lambda::emf::{EmfMetrics, instrument};
use billing_lambda::runs::{RunEvent, RunOutput, deadline_of};
use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    billing_lambda::init_logs();
    let metrics = Arc::new(EmfMetrics::from_env("invoice-runner"));
    let app = billing_lambda::app(
        billing_lambda::table_from_env().await?,
        Arc::new(SystemClock),
        metrics.clone(),
    )
    .await?;
    let runner = billing_invoice_runner::runner(app, billing_lambda::run_queue_from_env().await);
    let (runner, metrics) = (&runner, &metrics);
    lambda_runtime::run(service_fn(|event: LambdaEvent<RunEvent>| async move {
        instrument(
            metrics,
            runner.handle(event.payload, deadline_of(event.context.deadline)),
        )
        .await
        .map_err(|e| Error::from(e.to_string()))
        .map(|output: RunOutput| output)
    }))
    .await
}
