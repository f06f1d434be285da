//! The embedded backend: a durable table in one `redb` file under a data directory.
//!
//! Writes go through one writer thread that does **group commit**: it takes every write
//! queued while the previous commit was syncing (up to `EMBEDDED_WRITE_BATCH_MAX`), applies
//! them one after another in a single redb write transaction, commits with an fsync, and only
//! then answers each caller. Each write still succeeds or fails on its own: its conditions are
//! checked against the state left by the writes before it in the batch, and it changes
//! nothing unless it fully succeeds. One fsync thus acknowledges many concurrent writes,
//! which is what "durable before 202" at the request rates of DESIGN.md needs.
//!
//! Reads run on tokio's blocking pool against redb read transactions (consistent snapshots
//! of the last commit), so they never wait for the writer.

mod codec;
mod semantics;

use crate::cursor;
use crate::error::{CancellationReason, StoreError};
use crate::limits::EMBEDDED_WRITE_BATCH_MAX;
use crate::model::{Condition, Direction, Index, Key, Page, Query, TransactItem, Update};
use crate::schema::{self, GSI_COUNT, GSIS};
use crate::table::Table;
use crate::ttl::{is_expired, now_epoch_seconds};
use crate::validate::{self, SortRange};
use async_trait::async_trait;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde_dynamo::{AttributeValue, Item};
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use tokio::sync::{mpsc, oneshot};

/// An index entry: (index pk, index sk, pk, sk).
type IndexKey = (&'static str, &'static str, &'static str, &'static str);

/// Items by (pk, sk), encoded by `codec`.
const ITEMS: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("items");
/// One table per GSI, keyed (index pk, index sk, pk, sk): ties on the index key keep a stable
/// order by table key, and the table key finds the item.
const GSI_TABLES: [TableDefinition<IndexKey, ()>; GSI_COUNT] = [
    TableDefinition::new("gsi1"),
    TableDefinition::new("gsi2"),
    TableDefinition::new("gsi3"),
    TableDefinition::new("gsi4"),
    TableDefinition::new("gsi5"),
];
const DATABASE_FILE: &str = "billing-store.redb";
/// Writes waiting for the writer; callers wait (asynchronously) when it is full.
const WRITE_QUEUE_MAX: usize = 8 * EMBEDDED_WRITE_BATCH_MAX;

const BACKEND: &str = "embedded";

fn storage_error(
    message: &str,
    error: impl std::error::Error + Send + Sync + 'static,
) -> StoreError {
    StoreError::backend(BACKEND, message, error)
}

/// A durable table on disk. Open it once per data directory and share it as `Arc<dyn Table>`.
pub struct EmbeddedTable {
    database: Arc<Database>,
    stats: Arc<Counters>,
    writes: Option<mpsc::Sender<WriteRequest>>,
    writer: Mutex<Option<JoinHandle<()>>>,
    path: PathBuf,
}

/// Counts of the writer's work, for metrics and for checking that commits are shared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EmbeddedStats {
    /// Writes (single operations or transactions) the writer has answered.
    pub writes: u64,
    /// Commits (each one fsync) it has made.
    pub commits: u64,
}

#[derive(Default)]
struct Counters {
    writes: AtomicU64,
    commits: AtomicU64,
}

enum WriteOp {
    Put(Item, Condition),
    Update(Key, Update, Condition),
    Delete(Key, Condition),
    Transact(Vec<TransactItem>),
}

enum WriteReply {
    Done,
    Updated(Item),
}

struct WriteRequest {
    op: WriteOp,
    reply: oneshot::Sender<Result<WriteReply, StoreError>>,
}

