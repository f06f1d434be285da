//! Every limit of the port in one place. The DynamoDB ones are DynamoDB's own; the embedded
//! backend enforces the same numbers so that code tested locally cannot exceed them in AWS.

/// DynamoDB's maximum item size (attribute names plus values).
pub const ITEM_SIZE_MAX_BYTES: usize = 400 * 1024;

/// DynamoDB's maximum number of actions in one `TransactWriteItems`.
pub const TRANSACT_ITEMS_MAX: usize = 100;

/// DynamoDB's maximum aggregate size of one transaction.
pub const TRANSACTION_SIZE_MAX_BYTES: usize = 4 * 1024 * 1024;

/// Largest page a query may ask for. Bounded so one call cannot hold a huge result in memory.
pub const PAGE_SIZE_MAX: usize = 1_000;

/// Maximum key attribute lengths (DynamoDB: 2048 bytes partition key, 1024 bytes sort key).
pub const PARTITION_KEY_MAX_BYTES: usize = 2048;
pub const SORT_KEY_MAX_BYTES: usize = 1024;

/// How many queued writes the embedded group-commit writer folds into one fsync'd commit.
pub const EMBEDDED_WRITE_BATCH_MAX: usize = 512;
