use thiserror::Error;

/// Why one action of a canceled transaction failed, position for position with the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CancellationReason {
    /// This action was fine; another one canceled the transaction.
    None,
    /// This action's condition did not hold.
    ConditionFailed,
    /// Another transaction or write touched this item at the same time (DynamoDB only; retry).
    TransactionConflict,
    /// Any other DynamoDB cancellation code (throttling, validation…), kept verbatim.
    Other { code: String },
}

/// Every failure of the store. Lost races are typed variants (`ConditionFailed`,
/// `TransactionCanceled`) so callers match on them instead of reading messages.
#[derive(Debug, Error)]
pub enum StoreError {
    #[error("the write's condition did not hold")]
    ConditionFailed,

    #[error("the transaction was canceled: {reasons:?}")]
    TransactionCanceled { reasons: Vec<CancellationReason> },

    #[error("the item was being changed by a concurrent transaction; retry")]
    TransactionConflict,

    #[error("a transaction may hold at most {max} actions, got {count}")]
    TooManyTransactItems { count: usize, max: usize },

    #[error("the item is {size_bytes} bytes, more than the {max_bytes} bytes allowed")]
    ItemTooLarge { size_bytes: usize, max_bytes: usize },

    #[error("invalid request: {0}")]
    InvalidRequest(String),

    #[error("the query cursor is not one this query handed out")]
    InvalidCursor,

    #[error("{backend} backend failed: {message}")]
    Backend {
        backend: &'static str,
        message: String,
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
}

impl StoreError {
    /// True for the outcomes of a lost race: a failed condition, alone or inside a transaction.
    pub fn is_condition_failed(&self) -> bool {
        match self {
            Self::ConditionFailed => true,
            Self::TransactionCanceled { reasons } => {
                reasons.contains(&CancellationReason::ConditionFailed)
            }
            _ => false,
        }
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self::InvalidRequest(message.into())
    }

    pub(crate) fn backend(
        backend: &'static str,
        message: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self::Backend {
            backend,
            message: message.into(),
            source: Some(Box::new(source)),
        }
    }
}