impl EmbeddedTable {
    /// Opens (creating if needed) the table under `data_dir` and starts its writer thread.
    pub fn open(data_dir: impl AsRef<Path>) -> Result<Self, StoreError> {
        let data_dir = data_dir.as_ref();
        std::fs::create_dir_all(data_dir)
            .map_err(|error| storage_error("cannot create the data directory", error))?;
        let path = data_dir.join(DATABASE_FILE);
        let database = Database::create(&path)
            .map_err(|error| storage_error("cannot open the database file", error))?;
        create_tables(&database)?;
        let database = Arc::new(database);
        let (writes, queue) = mpsc::channel(WRITE_QUEUE_MAX);
        let writer_database = Arc::clone(&database);
        let stats = Arc::new(Counters::default());
        let writer_stats = Arc::clone(&stats);
        let writer = std::thread::Builder::new()
            .name("billing-store-writer".to_string())
            .spawn(move || run_writer(&writer_database, &writer_stats, queue))
            .map_err(|error| storage_error("cannot start the writer thread", error))?;
        Ok(Self {
            database,
            stats,
            writes: Some(writes),
            writer: Mutex::new(Some(writer)),
            path,
        })
    }

    /// The database file, for logs.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// How many writes and commits the writer has made so far.
    pub fn stats(&self) -> EmbeddedStats {
        EmbeddedStats {
            writes: self.stats.writes.load(Ordering::Relaxed),
            commits: self.stats.commits.load(Ordering::Relaxed),
        }
    }

    async fn write(&self, op: WriteOp) -> Result<WriteReply, StoreError> {
        self.submit(op).await?.await.map_err(|_| writer_stopped())?
    }

    /// Queues `op` for the writer, which applies writes in queue order; the receiver answers
    /// once the commit that holds it is durable.
    async fn submit(
        &self,
        op: WriteOp,
    ) -> Result<oneshot::Receiver<Result<WriteReply, StoreError>>, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.writes
            .as_ref()
            .ok_or_else(writer_stopped)?
            .send(WriteRequest { op, reply })
            .await
            .map_err(|_| writer_stopped())?;
        Ok(answer)
    }

    async fn read<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Database) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let database = Arc::clone(&self.database);
        tokio::task::spawn_blocking(move || work(&database))
            .await
            .map_err(|error| storage_error("a read task failed", error))?
    }
}

fn writer_stopped() -> StoreError {
    StoreError::Backend {
        backend: BACKEND,
        message: "the writer has stopped".to_string(),
        source: None,
    }
}

impl Drop for EmbeddedTable {
    /// Closing the queue lets the writer finish the batch in hand and stop; joining it means
    /// the file is released when the table is gone, so the directory can be reopened at once.
    fn drop(&mut self) {
        self.writes.take();
        let writer = self
            .writer
            .get_mut()
            .map_or_else(|poisoned| poisoned.into_inner().take(), Option::take);
        if let Some(writer) = writer {
            // A panicked writer has already answered nothing more; there is nothing to recover.
            let _ = writer.join();
        }
    }
}

fn create_tables(database: &Database) -> Result<(), StoreError> {
    let transaction = database
        .begin_write()
        .map_err(|error| storage_error("cannot begin a write", error))?;
    {
        transaction
            .open_table(ITEMS)
            .map_err(|error| storage_error("cannot open the items table", error))?;
        for definition in GSI_TABLES {
            transaction
                .open_table(definition)
                .map_err(|error| storage_error("cannot open an index table", error))?;
        }
    }
    transaction
        .commit()
        .map_err(|error| storage_error("cannot commit", error))
}

