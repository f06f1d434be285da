//! The ledger: [`Ledger::commit`] for the writes a [`Change`] collected, and the reads every
//! aggregate's module builds on (one entity, a page of a list, a due list, a whole
//! partition). Each aggregate's reads are `impl Ledger` blocks in its own module (`users`,
//! `plans`, `subscriptions`, `invoices`, `usage`, `audit`, `token`, `dashboard`, `runs`…),
//! by the access patterns of docs/data-model.md.

use std::sync::Arc;

use billing_core::Timestamp;
use billing_store::limits::TRANSACT_ITEMS_MAX;
use billing_store::{
    CancellationReason, Direction, Index, Item, Key, Query, SortKeyCondition, StoreError, Table,
    TransactItem,
};
use serde::de::DeserializeOwned;

use crate::change::Change;
use crate::error::{Conflict, LedgerError, Result};
use crate::invoices::Numbering;
use crate::keys::sortable;
use crate::record::{Versioned, from_item, required, string_attribute, versioned};

/// Largest page a list returns.
pub const PAGE_LIMIT_MAX: usize = 100;
/// How many items one filtered list may examine before it returns a short page with a cursor.
const FILTER_SCAN_MAX: usize = 1_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    pub limit: usize,
    pub cursor: Option<String>,
}

impl PageRequest {
    pub fn first(limit: usize) -> Self {
        Self {
            limit,
            cursor: None,
        }
    }
}

/// One page of a list, newest first unless the access pattern says otherwise.
#[derive(Debug, Clone, PartialEq)]
pub struct Listing<T> {
    pub data: Vec<T>,
    pub next_cursor: Option<String>,
}

#[derive(Clone)]
pub struct Ledger {
    /// The one way to the table: nothing above the ledger holds it.
    pub(crate) table: Arc<dyn Table>,
    /// This process's turn on the invoice-number counter (see [`Ledger::numbering_turn`]).
    pub(crate) numbering: Arc<Numbering>,
}

impl Ledger {
    pub fn new(table: Arc<dyn Table>) -> Self {
        Self {
            table,
            numbering: Arc::new(Numbering::default()),
        }
    }

    /// The table under the ledger, for tests that edit items by hand or wrap the table in
    /// faults (feature `testing`): production code above the ledger never reaches it.
    #[cfg(feature = "testing")]
    pub fn table(&self) -> &Arc<dyn Table> {
        &self.table
    }

    /// Applies every write of `change` or none. A single write is sent on its own (a
    /// transaction costs twice the write units per item); more go in one transaction.
    pub async fn commit(&self, mut change: Change) -> Result<()> {
        let numbered = change.take_numbers();
        let mut writes = change.take_writes();
        match writes.len() {
            0 => Ok(()),
            1 => {
                let (write, conflict) = writes.remove(0);
                let outcome = match write {
                    TransactItem::Put { item, condition } => self.table.put(item, condition).await,
                    TransactItem::Update {
                        key,
                        update,
                        condition,
                    } => self.table.update(&key, update, condition).await.map(|_| ()),
                    TransactItem::Delete { key, condition } => {
                        self.table.delete(&key, condition).await
                    }
                    check @ TransactItem::ConditionCheck { .. } => {
                        self.table.transact_write(vec![check]).await
                    }
                };
                outcome.map_err(|error| match (error, conflict) {
                    (StoreError::ConditionFailed, Some(conflict)) => {
                        LedgerError::Conflict(conflict)
                    }
                    (StoreError::TransactionCanceled { .. }, Some(conflict)) => {
                        LedgerError::Conflict(conflict)
                    }
                    (error, _) => LedgerError::Store(error),
                })
            }
            count if count > TRANSACT_ITEMS_MAX => Err(LedgerError::ChangeTooLarge {
                count,
                max: TRANSACT_ITEMS_MAX,
            }),
            _ => {
                let (items, conflicts): (Vec<_>, Vec<_>) = writes.into_iter().unzip();
                let outcome = match numbered {
                    Some(taken) => self.transact_numbered(items, taken).await,
                    None => self.table.transact_write(items).await,
                };
                match outcome {
                    Ok(()) => Ok(()),
                    Err(StoreError::TransactionCanceled { reasons }) => {
                        let mut failed: Vec<Conflict> = reasons
                            .iter()
                            .zip(conflicts)
                            .filter(|(reason, _)| **reason == CancellationReason::ConditionFailed)
                            .filter_map(|(_, conflict)| conflict)
                            .collect();
                        match failed.len() {
                            0 => Err(LedgerError::Store(StoreError::TransactionCanceled {
                                reasons,
                            })),
                            1 => Err(LedgerError::Conflict(failed.swap_remove(0))),
                            _ => Err(LedgerError::Conflicts(failed)),
                        }
                    }
                    Err(error) => Err(LedgerError::Store(error)),
                }
            }
        }
    }

