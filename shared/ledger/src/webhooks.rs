//! Gateway webhooks: one marker per processed event, so a redelivery changes nothing.

use billing_core::Timestamp;

use crate::change::Change;
use crate::error::{Conflict, Result};
use crate::keys::{self, sortable};
use crate::ledger::Ledger;

impl Ledger {
    pub async fn webhook_processed(&self, event_id: &str) -> Result<bool> {
        Ok(self
            .table
            .get(&keys::webhook_event(event_id))
            .await?
            .is_some())
    }
}

impl Change {
    /// Processes a gateway event once: a redelivery fails this guard and changes nothing.
    pub fn mark_webhook_processed(&mut self, event_id: &str, at: Timestamp) -> Result<()> {
        self.claim(
            "webhook_event",
            serde_json::json!({"event_id": event_id, "at": sortable(at)}),
            keys::webhook_event(event_id),
            Conflict::WebhookEventProcessed {
                event_id: event_id.to_owned(),
            },
        )
    }
}