#[async_trait]
impl Table for EmbeddedTable {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        validate::validate_key(key)?;
        let key = key.clone();
        self.read(move |database| {
            let transaction = database
                .begin_read()
                .map_err(|error| storage_error("cannot begin a read", error))?;
            let items = transaction
                .open_table(ITEMS)
                .map_err(|error| storage_error("cannot open the items table", error))?;
            let now = now_epoch_seconds();
            Ok(read_item(&items, &key)?.filter(|item| !is_expired(item, now)))
        })
        .await
    }

    async fn put(&self, item: Item, condition: Condition) -> Result<(), StoreError> {
        validate::validate_item(&item)?;
        self.write(WriteOp::Put(item, condition)).await.map(|_| ())
    }

    async fn update(
        &self,
        key: &Key,
        update: Update,
        condition: Condition,
    ) -> Result<Item, StoreError> {
        validate::validate_key(key)?;
        validate::validate_update(&update)?;
        match self
            .write(WriteOp::Update(key.clone(), update, condition))
            .await?
        {
            WriteReply::Updated(item) => Ok(item),
            WriteReply::Done => Err(StoreError::Backend {
                backend: BACKEND,
                message: "the writer answered an update without the item".to_string(),
                source: None,
            }),
        }
    }

    async fn delete(&self, key: &Key, condition: Condition) -> Result<(), StoreError> {
        validate::validate_key(key)?;
        self.write(WriteOp::Delete(key.clone(), condition))
            .await
            .map(|_| ())
    }

    async fn transact_write(&self, items: Vec<TransactItem>) -> Result<(), StoreError> {
        validate::validate_transaction(&items)?;
        self.write(WriteOp::Transact(items)).await.map(|_| ())
    }

    /// Queued for the writer before returning: the writer applies writes in queue order (one
    /// after another, each on the state the ones before it left), so the place is fixed.
    async fn transact_write_in_order(
        &self,
        items: Vec<TransactItem>,
    ) -> Result<crate::table::PendingWrite, StoreError> {
        validate::validate_transaction(&items)?;
        let answer = self.submit(WriteOp::Transact(items)).await?;
        Ok(Box::pin(async move {
            answer.await.map_err(|_| writer_stopped())?.map(|_| ())
        }))
    }

    fn orders_writes(&self) -> bool {
        true
    }

    async fn query(&self, query: Query) -> Result<Page, StoreError> {
        validate::validate_query(&query)?;
        self.read(move |database| run_query(database, &query)).await
    }
}

fn read_item<T: ReadableTable<(&'static str, &'static str), &'static [u8]>>(
    items: &T,
    key: &Key,
) -> Result<Option<Item>, StoreError> {
    let stored = items
        .get((key.pk.as_str(), key.sk.as_str()))
        .map_err(|error| storage_error("cannot read an item", error))?;
    stored
        .map(|bytes| codec::decode_item(bytes.value()))
        .transpose()
}

// ---------------------------------------------------------------------------------------------
// Queries

