//! The storage port of the billing system: one DynamoDB-shaped table behind the [`Table`]
//! trait, with two backends that behave the same way:
//!
//! - [`DynamoDbTable`]: `aws-sdk-dynamodb`, for AWS and DynamoDB Local;
//! - [`EmbeddedTable`]: a durable on-disk table on `redb`, for local runs.
//!
//! Both are held as `Arc<dyn Table>`. Items are [`serde_dynamo::Item`]s, so repositories map
//! entities with `serde_dynamo::to_item` / `from_item` and never see an AWS SDK type.
//! `tests/store/conformance.rs` runs one suite against both backends; `docs/data-model.md` describes
//! the table, the conditions and the guarantees.

mod cursor;
pub mod dynamodb;
pub mod embedded;
mod error;
pub mod limits;
mod model;
pub mod schema;
mod table;
#[cfg(feature = "testing")]
pub mod testing;
mod ttl;
mod validate;

pub use dynamodb::{DynamoDbTable, client_from_env};
pub use embedded::{EmbeddedStats, EmbeddedTable};
pub use error::{CancellationReason, StoreError};
pub use model::{
    Condition, Direction, Index, Key, Page, Query, SortKeyCondition, TransactItem, Update,
    UpdateAction,
};
pub use serde_dynamo::{AttributeValue, Item};
pub use table::{PendingWrite, Table};
pub use ttl::{is_expired, now_epoch_seconds};
pub use validate::item_size_bytes;
