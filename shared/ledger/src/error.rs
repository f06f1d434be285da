use billing_store::{CancellationReason, StoreError};
use thiserror::Error;

/// Which guard of a write lost its race: the typed reason a [`crate::Change`] was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Conflict {
    /// Another user has this email (case-insensitively).
    EmailTaken,
    PlanCodeTaken,
    /// The user already has a live subscription to this plan.
    PlanAlreadySubscribed {
        plan_code: String,
    },
    /// Another live subscription of the user prices this metric.
    MetricClaimed {
        metric: String,
    },
    /// The invoice for this (subscription, reason, period start) already exists.
    InvoiceExists {
        invoice_id: String,
    },
    /// Someone else took the next invoice numbers first: re-read the counter and retry.
    InvoiceNumberTaken,
    /// The entity changed since it was read (optimistic lock): re-read and retry.
    Stale {
        entity: &'static str,
        id: String,
    },
    /// The entity does not exist (any more).
    Missing {
        entity: &'static str,
        id: String,
    },
    PaymentRecorded {
        invoice_id: String,
    },
    /// This usage batch was added to the sums already.
    UsageBatchApplied,
    /// The usage period is sealed for billing: the usage is late.
    UsagePeriodSealed,
    WebhookEventProcessed {
        event_id: String,
    },
    /// Another holder has this lease.
    LeaseHeld,
    IdempotencyKeyTaken,
    /// This shard of the run was counted done already (its message was delivered again).
    RunShardDone {
        shard: u32,
    },
    TokenExists,
    ClockMovedBackwards,
}

#[derive(Debug, Error)]
pub enum LedgerError {
    #[error("write refused: {0:?}")]
    Conflict(Conflict),

    /// Several guards failed at once (every failed guard is listed, in request order).
    #[error("write refused: {0:?}")]
    Conflicts(Vec<Conflict>),

    #[error("a change may hold at most {max} writes, this one has {count}")]
    ChangeTooLarge { count: usize, max: usize },

    /// A stored item does not decode: a bug or a manual edit, never a client error, and never
    /// read as a default (a usage sum read as 0 would under-bill silently). `key` is the item's
    /// (`pk / sk`), for the log.
    #[error("stored {entity} item {key} does not decode: {message}")]
    Corrupt {
        entity: &'static str,
        key: String,
        message: String,
    },

    #[error(transparent)]
    Store(#[from] StoreError),
}

impl LedgerError {
    /// The corruption error of `entity` stored as `item`.
    pub(crate) fn corrupt(
        entity: &'static str,
        item: &billing_store::Item,
        message: impl Into<String>,
    ) -> Self {
        let key = billing_store::Key::of_item(item)
            .map_or_else(|| "(no key)".to_owned(), |k| format!("{} / {}", k.pk, k.sk));
        Self::Corrupt {
            entity,
            key,
            message: message.into(),
        }
    }

    /// Every conflict this error reports (empty when it is not a conflict).
    pub fn conflicts(&self) -> Vec<Conflict> {
        match self {
            Self::Conflict(conflict) => vec![conflict.clone()],
            Self::Conflicts(conflicts) => conflicts.clone(),
            _ => Vec::new(),
        }
    }

    /// True when `pred` matches one of the conflicts.
    pub fn has_conflict(&self, pred: impl Fn(&Conflict) -> bool) -> bool {
        self.conflicts().iter().any(pred)
    }

    /// A list was asked for a page with a cursor it never handed out (edited, or another
    /// list's): the client's mistake, not the ledger's.
    pub fn is_invalid_cursor(&self) -> bool {
        matches!(self, Self::Store(StoreError::InvalidCursor))
    }

    /// The store's backend failed (unreachable, throttled, timed out): what it said, for a
    /// "retry shortly" answer. `None` for every other error.
    pub fn unavailable(&self) -> Option<&str> {
        match self {
            Self::Store(StoreError::Backend { message, .. }) => Some(message),
            _ => None,
        }
    }

    /// The write was canceled by the store without a guard of the change failing (another
    /// transaction held an item, or DynamoDB canceled it for a reason of its own): nothing was
    /// written and the same use case may simply run again.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::Store(StoreError::TransactionConflict | StoreError::TransactionCanceled { .. })
        )
    }

    /// The commit failed only because another transaction held one of its items: it wrote
    /// nothing, no condition of it failed, and the very same change may be sent again.
    pub fn met_another_transaction(&self) -> bool {
        match self {
            Self::Store(StoreError::TransactionConflict) => true,
            Self::Store(StoreError::TransactionCanceled { reasons }) => {
                reasons.contains(&CancellationReason::TransactionConflict)
                    && !reasons.contains(&CancellationReason::ConditionFailed)
            }
            _ => false,
        }
    }
}

pub type Result<T, E = LedgerError> = std::result::Result<T, E>;