fn run_query(database: &Database, query: &Query) -> Result<Page, StoreError> {
    let sort_range = SortRange::of(&query.sort);
    let position = query
        .cursor
        .as_deref()
        .map(|cursor| cursor::decode_for(query, cursor))
        .transpose()?;
    let transaction = database
        .begin_read()
        .map_err(|error| storage_error("cannot begin a read", error))?;
    let items = transaction
        .open_table(ITEMS)
        .map_err(|error| storage_error("cannot open the items table", error))?;
    let now = now_epoch_seconds();
    // One more than the limit tells whether another page follows.
    let wanted = query.limit + 1;
    let mut found: Vec<Item> = Vec::with_capacity(wanted.min(64));
    let mut keep = |item: Item| {
        if !is_expired(&item, now) {
            found.push(item);
        }
        found.len() < wanted
    };
    let partition = query.partition.as_str();
    let after_partition = format!("{partition}\u{0}");
    match schema::gsi(query.index).zip(gsi_table(query.index)) {
        None => {
            let mut low = Bound::Included((partition, sort_range.low.as_str()));
            let mut high = match &sort_range.high {
                Some(high) => Bound::Excluded((partition, high.as_str())),
                None => Bound::Excluded((after_partition.as_str(), "")),
            };
            let cursor_sk = position.as_ref().and_then(|key| key.get(schema::SORT_KEY));
            if let Some(sk) = cursor_sk {
                if !sort_range.contains(sk) {
                    return Err(StoreError::InvalidCursor);
                }
                match query.direction {
                    Direction::Forward => low = Bound::Excluded((partition, sk.as_str())),
                    Direction::Backward => high = Bound::Excluded((partition, sk.as_str())),
                }
            }
            let range = items
                .range::<(&str, &str)>((low, high))
                .map_err(|error| storage_error("cannot read a range", error))?;
            let entries: Box<dyn Iterator<Item = _>> = match query.direction {
                Direction::Forward => Box::new(range),
                Direction::Backward => Box::new(range.rev()),
            };
            for entry in entries {
                let (_, bytes) =
                    entry.map_err(|error| storage_error("cannot read a range", error))?;
                if !keep(codec::decode_item(bytes.value())?) {
                    break;
                }
            }
        }
        Some((gsi, index_definition)) => {
            let index_table = transaction
                .open_table(index_definition)
                .map_err(|error| storage_error("cannot open an index table", error))?;
            // Index sort-key bounds become bounds on (index pk, index sk, pk, sk): table keys
            // are never empty, so ("", "") sorts before every entry with the same index key.
            let above_high = sort_range.high.as_deref();
            let mut low = Bound::Included((partition, sort_range.low.as_str(), "", ""));
            let mut high = match above_high {
                Some(high) => Bound::Excluded((partition, high, "", "")),
                None => Bound::Excluded((after_partition.as_str(), "", "", "")),
            };
            if let Some(key) = &position {
                let field = |name: &str| key.get(name).map(String::as_str).unwrap_or_default();
                let at = (
                    partition,
                    field(gsi.sort_key),
                    field(schema::PARTITION_KEY),
                    field(schema::SORT_KEY),
                );
                if !sort_range.contains(at.1) {
                    return Err(StoreError::InvalidCursor);
                }
                match query.direction {
                    Direction::Forward => low = Bound::Excluded(at),
                    Direction::Backward => high = Bound::Excluded(at),
                }
            }
            let range = index_table
                .range::<(&str, &str, &str, &str)>((low, high))
                .map_err(|error| storage_error("cannot read an index range", error))?;
            let entries: Box<dyn Iterator<Item = _>> = match query.direction {
                Direction::Forward => Box::new(range),
                Direction::Backward => Box::new(range.rev()),
            };
            for entry in entries {
                let (index_key, _) =
                    entry.map_err(|error| storage_error("cannot read an index range", error))?;
                let (_, _, pk, sk) = index_key.value();
                // The index and the items change in the same transaction, so the item exists.
                if let Some(item) = read_item(&items, &Key::new(pk, sk))?
                    && !keep(item)
                {
                    break;
                }
            }
        }
    }
    let next = if found.len() > query.limit {
        found.truncate(query.limit);
        found
            .last()
            .and_then(|last| cursor::key_of(query.index, last))
            .map(|key| cursor::encode(&key))
    } else {
        None
    };
    Ok(Page { items: found, next })
}

/// The index table of `index`, `None` for the primary index. Positions follow `GSIS`.
fn gsi_table(index: Index) -> Option<TableDefinition<'static, IndexKey, ()>> {
    let position = GSIS.iter().position(|gsi| gsi.index == index)?;
    GSI_TABLES.get(position).copied()
}

// ---------------------------------------------------------------------------------------------
// The writer

/// A storage failure inside a batch: the batch's transaction is abandoned and every write in
/// it fails (none was acknowledged, none is on disk).
struct BatchFailed(StoreError);

fn run_writer(database: &Database, stats: &Counters, mut queue: mpsc::Receiver<WriteRequest>) {
    let mut batch = Vec::with_capacity(EMBEDDED_WRITE_BATCH_MAX);
    while let Some(first) = queue.blocking_recv() {
        batch.push(first);
        while batch.len() < EMBEDDED_WRITE_BATCH_MAX {
            match queue.try_recv() {
                Ok(request) => batch.push(request),
                Err(_) => break,
            }
        }
        let batch_len = u64::try_from(batch.len()).unwrap_or(u64::MAX);
        match commit_batch(database, &batch) {
            Ok(outcomes) => {
                stats.commits.fetch_add(1, Ordering::Relaxed);
                stats.writes.fetch_add(batch_len, Ordering::Relaxed);
                for (request, outcome) in batch.drain(..).zip(outcomes) {
                    // A caller that stopped waiting (dropped future) no longer needs the answer.
                    let _ = request.reply.send(outcome);
                }
            }
            Err(BatchFailed(error)) => {
                let message = error.to_string();
                for request in batch.drain(..) {
                    let _ = request.reply.send(Err(StoreError::Backend {
                        backend: BACKEND,
                        message: message.clone(),
                        source: None,
                    }));
                }
            }
        }
    }
}

