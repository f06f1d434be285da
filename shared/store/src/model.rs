//! The vocabulary of the port: keys, typed conditions, updates, transactions and queries.
//! Nothing here knows about a backend.

use crate::schema::{PARTITION_KEY, SORT_KEY};
use serde_dynamo::{AttributeValue, Item};

/// The primary key of an item: string `pk` and `sk`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    pub pk: String,
    pub sk: String,
}

impl Key {
    pub fn new(pk: impl Into<String>, sk: impl Into<String>) -> Self {
        Self {
            pk: pk.into(),
            sk: sk.into(),
        }
    }

    /// The key of `item`, if it has string `pk` and `sk` attributes.
    pub fn of_item(item: &Item) -> Option<Self> {
        match (item.get(PARTITION_KEY), item.get(SORT_KEY)) {
            (Some(AttributeValue::S(pk)), Some(AttributeValue::S(sk))) => {
                Some(Self::new(pk.clone(), sk.clone()))
            }
            _ => None,
        }
    }
}

/// A precondition on the current item with the same key. Expired items (see `ttl`) count as
/// absent. A failed condition is `StoreError::ConditionFailed` (or a
/// `CancellationReason::ConditionFailed` inside a transaction), never a message to parse.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// No precondition.
    Always,
    /// No live item has this key.
    NotExists,
    /// A live item has this key.
    Exists,
    /// A live item has this key and its numeric `version` attribute equals the given value
    /// (optimistic locking: write `version + 1` with `VersionEquals(version)`).
    VersionEquals(u64),
    /// A live item has this key and attribute `name` equals `value` (type and value).
    AttributeEquals(String, AttributeValue),
}

/// One action of an update. Key attributes (`pk`, `sk`) cannot be updated, and one update may
/// touch each attribute once, as in DynamoDB.
#[derive(Debug, Clone, PartialEq)]
pub enum UpdateAction {
    /// Set the attribute to the value.
    Set(String, AttributeValue),
    /// Remove the attribute (no effect when absent).
    Remove(String),
    /// Add to a numeric attribute; an absent attribute counts as 0.
    Add(String, i64),
}

/// An update of some attributes of one item, built with [`Update::set`], [`Update::remove`]
/// and [`Update::add`]. Like DynamoDB's `UpdateItem`, it creates the item when none exists
/// (use `Condition::Exists` to forbid that).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Update {
    pub actions: Vec<UpdateAction>,
}

impl Update {
    pub fn new() -> Self {
        Self::default()
    }

    #[must_use]
    pub fn set(mut self, name: impl Into<String>, value: AttributeValue) -> Self {
        self.actions.push(UpdateAction::Set(name.into(), value));
        self
    }

    #[must_use]
    pub fn remove(mut self, name: impl Into<String>) -> Self {
        self.actions.push(UpdateAction::Remove(name.into()));
        self
    }

    #[must_use]
    pub fn add(mut self, name: impl Into<String>, delta: i64) -> Self {
        self.actions.push(UpdateAction::Add(name.into(), delta));
        self
    }
}

/// One action of an all-or-nothing transaction.
#[derive(Debug, Clone, PartialEq)]
pub enum TransactItem {
    Put {
        item: Item,
        condition: Condition,
    },
    Update {
        key: Key,
        update: Update,
        condition: Condition,
    },
    Delete {
        key: Key,
        condition: Condition,
    },
    /// Writes nothing; cancels the transaction unless the condition holds.
    ConditionCheck {
        key: Key,
        condition: Condition,
    },
}

impl TransactItem {
    /// The key this action touches (`None` for a put whose item lacks a key: a validation error).
    pub fn key(&self) -> Option<Key> {
        match self {
            Self::Put { item, .. } => Key::of_item(item),
            Self::Update { key, .. }
            | Self::Delete { key, .. }
            | Self::ConditionCheck { key, .. } => Some(key.clone()),
        }
    }
}

/// Which key a query runs on: the table's own (`pk`, `sk`) or one of the overloaded GSIs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Index {
    Primary,
    Gsi1,
    Gsi2,
    Gsi3,
    Gsi4,
    Gsi5,
}

/// A condition on the sort key of the queried index (DynamoDB's key condition operators).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SortKeyCondition {
    All,
    Equals(String),
    BeginsWith(String),
    /// Inclusive on both ends, as DynamoDB's `BETWEEN`.
    Between(String, String),
    LessThan(String),
    LessOrEqual(String),
    GreaterThan(String),
    GreaterOrEqual(String),
}

/// Sort-key order of a query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Forward,
    Backward,
}

/// A query of one partition of an index.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    pub index: Index,
    pub partition: String,
    pub sort: SortKeyCondition,
    pub direction: Direction,
    /// Items per page, `1..=PAGE_SIZE_MAX`.
    pub limit: usize,
    /// The `next` of the previous page of the same query.
    pub cursor: Option<String>,
}

impl Query {
    /// A forward query of a whole partition of `index`, at most `limit` items per page.
    pub fn partition(index: Index, partition: impl Into<String>, limit: usize) -> Self {
        Self {
            index,
            partition: partition.into(),
            sort: SortKeyCondition::All,
            direction: Direction::Forward,
            limit,
            cursor: None,
        }
    }

    #[must_use]
    pub fn sort(mut self, sort: SortKeyCondition) -> Self {
        self.sort = sort;
        self
    }

    #[must_use]
    pub fn direction(mut self, direction: Direction) -> Self {
        self.direction = direction;
        self
    }

    #[must_use]
    pub fn after(mut self, cursor: Option<String>) -> Self {
        self.cursor = cursor;
        self
    }
}

/// One page of a query. `next` is `Some` when more items may follow (pass it as the next
/// query's cursor); a page is shorter than the limit only when it is the last one, though the
/// DynamoDB backend may hand out a cursor whose page then turns out empty.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    pub items: Vec<Item>,
    pub next: Option<String>,
}
