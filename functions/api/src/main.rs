//! The HTTP Lambda: configuration and clients built once, then the router of `billing_api`
//! handed to `lambda_http`. Logs are JSON lines, one span per request with its request id.

use std::sync::Arc;

use billing_api::{ApiConfig, ApiState, router};
use billing_app::App;
use billing_app::clock::{Clock, SystemClock, TestClock};
use billing_app::ports::SimulatedGateway;
use billing_app::queue::LedgerUsageQueue;
use billing_ledger::Ledger;
use billing_store::{DynamoDbTable, client_from_env};

const TABLE_VAR: &str = "BILLING_TABLE";

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    tracing_subscriber::fmt()
        .json()
        .with_max_level(tracing::Level::INFO)
        .with_current_span(true)
        .with_span_list(false)
        .with_ansi(false)
        // CloudWatch stamps every line itself.
        .without_time()
        .init();
    let config = ApiConfig::from_env()?;
    let table_name = std::env::var(TABLE_VAR)
        .ok()
        .filter(|name| !name.trim().is_empty())
        .ok_or_else(|| format!("{TABLE_VAR}: is not set"))?;
    let endpoint = std::env::var("AWS_ENDPOINT_URL_DYNAMODB").unwrap_or_else(|_| "aws".into());
    tracing::info!(table = %table_name, %endpoint, test_clock = config.test_clock_enabled, "starting the API");
    let table: Arc<dyn billing_store::Table> =
        Arc::new(DynamoDbTable::new(client_from_env().await, table_name));
    let ledger = Ledger::new(table.clone());
    let clock: Arc<dyn Clock> = if config.test_clock_enabled {
        Arc::new(TestClock::new(ledger.clone()))
    } else {
        Arc::new(SystemClock)
    };
    let app = App {
        ledger: ledger.clone(),
        clock,
        // The Stripe gateway and the SQS usage queue replace these once their adapters exist
        // (functions/usage-aggregator, issue #5); until then usage queues durably in the table.
        gateway: Arc::new(SimulatedGateway::default()),
        usage_queue: Arc::new(LedgerUsageQueue::new(ledger)),
        metrics: Arc::new(billing_app::ports::NoMetrics),
        dunning: Default::default(),
        transient_retry: Default::default(),
    };
    // Lambda instances share the usage rate limit through the table (API.md: per token).
    let limiter = Arc::new(billing_api::rate_limit::TableWindowLimiter::new(
        table,
        config.usage_rate_limit_per_second,
    ));
    lambda_http::run(router(
        ApiState::new(app, config).with_rate_limiter(limiter),
    ))
    .await
}
