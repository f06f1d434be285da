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
