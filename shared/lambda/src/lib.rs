//! What every Lambda's `main.rs` shares, so each of them only wires its handler: JSON logs for
//! CloudWatch, and the app on the DynamoDB table named by `BILLING_TABLE` (the clients are built
//! once per cold start and reused by every invocation).

pub mod runs;

use std::sync::Arc;

use billing_app::App;
use billing_app::clock::Clock;
use billing_ledger::Ledger;
use billing_store::{DynamoDbTable, Table, client_from_env};

pub const TABLE_VAR: &str = "BILLING_TABLE";

/// JSON lines, one per event, with the current span (request id); CloudWatch stamps the time.
pub fn init_logs() {
    tracing_subscriber::fmt()
        .json()
        .with_max_level(tracing::Level::INFO)
        .with_current_span(true)
        .with_span_list(false)
        .with_ansi(false)
        .without_time()
        .init();
}

/// The DynamoDB table named by `BILLING_TABLE` (the SDK reads region, credentials and
/// `AWS_ENDPOINT_URL_DYNAMODB` from the environment).
pub async fn table_from_env() -> Result<Arc<dyn Table>, String> {
    let name = std::env::var(TABLE_VAR)
        .ok()
        .filter(|name| !name.trim().is_empty())
        .ok_or_else(|| format!("{TABLE_VAR}: is not set"))?;
    let endpoint = std::env::var("AWS_ENDPOINT_URL_DYNAMODB").unwrap_or_else(|_| "aws".into());
    tracing::info!(table = %name, %endpoint, "store");
    Ok(Arc::new(DynamoDbTable::new(client_from_env().await, name)))
}

/// The app on `table` with `clock`. The payment gateway is the simulated one and usage queues in
/// the table until the Stripe and SQS adapters exist (issue #5).
pub fn app(table: Arc<dyn Table>, clock: Arc<dyn Clock>) -> App {
    App::local(Ledger::new(table), clock)
}
