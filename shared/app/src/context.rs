//! The application: the ledger, the clock and the ports every use case needs, built once at
//! start-up by each entry point (Lambda `main.rs`, the local runner, the tests).

use std::sync::Arc;

use billing_core::payment::{DunningSchedule, TransientRetry};
use billing_ledger::Ledger;

use crate::clock::Clock;
use crate::ports::{Metrics, PaymentGateway, UsageQueue};

#[derive(Clone)]
pub struct App {
    pub ledger: Ledger,
    pub clock: Arc<dyn Clock>,
    pub gateway: Arc<dyn PaymentGateway>,
    pub usage_queue: Arc<dyn UsageQueue>,
    pub metrics: Arc<dyn Metrics>,
    pub dunning: DunningSchedule,
    pub transient_retry: TransientRetry,
    /// How long one payment attempt holds its invoice's lease: longer than the gateway calls
    /// of an attempt can take, so only a dead holder's lease ever expires.
    pub payment_lease_seconds: i64,
    /// Usage claims an aggregation pass keeps in flight at once (issue 18): the embedded store
    /// folds them into one fsync'd commit per writer batch, DynamoDB answers them in parallel.
    /// DynamoDB Local, a single-process emulator, times out on its own locks with many
    /// concurrent passes at this width; its multi-pass tests use less.
    pub usage_claims_in_flight: usize,
    /// Chunk transactions of a pass in flight at once (the embedded writer folds them into one
    /// commit; DynamoDB runs them side by side, resending one that met another).
    pub usage_chunks_in_flight: usize,
    /// Renewals or payment attempts of one shard in flight at once in a run of this process
    /// (`runs::DEFAULT_CONCURRENCY`; the local runner uses `runs::EMBEDDED_CONCURRENCY`).
    pub run_concurrency: usize,
}

/// The default width of an aggregation pass's claims (the embedded writer's batch, twice).
pub const USAGE_CLAIMS_IN_FLIGHT: usize = 1_024;
/// The default number of a pass's chunk transactions in flight.
pub const USAGE_CHUNKS_IN_FLIGHT: usize = 64;

/// The default payment lease: three gateway calls with their timeouts and backoff fit well.
pub const PAYMENT_LEASE_SECONDS: i64 = 120;

impl App {
    /// The app on `ledger` with what every setup without AWS shares: the simulated gateway of
    /// BILLING.md, the durable usage queue in the table, the default dunning schedule and
    /// in-attempt retries, and no metrics ([`App::with_metrics`] adds a sink).
    pub fn local(ledger: Ledger, clock: Arc<dyn Clock>) -> Self {
        Self {
            usage_queue: Arc::new(crate::queue::LedgerUsageQueue::new(ledger.clone())),
            ledger,
            clock,
            gateway: Arc::new(crate::ports::SimulatedGateway::default()),
            metrics: Arc::new(crate::ports::NoMetrics),
            dunning: DunningSchedule::default(),
            transient_retry: TransientRetry::default(),
            payment_lease_seconds: PAYMENT_LEASE_SECONDS,
            usage_claims_in_flight: USAGE_CLAIMS_IN_FLIGHT,
            usage_chunks_in_flight: USAGE_CHUNKS_IN_FLIGHT,
            run_concurrency: crate::runs::DEFAULT_CONCURRENCY,
        }
    }

    #[must_use]
    pub fn with_metrics(mut self, metrics: Arc<dyn crate::ports::Metrics>) -> Self {
        self.metrics = metrics;
        self
    }
}

/// Who made a change, for the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor(pub String);

impl Actor {
    pub fn token(token_id: &str) -> Self {
        Self(format!("token:{token_id}"))
    }

    pub fn system(job: &str) -> Self {
        Self(format!("system:{job}"))
    }
}
