//! Progress of a run started from the API that did not finish within the request (API.md:
//! `202 {run_id}`): one item per run, to which each shard's part adds its counts, and one
//! marker per finished shard, so a shard message delivered twice is counted done once. Both
//! expire after [`RUN_TTL_SECONDS`].

use std::collections::BTreeMap;

use billing_core::Timestamp;
use billing_store::schema::TTL_ATTRIBUTE;
use billing_store::{Condition, Key, TransactItem, Update};
use serde::{Deserialize, Serialize};

use crate::change::Change;
use crate::error::{Conflict, Result};
use crate::keys;
use crate::ledger::Ledger;
use crate::record::{from_item, n, number_attribute, to_item};

/// How long a run's progress can be read.
pub const RUN_TTL_SECONDS: i64 = 30 * 24 * 60 * 60;

/// The attribute prefix of a run's counters (`count_invoices_created`): flat attributes, so
/// every shard adds to them with one `ADD`.
const COUNT_PREFIX: &str = "count_";

/// A run as it stands: what it is, how many of its shards are done, what it did so far.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRecord {
    pub run_id: String,
    /// `invoice` or `payment`.
    pub kind: String,
    /// The instant the run bills: every shard uses it.
    pub now: Timestamp,
    pub started_at: Timestamp,
    pub shards_total: u32,
    #[serde(default, skip_serializing)]
    pub shards_done: u32,
    /// What the shards did so far, by counter name (`invoices_created`…).
    #[serde(default, skip_serializing)]
    pub counts: BTreeMap<String, u64>,
}

fn expiry(now_epoch: i64) -> (&'static str, billing_store::AttributeValue) {
    (TTL_ATTRIBUTE, n(now_epoch + RUN_TTL_SECONDS))
}

impl Change {
    /// A shard's part of run `run_id`: adds `counts` to the run, and when `finished` marks the
    /// shard done (once: a marker that already exists fails the change with
    /// [`Conflict::RunShardDone`]).
    pub fn record_run_shard(
        &mut self,
        run_id: &str,
        shard: u32,
        counts: &[(&str, u64)],
        finished: bool,
        now_epoch: i64,
    ) -> Result<()> {
        let mut update = Update::new();
        for (name, count) in counts {
            update = update.add(
                format!("{COUNT_PREFIX}{name}"),
                i64::try_from(*count).unwrap_or(i64::MAX),
            );
        }
        if finished {
            update = update.add("shards_done", 1);
            let marker = to_item(
                "run_shard",
                &serde_json::json!({"run_id": run_id, "shard": shard}),
                &keys::run_shard_done(run_id, shard),
                None,
                vec![expiry(now_epoch)],
            )?;
            self.put(
                marker,
                Condition::NotExists,
                Some(Conflict::RunShardDone { shard }),
            );
        }
        self.writes.push((
            TransactItem::Update {
                key: keys::run(run_id),
                update,
                condition: Condition::Exists,
            },
            Some(Conflict::Missing {
                entity: "run",
                id: run_id.to_owned(),
            }),
        ));
        Ok(())
    }
}

impl Ledger {
    /// Records a new run: nothing of it is done yet.
    pub async fn create_run(&self, run: &RunRecord, now_epoch: i64) -> Result<()> {
        let item = to_item(
            "run",
            run,
            &keys::run(&run.run_id),
            None,
            vec![("shards_done", n(0)), expiry(now_epoch)],
        )?;
        let mut change = Change::new();
        change.put(item, Condition::NotExists, None);
        self.commit(change).await
    }

    /// The run `run_id`, as far as it got.
    pub async fn run(&self, run_id: &str) -> Result<Option<RunRecord>> {
        let key: Key = keys::run(run_id);
        let Some(item) = self.table.get(&key).await? else {
            return Ok(None);
        };
        let mut counts = BTreeMap::new();
        for name in item.keys() {
            if let Some(counter) = name.strip_prefix(COUNT_PREFIX) {
                let value = number_attribute("run", &item, name)?.unwrap_or(0);
                counts.insert(counter.to_owned(), u64::try_from(value).unwrap_or(0));
            }
        }
        let shards_done = number_attribute("run", &item, "shards_done")?.unwrap_or(0);
        let mut run: RunRecord = from_item("run", item)?;
        run.shards_done = u32::try_from(shards_done).unwrap_or(u32::MAX);
        run.counts = counts;
        Ok(Some(run))
    }
}
