//! What every Lambda's `main.rs` shares, so each of them only wires its handler: JSON logs for
//! CloudWatch, metrics as CloudWatch EMF ([`emf`]), one typed configuration read at start
//! ([`LambdaConfig`]), and the app on the DynamoDB table named by `BILLING_TABLE` (the clients
//! are built once per cold start and reused by every invocation).

pub mod emf;
pub mod runs;
pub mod sqs;

use std::sync::Arc;

use async_trait::async_trait;
use billing_app::clock::Clock;
use billing_app::ports::{EventSink, Metrics, PaymentGateway, WorkQueue};
use billing_app::{App, AppError};
use billing_core::payment::DunningSchedule;
use billing_ledger::{AuditEntry, Ledger};
use billing_store::{DynamoDbTable, Table, client_from_env};

pub const TABLE_VAR: &str = "BILLING_TABLE";
/// Where the SDK finds DynamoDB (DynamoDB Local in tests); unset, AWS's own endpoint.
pub const DYNAMODB_ENDPOINT_VAR: &str = "AWS_ENDPOINT_URL_DYNAMODB";
/// Names the invoice runner's work queue for the API, which hands it the runs it started and
/// could not finish within its request.
pub const INVOICE_RUN_QUEUE_URL_VAR: &str = "BILLING_INVOICE_RUN_QUEUE_URL";
/// Names the payment runner's work queue for the API.
pub const PAYMENT_RUN_QUEUE_URL_VAR: &str = "BILLING_PAYMENT_RUN_QUEUE_URL";

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

/// Why a Lambda could not start. Every message starts with the variable at fault; an error of
/// the crate that read it is kept as the source.
#[derive(Debug, thiserror::Error)]
pub enum LambdaError {
    #[error("{variable}: {problem}")]
    Config {
        variable: &'static str,
        problem: String,
    },
    /// `BILLING_PAYMENT_GATEWAY` and the Stripe settings.
    #[error(transparent)]
    Gateway(#[from] billing_stripe::StripeError),
    /// `BILLING_PAYMENT_RETRY_SCHEDULE`.
    #[error(transparent)]
    Dunning(AppError),
}

/// What the Lambdas read from their environment (template.yaml sets it), once, at start:
/// each function uses the part it needs. (The events publisher's bus, `BILLING_EVENT_BUS`, is
/// read by `billing_eventbridge::EventBridgeSink::from_env`, whose error names it.)
pub struct LambdaConfig {
    /// `BILLING_TABLE`, required.
    pub table: String,
    /// `AWS_ENDPOINT_URL_DYNAMODB` (the SDK reads it too; here for the start-up log).
    pub dynamodb_endpoint: Option<String>,
    /// `BILLING_PAYMENT_GATEWAY` (`STRIPE_API_KEY` set from Secrets Manager by the template).
    pub gateway: Arc<dyn PaymentGateway>,
    /// `BILLING_PAYMENT_RETRY_SCHEDULE`.
    pub dunning: DunningSchedule,
    /// `BILLING_USAGE_QUEUE_URL`: the API's SQS usage queue; unset, usage queues in the table.
    pub usage_queue_url: Option<String>,
    /// `BILLING_RUN_QUEUE_URL`: a runner's own work queue; unset, it does not fan out.
    pub run_queue_url: Option<String>,
    /// `BILLING_INVOICE_RUN_QUEUE_URL` and `BILLING_PAYMENT_RUN_QUEUE_URL`: the API's.
    pub invoice_run_queue_url: Option<String>,
    pub payment_run_queue_url: Option<String>,
}

impl std::fmt::Debug for LambdaConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LambdaConfig")
            .field("table", &self.table)
            .field("dynamodb_endpoint", &self.dynamodb_endpoint)
            .field("gateway", &self.gateway.name())
            .field("dunning", &self.dunning)
            .field("usage_queue_url", &self.usage_queue_url)
            .field("run_queue_url", &self.run_queue_url)
            .field("invoice_run_queue_url", &self.invoice_run_queue_url)
            .field("payment_run_queue_url", &self.payment_run_queue_url)
            .finish()
    }
}

impl LambdaConfig {
    pub fn from_env() -> Result<Self, LambdaError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the configuration through `lookup` (the environment, or a map in tests). Empty
    /// values count as unset.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, LambdaError> {
        let read = |name: &str| {
            lookup(name)
                .map(|value| value.trim().to_owned())
                .filter(|value| !value.is_empty())
        };
        let table = read(TABLE_VAR).ok_or_else(|| LambdaError::Config {
            variable: TABLE_VAR,
            problem: "is not set".to_owned(),
        })?;
        Ok(Self {
            table,
            dynamodb_endpoint: read(DYNAMODB_ENDPOINT_VAR),
            gateway: billing_stripe::gateway_from_lookup(&lookup)?,
            dunning: billing_app::config::dunning_from_lookup(&lookup)
                .map_err(LambdaError::Dunning)?,
            usage_queue_url: read(billing_sqs::QUEUE_URL_VAR),
            run_queue_url: read(billing_sqs::RUN_QUEUE_URL_VAR),
            invoice_run_queue_url: read(INVOICE_RUN_QUEUE_URL_VAR),
            payment_run_queue_url: read(PAYMENT_RUN_QUEUE_URL_VAR),
        })
    }

    /// The DynamoDB table `BILLING_TABLE` names (the SDK reads region, credentials and the
    /// endpoint from the environment).
    pub async fn table(&self) -> Arc<dyn Table> {
        let endpoint = self.dynamodb_endpoint.as_deref().unwrap_or("aws");
        tracing::info!(table = %self.table, %endpoint, "store");
        Arc::new(DynamoDbTable::new(
            client_from_env().await,
            self.table.clone(),
        ))
    }

    /// The app on `table` with `clock`, this configuration's payment gateway and dunning
    /// schedule, and the SQS usage queue when `BILLING_USAGE_QUEUE_URL` names one (the API's;
    /// without it accepted usage queues in the table, as in the local runner). The use cases
    /// report to `metrics` (the function's [`emf::EmfMetrics`]).
    pub async fn app(
        &self,
        table: Arc<dyn Table>,
        clock: Arc<dyn Clock>,
        metrics: Arc<dyn Metrics>,
    ) -> App {
        let mut app = App::local(Ledger::new(table), clock).with_metrics(metrics);
        app.gateway = self.gateway.clone();
        app.dunning = self.dunning.clone();
        if let Some(url) = &self.usage_queue_url {
            tracing::info!(queue_url = %url, "usage queue");
            app.usage_queue = Arc::new(billing_sqs::SqsUsageQueue::new(
                billing_sqs::client_from_env().await,
                url.clone(),
            ));
        }
        tracing::info!(gateway = app.gateway.name(), "payment gateway");
        app
    }

    /// The work queue at `url`, if one is configured (`run_queue_url`, or the API's
    /// `invoice_run_queue_url` and `payment_run_queue_url`).
    pub async fn work_queue(url: Option<&str>) -> Option<Arc<dyn WorkQueue>> {
        let url = url?;
        tracing::info!(queue_url = %url, "run work queue");
        Some(Arc::new(billing_sqs::SqsWorkQueue::new(
            billing_sqs::client_from_env().await,
            url,
        )))
    }
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
