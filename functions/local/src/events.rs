//! The local runner's event sink: where EventBridge would receive the domain events, the local
//! runner writes each one to its log (target `billing::events`, one JSON object per event, the
//! shape of the EventBridge entry's detail) and counts it in `/metrics`. The outbox is drained
//! by the same `publish_outbox` sweep the AWS publisher runs, so events are published at least
//! once and the outbox does not grow.

use std::sync::Arc;

use async_trait::async_trait;
use billing_app::AppError;
use billing_app::ports::{EventSink, Metrics};
use billing_ledger::AuditEntry;

pub struct LoggedEvents {
    metrics: Arc<dyn Metrics>,
}

impl LoggedEvents {
    pub fn new(metrics: Arc<dyn Metrics>) -> Self {
        Self { metrics }
    }
}

#[async_trait]
impl EventSink for LoggedEvents {
    async fn publish(&self, entries: &[AuditEntry]) -> Result<(), AppError> {
        for entry in entries {
            let detail = serde_json::to_string(entry)
                .map_err(|error| AppError::internal("an event is not JSON", error))?;
            tracing::info!(target: "billing::events", source = "billing", detail_type = entry.action.as_str(), %detail, "event");
        }
        self.metrics
            .events_published(u64::try_from(entries.len()).unwrap_or(u64::MAX));
        Ok(())
    }
}