    pub(crate) async fn get_versioned<T: DeserializeOwned>(
        &self,
        entity: &'static str,
        key: Key,
    ) -> Result<Option<Versioned<T>>> {
        match self.table.get(&key).await? {
            Some(item) => Ok(Some(versioned(entity, item)?)),
            None => Ok(None),
        }
    }

    /// One page of `partition` of `index`, newest first, keeping the items `keep` accepts.
    pub(crate) async fn list<T: DeserializeOwned>(
        &self,
        entity: &'static str,
        index: Index,
        partition: String,
        sort: SortKeyCondition,
        page: &PageRequest,
        keep: impl Fn(&T) -> bool,
    ) -> Result<Listing<T>> {
        self.list_in(
            Direction::Backward,
            entity,
            index,
            partition,
            sort,
            page,
            keep,
        )
        .await
    }

    /// [`Ledger::list`] in sort-key order `direction`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn list_in<T: DeserializeOwned>(
        &self,
        direction: Direction,
        entity: &'static str,
        index: Index,
        partition: String,
        sort: SortKeyCondition,
        page: &PageRequest,
        keep: impl Fn(&T) -> bool,
    ) -> Result<Listing<T>> {
        let limit = page.limit.clamp(1, PAGE_LIMIT_MAX);
        let mut data = Vec::with_capacity(limit);
        let mut cursor = page.cursor.clone();
        let mut examined = 0;
        loop {
            // Never ask for more than is still missing: the page's cursor then never skips a
            // match that did not fit.
            let query = Query::partition(index, partition.clone(), limit - data.len())
                .sort(sort.clone())
                .direction(direction)
                .after(cursor.take());
            let found = self.table.query(query).await?;
            examined += found.items.len();
            for item in found.items {
                let value: T = from_item(entity, item)?;
                if keep(&value) {
                    data.push(value);
                }
            }
            cursor = found.next;
            if data.len() >= limit || cursor.is_none() || examined >= FILTER_SCAN_MAX {
                return Ok(Listing {
                    data,
                    next_cursor: cursor,
                });
            }
        }
    }

    pub(crate) async fn due(
        &self,
        index: Index,
        partition: String,
        now: Timestamp,
        limit: usize,
        cursor: Option<String>,
    ) -> Result<(Vec<String>, Option<String>)> {
        // "{instant}#{id}" ≤ "{now}#~": every id sorts below '~'.
        let query = Query::partition(index, partition, limit.clamp(1, PAGE_LIMIT_MAX))
            .sort(SortKeyCondition::LessOrEqual(format!(
                "{}#~",
                sortable(now)
            )))
            .after(cursor);
        let page = self.table.query(query).await?;
        let ids = page
            .items
            .iter()
            .map(|item| required("due", item, "id", string_attribute("due", item, "id")?))
            .collect::<Result<_>>()?;
        Ok((ids, page.next))
    }

    /// Every item of `partition` matching `sort`, forwards, all pages.
    pub(crate) async fn query_all(
        &self,
        partition: String,
        sort: SortKeyCondition,
    ) -> Result<Vec<Item>> {
        let mut items = Vec::new();
        let mut cursor = None;
        loop {
            let query = Query::partition(Index::Primary, partition.clone(), PAGE_LIMIT_MAX)
                .sort(sort.clone())
                .after(cursor);
            let page = self.table.query(query).await?;
            items.extend(page.items);
            match page.next {
                Some(next) => cursor = Some(next),
                None => return Ok(items),
            }
        }
    }
}
