//! The health check's read: is the table there and answering?

use crate::error::Result;
use crate::keys;
use crate::ledger::Ledger;

impl Ledger {
    /// Reads [`keys::health_probe`], an item that never exists: `Ok` when the store answered,
    /// the store's error otherwise. The caller bounds how long it waits.
    pub async fn probe(&self) -> Result<()> {
        self.table.get(&keys::health_probe()).await?;
        Ok(())
    }
}
