//! What every Lambda's `main.rs` shares, so each of them only wires its handler: JSON logs for
//! CloudWatch, metrics as CloudWatch EMF ([`emf`]), and the app on the DynamoDB table named by
//! `BILLING_TABLE` (the clients are built once per cold start and reused by every invocation).

pub mod emf;
pub mod runs;

use std::sync::Arc;

use async_trait::async_trait;
use billing_app::clock::Clock;
use billing_app::ports::{EventSink, Metrics};
use billing_app::{App, AppError};
use billing_ledger::{AuditEntry, Ledger};
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

/// The app on `table` with `clock`, the payment gateway `BILLING_PAYMENT_GATEWAY` names
/// (`STRIPE_API_KEY` comes from the function's environment, set from Secrets Manager by the
/// template), and the SQS usage queue when `BILLING_USAGE_QUEUE_URL` names one (the API's;
/// without it accepted usage queues in the table, as in the local runner). The use cases report
/// to `metrics` (the function's [`emf::EmfMetrics`]).
pub async fn app(
    table: Arc<dyn Table>,
    clock: Arc<dyn Clock>,
    metrics: Arc<dyn Metrics>,
) -> Result<App, String> {
    let mut app = App::local(Ledger::new(table), clock).with_metrics(metrics);
    app.gateway = billing_stripe::gateway_from_lookup(|name| std::env::var(name).ok())
        .map_err(|error| error.to_string())?;
    app.dunning = billing_app::config::dunning_from_lookup(|name| std::env::var(name).ok())
        .map_err(|error| error.to_string())?;
    if std::env::var(billing_sqs::QUEUE_URL_VAR).is_ok_and(|url| !url.trim().is_empty()) {
        app.usage_queue = Arc::new(
            billing_sqs::SqsUsageQueue::from_env()
                .await
                .map_err(|error| error.to_string())?,
        );
    }
    tracing::info!(gateway = app.gateway.name(), "payment gateway");
    Ok(app)
}

/// The run's SQS work queue named by `BILLING_RUN_QUEUE_URL`, if any.
pub async fn run_queue_from_env() -> Option<Arc<dyn billing_app::ports::WorkQueue>> {
    work_queue_from_env(billing_sqs::RUN_QUEUE_URL_VAR).await
}

/// Names the invoice runner's work queue for the API, which hands it the runs it started and
/// could not finish within its request.
pub const INVOICE_RUN_QUEUE_URL_VAR: &str = "BILLING_INVOICE_RUN_QUEUE_URL";
/// Names the payment runner's work queue for the API.
pub const PAYMENT_RUN_QUEUE_URL_VAR: &str = "BILLING_PAYMENT_RUN_QUEUE_URL";

/// The SQS work queue whose URL the variable `var` holds, if it is set.
pub async fn work_queue_from_env(var: &str) -> Option<Arc<dyn billing_app::ports::WorkQueue>> {
    billing_sqs::SqsWorkQueue::from_env_var(var)
        .await
        .map(|queue| Arc::new(queue) as Arc<dyn billing_app::ports::WorkQueue>)
}

/// An event sink that reports what `inner` accepted as `events_published` (the events
/// publisher has no `App` whose use cases would).
pub struct MeteredSink<S> {
    inner: S,
    metrics: Arc<dyn Metrics>,
}

impl<S> MeteredSink<S> {
    pub fn new(inner: S, metrics: Arc<dyn Metrics>) -> Self {
        Self { inner, metrics }
    }
}

#[async_trait]
impl<S: EventSink> EventSink for MeteredSink<S> {
    async fn publish(&self, entries: &[AuditEntry]) -> Result<(), AppError> {
        self.inner.publish(entries).await?;
        self.metrics
            .events_published(u64::try_from(entries.len()).unwrap_or(u64::MAX));
        Ok(())
    }
}
