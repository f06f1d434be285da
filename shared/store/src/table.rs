use crate::error::StoreError;
use crate::model::{Condition, Key, Page, Query, TransactItem, Update};
use async_trait::async_trait;
use serde_dynamo::Item;
use std::future::Future;
use std::pin::Pin;

/// The outcome of a write that was submitted in order (see [`Table::transact_write_in_order`]).
pub type PendingWrite = Pin<Box<dyn Future<Output = Result<(), StoreError>> + Send>>;

/// The storage port: one DynamoDB-shaped table (see `docs/data-model.md`).
///
/// Semantics both backends guarantee (checked by `tests/store/conformance.rs`):
/// - reads are strongly consistent on the primary key (GSI queries are eventually consistent
///   in AWS, immediate locally);
/// - items whose `expires_at` has passed are absent for reads and conditions;
/// - each write is atomic and conditional; a transaction applies all of its actions or none;
/// - an `Ok` write is durable (DynamoDB: replicated; embedded: fsync'd).
#[async_trait]
pub trait Table: Send + Sync {
    /// The live item with this key, if any.
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError>;

    /// Writes the whole item (replacing any item with its key) if `condition` holds.
    async fn put(&self, item: Item, condition: Condition) -> Result<(), StoreError>;

    /// Applies `update` (creating the item if absent) if `condition` holds; returns the item
    /// as it is after the update.
    async fn update(
        &self,
        key: &Key,
        update: Update,
        condition: Condition,
    ) -> Result<Item, StoreError>;

    /// Deletes the item (deleting an absent item succeeds) if `condition` holds.
    async fn delete(&self, key: &Key, condition: Condition) -> Result<(), StoreError>;

    /// Applies 1..=`TRANSACT_ITEMS_MAX` actions on distinct keys all together or not at all.
    /// A failed condition is `StoreError::TransactionCanceled` with one reason per action.
    async fn transact_write(&self, items: Vec<TransactItem>) -> Result<(), StoreError>;

    /// Submits a transaction like [`Table::transact_write`] and returns once its place among
    /// this table's writes is fixed: every write submitted after it (by any caller) is applied
    /// after it, its conditions evaluated on the state this one leaves. The returned future is
    /// the outcome. A caller can thus hand the next conditional write on (say, the next invoice
    /// number) without waiting for this one's commit. The default applies the transaction
    /// before returning (DynamoDB does not order concurrent writes); the embedded backend
    /// queues it for its writer, which applies writes in the order they were queued.
    async fn transact_write_in_order(
        &self,
        items: Vec<TransactItem>,
    ) -> Result<PendingWrite, StoreError> {
        let outcome = self.transact_write(items).await;
        Ok(Box::pin(std::future::ready(outcome)))
    }

    /// Whether [`Table::transact_write_in_order`] returns before the write is applied (its
    /// place fixed, its outcome still to come): true for the embedded backend only.
    fn orders_writes(&self) -> bool {
        false
    }

    /// One page of a query of one partition of an index, in sort-key order.
    async fn query(&self, query: Query) -> Result<Page, StoreError>;
}