type Outcome = Result<WriteReply, StoreError>;

fn fail<E: std::error::Error + Send + Sync + 'static>(
    message: &'static str,
) -> impl FnOnce(E) -> BatchFailed {
    move |error| BatchFailed(storage_error(message, error))
}

fn commit_batch(database: &Database, batch: &[WriteRequest]) -> Result<Vec<Outcome>, BatchFailed> {
    let transaction = database
        .begin_write()
        .map_err(fail("cannot begin a write"))?;
    let now = now_epoch_seconds();
    let outcomes = {
        let mut tables = WriteTables {
            items: transaction
                .open_table(ITEMS)
                .map_err(fail("cannot open the items table"))?,
            indexes: {
                let mut opened = Vec::with_capacity(GSI_COUNT);
                for (definition, gsi) in GSI_TABLES.iter().zip(GSIS.iter()) {
                    opened.push(
                        transaction
                            .open_table(*definition)
                            .map_err(fail(gsi.name))?,
                    );
                }
                opened
            },
        };
        batch
            .iter()
            .map(|request| tables.apply(&request.op, now))
            .collect::<Result<Vec<_>, _>>()?
    };
    // Durability::Immediate (redb's default): commit returns after the data is fsync'd.
    transaction.commit().map_err(fail("cannot commit"))?;
    Ok(outcomes)
}

struct WriteTables<'txn> {
    items: redb::Table<'txn, (&'static str, &'static str), &'static [u8]>,
    /// One per GSI, in `GSIS` order.
    indexes: Vec<redb::Table<'txn, IndexKey, ()>>,
}

type Plan = Result<(Vec<Change>, WriteReply), StoreError>;

/// The new state of one key: `Some(item)` to store, `None` to delete.
struct Change {
    key: Key,
    before: Option<Item>,
    after: Option<Item>,
}

