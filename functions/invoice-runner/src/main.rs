//! Wires configuration (`BILLING_TABLE`, `BILLING_RUN_QUEUE_URL`, the AWS environment) to the
//! scheduled invoice run, each invocation timed and its metrics written as one CloudWatch EMF line
//! (`billing_lambda::runs::serve`).

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    billing_lambda::runs::serve("invoice-runner", billing_invoice_runner::RUN).await
}
