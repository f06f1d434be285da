//! The ports the use cases talk through (DESIGN.md "Ports"): the payment gateway, the usage
//! queue and the event sink. Adapters live with the functions (SQS, EventBridge, Stripe) and
//! in the local runner; the simulated gateway is here because it is a product feature whose
//! rules are in BILLING.md.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use billing_core::Cents;
use billing_core::payment::{SimulatedCharge, simulated_charge};
use billing_core::usage::UsageEvent;
use billing_ledger::AuditEntry;

use crate::error::AppError;

/// One call to the gateway for one payment attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChargeRequest {
    pub invoice_id: String,
    pub user_id: String,
    pub amount_cents: Cents,
    pub currency: String,
    pub payment_method: Option<String>,
    /// Derived from the attempt: the same attempt asked twice is the same charge.
    pub idempotency_key: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChargeOutcome {
    Succeeded {
        gateway_txn_id: String,
    },
    Declined {
        code: String,
        gateway_txn_id: Option<String>,
    },
    /// Timeout, 5xx, rate limit: worth another call inside the same attempt.
    Transient {
        message: String,
    },
    /// The gateway took the charge but has not decided yet (Stripe's `processing`): the attempt
    /// stays pending until the gateway's webhook, or asking again with the same idempotency
    /// key, tells its outcome.
    Pending {
        gateway_txn_id: String,
    },
}

#[async_trait]
pub trait PaymentGateway: Send + Sync {
    /// The gateway's name on payments (`simulated`, `stripe`).
    fn name(&self) -> &'static str;
    async fn charge(&self, request: &ChargeRequest) -> ChargeOutcome;
}

/// The simulated gateway of BILLING.md, deciding by payment method. It remembers how many
/// calls each attempt (idempotency key) made, so `pm_card_flaky` fails the first call of every
/// attempt, and it answers a repeated successful attempt with the same transaction id.
#[derive(Default)]
pub struct SimulatedGateway {
    calls_per_attempt: Mutex<HashMap<String, u32>>,
}

#[async_trait]
impl PaymentGateway for SimulatedGateway {
    fn name(&self) -> &'static str {
        "simulated"
    }

    async fn charge(&self, request: &ChargeRequest) -> ChargeOutcome {
        let call = {
            let mut calls = self
                .calls_per_attempt
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let count = calls.entry(request.idempotency_key.clone()).or_insert(0);
            *count += 1;
            *count
        };
        let txn = format!("sim_{}", request.idempotency_key);
        match simulated_charge(request.payment_method.as_deref(), call) {
            SimulatedCharge::Succeeded => ChargeOutcome::Succeeded {
                gateway_txn_id: txn,
            },
            SimulatedCharge::Declined { code } => ChargeOutcome::Declined {
                code: code.to_owned(),
                gateway_txn_id: Some(txn),
            },
            SimulatedCharge::TransientError => ChargeOutcome::Transient {
                message: "simulated gateway timeout".to_owned(),
            },
        }
    }
}

/// Where accepted usage goes before aggregation: SQS in AWS, a durable queue locally. An
/// accepted batch must be durable when `enqueue` returns: the API answers 202 only then.
#[async_trait]
pub trait UsageQueue: Send + Sync {
    async fn enqueue(&self, events: Vec<UsageEvent>) -> Result<(), AppError>;
}

/// Where a run puts the shards it hands to other invocations: an SQS work queue in AWS (the
/// runner's own trigger). Sent work must be durable when `send` returns.
#[async_trait]
pub trait WorkQueue: Send + Sync {
    async fn send(&self, work: &[crate::runs::ShardWork]) -> Result<(), AppError>;
}

/// Where domain events (audit entries) are published: EventBridge in AWS.
#[async_trait]
pub trait EventSink: Send + Sync {
    async fn publish(&self, entries: &[AuditEntry]) -> Result<(), AppError>;
}

/// Business metrics the use cases report (Prometheus text locally, CloudWatch EMF in Lambda).
/// Every method defaults to doing nothing, so a sink implements what it exports.
pub trait Metrics: Send + Sync {
    fn usage_ingested(&self, _events: u64) {}
    fn usage_aggregated(&self, _counted: u64, _duplicates: u64, _late: u64) {}
    fn invoices_created(&self, _count: u64) {}
    fn payment_recorded(&self, _succeeded: bool) {}
    fn gateway_retry(&self) {}
    /// An attempt left pending by a crash or timeout was asked again.
    fn pending_attempt_resolved(&self) {}
    /// Domain events the event sink accepted.
    fn events_published(&self, _count: u64) {}
}

/// Reports nowhere: for tools and tests that read results instead of metrics.
pub struct NoMetrics;

impl Metrics for NoMetrics {}
