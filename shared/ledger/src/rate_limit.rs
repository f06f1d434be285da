//! Rate-limit windows shared by every process (the API's `TableWindowLimiter`): one counter
//! item per key and window ([`keys::rate_window`]), expired by TTL.

use billing_store::{AttributeValue, Condition, Update};

use crate::error::Result;
use crate::keys;
use crate::ledger::Ledger;

impl Ledger {
    /// Adds `requests` to `key`'s count in the window starting at `window_start` (`ADD`, so
    /// concurrent writers all count) and returns the shared count after it. The item expires
    /// at `expires_at` (epoch seconds).
    pub async fn add_to_rate_window(
        &self,
        key: &str,
        window_start: i64,
        requests: u64,
        expires_at: i64,
    ) -> Result<u64> {
        let update = Update::new()
            .add("count", i64::try_from(requests).unwrap_or(i64::MAX))
            .set("expires_at", AttributeValue::N(expires_at.to_string()));
        let item = self
            .table
            .update(
                &keys::rate_window(key, window_start),
                update,
                Condition::Always,
            )
            .await?;
        Ok(match item.get("count") {
            Some(AttributeValue::N(text)) => text.parse::<u64>().unwrap_or(0),
            _ => 0,
        })
    }
}