impl WriteTables<'_> {
    /// Applies one write. The outer `Result` is a storage failure (abandon the batch); the
    /// inner one is this write's own outcome. Every check happens before anything is written,
    /// so a write that fails leaves no trace in the batch.
    fn apply(&mut self, op: &WriteOp, now: i64) -> Result<Outcome, BatchFailed> {
        let planned = self.plan(op, now).map_err(BatchFailed)?;
        let (changes, reply) = match planned {
            Ok(plan) => plan,
            Err(refused) => return Ok(Err(refused)),
        };
        for change in changes {
            self.write_change(&change).map_err(BatchFailed)?;
        }
        Ok(Ok(reply))
    }

    fn stored(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        read_item(&self.items, key)
    }

    /// What `op` would change. The outer `Result` is a storage failure, the inner one the
    /// write's own refusal (failed condition, invalid update).
    fn plan(&self, op: &WriteOp, now: i64) -> Result<Plan, StoreError> {
        let live =
            |item: &Option<Item>| item.as_ref().filter(|item| !is_expired(item, now)).cloned();
        match op {
            WriteOp::Put(item, condition) => {
                let Some(key) = Key::of_item(item) else {
                    return Ok(Err(StoreError::invalid("an item needs pk and sk")));
                };
                let before = self.stored(&key)?;
                if !semantics::condition_holds(condition, live(&before).as_ref()) {
                    return Ok(Err(StoreError::ConditionFailed));
                }
                let change = Change {
                    key,
                    before,
                    after: Some(item.clone()),
                };
                Ok(Ok((vec![change], WriteReply::Done)))
            }
            WriteOp::Update(key, update, condition) => {
                let before = self.stored(key)?;
                if !semantics::condition_holds(condition, live(&before).as_ref()) {
                    return Ok(Err(StoreError::ConditionFailed));
                }
                let after = match updated_item(key, before.clone(), update) {
                    Ok(after) => after,
                    Err(refused) => return Ok(Err(refused)),
                };
                let change = Change {
                    key: key.clone(),
                    before,
                    after: Some(after.clone()),
                };
                Ok(Ok((vec![change], WriteReply::Updated(after))))
            }
            WriteOp::Delete(key, condition) => {
                let before = self.stored(key)?;
                if !semantics::condition_holds(condition, live(&before).as_ref()) {
                    return Ok(Err(StoreError::ConditionFailed));
                }
                let change = Change {
                    key: key.clone(),
                    before,
                    after: None,
                };
                Ok(Ok((vec![change], WriteReply::Done)))
            }
            WriteOp::Transact(actions) => {
                // Keys are distinct (validated), so every read sees the state before the
                // transaction, as DynamoDB evaluates all conditions against it.
                let mut reasons = Vec::with_capacity(actions.len());
                let mut changes = Vec::with_capacity(actions.len());
                for action in actions {
                    let Some(key) = action.key() else {
                        return Ok(Err(StoreError::invalid("an item needs pk and sk")));
                    };
                    let before = self.stored(&key)?;
                    let condition = match action {
                        TransactItem::Put { condition, .. }
                        | TransactItem::Update { condition, .. }
                        | TransactItem::Delete { condition, .. }
                        | TransactItem::ConditionCheck { condition, .. } => condition,
                    };
                    if semantics::condition_holds(condition, live(&before).as_ref()) {
                        reasons.push(CancellationReason::None);
                    } else {
                        reasons.push(CancellationReason::ConditionFailed);
                    }
                    let after = match action {
                        TransactItem::Put { item, .. } => Some(item.clone()),
                        TransactItem::Update { update, .. } => {
                            match updated_item(&key, before.clone(), update) {
                                Ok(after) => Some(after),
                                Err(refused) => return Ok(Err(refused)),
                            }
                        }
                        TransactItem::Delete { .. } => None,
                        TransactItem::ConditionCheck { .. } => continue,
                    };
                    changes.push(Change { key, before, after });
                }
                if reasons
                    .iter()
                    .any(|reason| *reason != CancellationReason::None)
                {
                    return Ok(Err(StoreError::TransactionCanceled { reasons }));
                }
                Ok(Ok((changes, WriteReply::Done)))
            }
        }
    }

    fn write_change(&mut self, change: &Change) -> Result<(), StoreError> {
        let Key { pk, sk } = &change.key;
        for (position, gsi) in GSIS.iter().enumerate() {
            let entry_of = |item: &Option<Item>| {
                item.as_ref().and_then(|item| {
                    match (item.get(gsi.partition_key), item.get(gsi.sort_key)) {
                        (Some(AttributeValue::S(ipk)), Some(AttributeValue::S(isk))) => {
                            Some((ipk.clone(), isk.clone()))
                        }
                        _ => None,
                    }
                })
            };
            let (old_entry, new_entry) = (entry_of(&change.before), entry_of(&change.after));
            if old_entry == new_entry {
                continue;
            }
            let index = &mut self.indexes[position];
            if let Some((ipk, isk)) = &old_entry {
                index
                    .remove((ipk.as_str(), isk.as_str(), pk.as_str(), sk.as_str()))
                    .map_err(|error| storage_error("cannot update an index", error))?;
            }
            if let Some((ipk, isk)) = &new_entry {
                index
                    .insert((ipk.as_str(), isk.as_str(), pk.as_str(), sk.as_str()), ())
                    .map_err(|error| storage_error("cannot update an index", error))?;
            }
        }
        match &change.after {
            Some(item) => {
                let bytes = codec::encode_item(item);
                self.items
                    .insert((pk.as_str(), sk.as_str()), bytes.as_slice())
                    .map_err(|error| storage_error("cannot write an item", error))?;
            }
            None => {
                self.items
                    .remove((pk.as_str(), sk.as_str()))
                    .map_err(|error| storage_error("cannot delete an item", error))?;
            }
        }
        Ok(())
    }
}

/// Applies an update and checks the result is a valid item (size, key types), as DynamoDB
/// refuses an update whose result would be too large.
fn updated_item(key: &Key, before: Option<Item>, update: &Update) -> Result<Item, StoreError> {
    let after = semantics::apply_update(key, before, update)?;
    validate::validate_item(&after)?;
    Ok(after)
}
