//! The HTTP Lambda: configuration and clients built once, then the router of `billing_api`
//! handed to `lambda_http`. Logs are JSON lines, one span per request with its request id;
//! metrics are one CloudWatch EMF line per request (`billing_api::emf`).

use std::sync::Arc;

use billing_api::{ApiConfig, ApiState, router};
use billing_app::clock::{Clock, SystemClock, TestClock};
use billing_lambda::LambdaConfig;
use billing_lambda::emf::EmfMetrics;
use billing_ledger::Ledger;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    billing_lambda::init_logs();
    // Both halves of the configuration are read before any client is built: the API's own
    // (its error names the variable) and the settings every Lambda shares.
    let config = ApiConfig::from_env()?;
    let lambda = LambdaConfig::from_env()?;
    tracing::info!(test_clock = config.test_clock_enabled, "starting the API");
    let table = lambda.table().await;
    let clock: Arc<dyn Clock> = if config.test_clock_enabled {
        Arc::new(TestClock::new(Ledger::new(table.clone())))
    } else {
        Arc::new(SystemClock)
    };
    let metrics = Arc::new(EmfMetrics::from_env("billing-api"));
    let app = lambda.app(table, clock, metrics.clone()).await;
    // Lambda instances share the usage rate limit through the table (API.md: per token).
    let limiter = Arc::new(billing_api::rate_limit::TableWindowLimiter::new(
        app.ledger.clone(),
        config.usage_rate_limit_per_second,
    ));
    // Runs started from the API that outlast the request go on over the runners' queues.
    let state = ApiState::new(app, config)
        .with_rate_limiter(limiter)
        .with_run_queues(
            LambdaConfig::work_queue(lambda.invoice_run_queue_url.as_deref()).await,
            LambdaConfig::work_queue(lambda.payment_run_queue_url.as_deref()).await,
        );
    lambda_http::run(billing_api::emf::with_emf(router(state), metrics)).await
}
