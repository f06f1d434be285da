//! The durable usage queue of the local runner: accepted batches are items of the table (one
//! group-committed write per request), drained by the same aggregation code the SQS function
//! runs. In AWS the queue is SQS (`functions/`), behind the same [`UsageQueue`] port.

use async_trait::async_trait;
use billing_core::usage::UsageEvent;
use billing_ledger::Ledger;
use chrono::Utc;

use crate::error::AppError;
use crate::ids;
use crate::ports::UsageQueue;

pub struct LedgerUsageQueue {
    ledger: Ledger,
}

impl LedgerUsageQueue {
    pub fn new(ledger: Ledger) -> Self {
        Self { ledger }
    }
}

#[async_trait]
impl UsageQueue for LedgerUsageQueue {
    async fn enqueue(&self, events: Vec<UsageEvent>) -> Result<(), AppError> {
        // Queue order is arrival order (system time, nanoseconds): the first accepted copy of
        // an event is the first aggregated, so it is the one that counts.
        let batch_id = ids::new_id("ub");
        let arrival = Utc::now()
            .timestamp_nanos_opt()
            .map_or(0, |n| u128::try_from(n).unwrap_or(0));
        self.ledger
            .enqueue_usage(&batch_id, arrival, &events)
            .await
            .map_err(AppError::from)
    }
}
