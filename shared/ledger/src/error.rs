use billing_store::StoreError;
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
}

pub type Result<T, E = LedgerError> = std::result::Result<T, E>;
