//! The test clock: one item holding the simulated now, which only moves forward.

use billing_core::Timestamp;
use billing_store::{Condition, StoreError};

use crate::error::{Conflict, LedgerError, Result};
use crate::keys::{self, sortable};
use crate::ledger::Ledger;
use crate::record::{required, s, string_attribute, to_item};

impl Ledger {
    /// The stored test clock, if it was ever set.
    pub async fn test_clock(&self) -> Result<Option<Timestamp>> {
        let Some(item) = self.table.get(&keys::test_clock()).await? else {
            return Ok(None);
        };
        let now = required(
            "test_clock",
            &item,
            "now",
            string_attribute("test_clock", &item, "now")?,
        )?;
        now.parse().map(Some).map_err(|_| {
            LedgerError::corrupt(
                "test_clock",
                &item,
                format!("now is not an instant: {now:?}"),
            )
        })
    }

    /// Moves the test clock from `previous` (what was read) to `now`; it never moves back.
    pub async fn set_test_clock(&self, previous: Option<Timestamp>, now: Timestamp) -> Result<()> {
        if previous.is_some_and(|p| now < p) {
            return Err(LedgerError::Conflict(Conflict::ClockMovedBackwards));
        }
        let condition = match previous {
            None => Condition::NotExists,
            Some(p) => Condition::AttributeEquals("now".into(), s(sortable(p))),
        };
        let item = to_item(
            "test_clock",
            &serde_json::json!({"now": sortable(now)}),
            &keys::test_clock(),
            None,
            vec![],
        )?;
        self.table
            .put(item, condition)
            .await
            .map_err(|error| match error {
                StoreError::ConditionFailed => LedgerError::Conflict(Conflict::Stale {
                    entity: "test_clock",
                    id: "test".into(),
                }),
                error => LedgerError::Store(error),
            })
    }
}
