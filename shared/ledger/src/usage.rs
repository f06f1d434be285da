//! Usage: event claims (each event counts once per user and id), the durable local queue,
//! batch markers, per-second sums, the seals and usage versions that close a period, late
//! usage and the metric releases it is priced by.

use billing_core::Timestamp;
use billing_core::usage::UsageEvent;
use billing_store::schema::SORT_KEY;
use billing_store::{
    Condition, Direction, Index, Key, Query, SortKeyCondition, StoreError, TransactItem, Update,
};
use chrono::Duration;

use crate::change::{Change, gsi, newest_sk};
use crate::dashboard;
use crate::error::{Conflict, LedgerError, Result};
use crate::keys::{self, sortable};
use crate::ledger::{Ledger, PAGE_LIMIT_MAX};
use crate::record::{from_item, n, number_attribute, required, s, string_attribute, to_item};

/// A period closed for aggregation.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Seal {
    pub period_start: Timestamp,
    pub period_end: Timestamp,
    /// The plan the period was billed under.
    pub plan_code: String,
    /// False for a trial: its usage is never billed, late or not.
    pub billed: bool,
}

/// Usage of one closed period and metric, aggregated after the period was invoiced.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LateUsage {
    pub subscription_id: String,
    pub period_start: Timestamp,
    pub period_end: Timestamp,
    pub plan_code: String,
    pub metric: String,
    pub quantity: u64,
}

/// A batch of accepted usage waiting in the durable queue.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct QueuedUsage {
    pub batch_id: String,
    pub events: Vec<UsageEvent>,
    /// The queue item's sort key, to remove it once aggregated.
    #[serde(default, rename = "sk", skip_serializing)]
    pub queue_position: String,
}

/// What claiming a usage event found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UsageClaim {
    /// First time this (user, event id) is seen: this batch counts it.
    New,
    /// This batch claimed it before (it is being redelivered): still this batch's to count.
    OursAgain,
    /// Another batch claimed it: not counted here.
    Duplicate,
}

impl Ledger {
    /// The exact distinct-event usage of `metric` by `user_id` in `[from, to)`, aggregated so far.
    pub async fn usage_sum(
        &self,
        user_id: &str,
        metric: &str,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<u64> {
        let mut total: u64 = 0;
        self.fold_usage_seconds(user_id, metric, from, to, |_, quantity| {
            total = total
                .checked_add(quantity)
                .ok_or("the sum overflows 64 bits")?;
            Ok(())
        })
        .await?;
        Ok(total)
    }

    /// The per-second usage sums of `metric` by `user_id` in `[from, to)`, oldest first, only
    /// the seconds that have usage: one (paged) query of the usage partition.
    pub async fn usage_seconds(
        &self,
        user_id: &str,
        metric: &str,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<(Timestamp, u64)>> {
        let mut seconds = Vec::new();
        self.fold_usage_seconds(user_id, metric, from, to, |second, quantity| {
            seconds.push((second, quantity));
            Ok(())
        })
        .await?;
        Ok(seconds)
    }

    /// Calls `visit` with each per-second sum of (user, metric) in `[from, to)`, oldest first;
    /// a sum `visit` refuses (its message) is corruption of that item.
    async fn fold_usage_seconds(
        &self,
        user_id: &str,
        metric: &str,
        from: Timestamp,
        to: Timestamp,
        mut visit: impl FnMut(Timestamp, u64) -> std::result::Result<(), &'static str>,
    ) -> Result<()> {
        if to <= from {
            return Ok(());
        }
        let last_second = to - Duration::seconds(1);
        let mut cursor = None;
        loop {
            let query = Query::partition(
                Index::Primary,
                keys::usage_partition(user_id, metric),
                PAGE_LIMIT_MAX,
            )
            .sort(SortKeyCondition::Between(
                sortable(from),
                sortable(last_second),
            ))
            .after(cursor);
            let page = self.table.query(query).await?;
            for item in &page.items {
                let quantity = required(
                    "usage",
                    item,
                    "quantity",
                    number_attribute("usage", item, "quantity")?,
                )?;
                let quantity = u64::try_from(quantity).map_err(|_| {
                    LedgerError::corrupt("usage", item, format!("negative quantity {quantity}"))
                })?;
                let second = required(
                    "usage",
                    item,
                    SORT_KEY,
                    string_attribute("usage", item, SORT_KEY)?,
                )?;
                let second = second.parse::<Timestamp>().map_err(|_| {
                    LedgerError::corrupt("usage", item, "a usage sum's sort key is not an instant")
                })?;
                visit(second, quantity)
                    .map_err(|message| LedgerError::corrupt("usage", item, message))?;
            }
            match page.next {
                Some(next) => cursor = Some(next),
                None => return Ok(()),
            }
        }
    }

    /// Claims a usage event for batch `batch_id`: the one conditional write per event
    /// (1 WRU, outside any transaction) that makes it count once per (user, event id).
    ///
    /// The batch then adds the quantities of its `New` and `OursAgain` events to the sums in
    /// one change with [`Change::mark_usage_batch_applied`]. A batch that died between the two
    /// steps finds its own claims again when redelivered (`OursAgain`), and the marker keeps a
    /// batch from being added twice; another batch's copy of the event is a `Duplicate`.
    pub async fn claim_usage_event(
        &self,
        event: &UsageEvent,
        batch_id: &str,
    ) -> Result<UsageClaim> {
        let item = to_item(
            "usage_event",
            event,
            &keys::usage_event(&event.user_id, &event.id),
            None,
            vec![("batch_id", s(batch_id))],
        )?;
        match self.table.put(item, Condition::NotExists).await {
            Ok(()) => Ok(UsageClaim::New),
            Err(StoreError::ConditionFailed) => {
                let owner = match self
                    .table
                    .get(&keys::usage_event(&event.user_id, &event.id))
                    .await?
                {
                    Some(item) => string_attribute("usage_event", &item, "batch_id")?,
                    None => None,
                };
                Ok(if owner.as_deref() == Some(batch_id) {
                    UsageClaim::OursAgain
                } else {
                    UsageClaim::Duplicate
                })
            }
            Err(error) => Err(error.into()),
        }
    }

    /// Queues an accepted batch of usage durably (one write for the whole batch): when this
    /// returns, the batch survives a crash. `arrival` orders the queue (nanoseconds of the
    /// system clock); the batch id is the batch's identity for aggregation.
    pub async fn enqueue_usage(
        &self,
        batch_id: &str,
        arrival: u128,
        events: &[UsageEvent],
    ) -> Result<()> {
        let key = Key::new(
            keys::USAGE_QUEUE_PARTITION,
            format!("{arrival:039}#{batch_id}"),
        );
        let batch = QueuedUsage {
            batch_id: batch_id.to_owned(),
            events: events.to_vec(),
            queue_position: String::new(),
        };
        let item = to_item("usage_queue", &batch, &key, None, vec![])?;
        self.table.put(item, Condition::NotExists).await?;
        Ok(())
    }

    /// Up to `limit` queued batches, in arrival order.
    pub async fn queued_usage(&self, limit: usize) -> Result<Vec<QueuedUsage>> {
        let query = Query::partition(
            Index::Primary,
            keys::USAGE_QUEUE_PARTITION,
            // An aggregation pass takes many messages at once: the store's largest page.
            limit.clamp(1, billing_store::limits::PAGE_SIZE_MAX),
        );
        let page = self.table.query(query).await?;
        page.items
            .into_iter()
            .map(|item| from_item("usage_queue", item))
            .collect()
    }

    /// Forgets a queued batch once it is aggregated.
    pub async fn dequeue_usage(&self, batch: &QueuedUsage) -> Result<()> {
        let key = Key::new(keys::USAGE_QUEUE_PARTITION, batch.queue_position.clone());
        self.table.delete(&key, Condition::Always).await?;
        Ok(())
    }

    /// Whether usage batch `batch_id` was already added to the sums.
    pub async fn usage_batch_applied(&self, batch_id: &str) -> Result<bool> {
        Ok(self
            .table
            .get(&keys::usage_batch(batch_id))
            .await?
            .is_some())
    }

    /// How many aggregations have added on-time usage to the period (0 before any): read
    /// before the period's usage, and required unchanged by [`Change::seal_period`].
    pub async fn period_usage_version(
        &self,
        subscription_id: &str,
        period_start: Timestamp,
    ) -> Result<u64> {
        self.table
            .get(&keys::period_usage_version(subscription_id, period_start))
            .await?
            .map_or(Ok(0), |item| {
                crate::record::version_of("period_usage", &item)
            })
    }

    /// The sealed period of `subscription_id` that contains `at`, if any.
    pub async fn sealed_period_at(
        &self,
        subscription_id: &str,
        at: Timestamp,
    ) -> Result<Option<Seal>> {
        let query = Query::partition(Index::Primary, keys::subscription(subscription_id).pk, 1)
            .sort(SortKeyCondition::Between(
                keys::SEAL_PREFIX.to_owned(),
                format!("{}{}", keys::SEAL_PREFIX, sortable(at)),
            ))
            .direction(Direction::Backward);
        let page = self.table.query(query).await?;
        let Some(item) = page.items.into_iter().next() else {
            return Ok(None);
        };
        let seal: Seal = from_item("usage_seal", item)?;
        Ok((at < seal.period_end).then_some(seal))
    }

    /// The subscription that priced `metric` for `user_id` at `at` and has stopped pricing it
    /// since (ended, or moved to a plan without it), if any: the first release after `at` is
    /// the one of the subscription that held the metric's claim at `at`, since claims are
    /// exclusive. (If nobody held it then, the first release is of a later holder, whose seals
    /// do not cover `at`.)
    pub async fn subscription_that_priced(
        &self,
        user_id: &str,
        metric: &str,
        at: Timestamp,
    ) -> Result<Option<String>> {
        let query = Query::partition(
            Index::Primary,
            keys::metric_release_partition(user_id, metric),
            1,
        )
        // Released strictly after `at`: "{at}#~" sorts after every release at `at` itself.
        .sort(SortKeyCondition::GreaterThan(format!("{}#~", sortable(at))));
        let page = self.table.query(query).await?;
        page.items
            .first()
            .map(|item| {
                required(
                    "metric_release",
                    item,
                    "subscription_id",
                    string_attribute("metric_release", item, "subscription_id")?,
                )
            })
            .transpose()
    }

    /// Late usage of a subscription waiting for its next invoice.
    pub async fn late_usage(&self, subscription_id: &str) -> Result<Vec<LateUsage>> {
        let query = Query::partition(
            Index::Primary,
            keys::late_usage_partition(subscription_id),
            PAGE_LIMIT_MAX,
        );
        let page = self.table.query(query).await?;
        page.items
            .into_iter()
            .map(|item| from_item("late_usage", item))
            .collect()
    }
}

impl Change {
    /// Records that usage batch `batch_id` has been added to the sums: in the same change as
    /// its [`Change::add_usage`] writes, so a redelivered batch is never added twice.
    pub fn mark_usage_batch_applied(&mut self, batch_id: &str, at: Timestamp) -> Result<()> {
        self.claim(
            "usage_batch",
            serde_json::json!({"batch_id": batch_id, "at": sortable(at)}),
            keys::usage_batch(batch_id),
            Conflict::UsageBatchApplied,
        )
    }

    /// Adds `quantity` to the per-second usage sum of (user, metric) at `second`.
    pub fn add_usage(&mut self, user_id: &str, metric: &str, second: Timestamp, quantity: u64) {
        let delta = i64::try_from(quantity).unwrap_or(i64::MAX);
        self.count(
            vec![dashboard::usage_counts(user_id, metric, second, delta)],
            1,
        );
        self.writes.push((
            TransactItem::Update {
                key: keys::usage_second(user_id, metric, second),
                update: Update::new().add("quantity", delta),
                condition: Condition::Always,
            },
            None,
        ));
    }

    /// Adds late usage of a closed period, for the subscription's next invoice. The item is in
    /// the renewal index at `due_at` (the subscription's period end while it lives, now once it
    /// has ended), so the invoice run bills it even if no renewal ever comes: a subscription
    /// that ends meanwhile bills it on an invoice of its own.
    pub fn add_late_usage(&mut self, late: &LateUsage, due_at: Timestamp) {
        let delta = i64::try_from(late.quantity).unwrap_or(i64::MAX);
        self.writes.push((
            TransactItem::Update {
                key: keys::late_usage(&late.subscription_id, late.period_start, &late.metric),
                update: late_usage_due(
                    Update::new()
                        .add("quantity", delta)
                        .set("subscription_id", s(&late.subscription_id))
                        .set("period_start", s(sortable(late.period_start)))
                        .set("period_end", s(sortable(late.period_end)))
                        .set("plan_code", s(&late.plan_code))
                        .set("metric", s(&late.metric)),
                    &late.subscription_id,
                    due_at,
                ),
                condition: Condition::Always,
            },
            None,
        ));
    }

    /// Moves waiting late usage to `due_at` in the renewal index: a live subscription whose
    /// period was moved (a plan change now) bills it at its next renewal.
    pub fn reschedule_late_usage(&mut self, late: &LateUsage, due_at: Timestamp) {
        self.writes.push((
            TransactItem::Update {
                key: keys::late_usage(&late.subscription_id, late.period_start, &late.metric),
                update: late_usage_due(Update::new(), &late.subscription_id, due_at),
                condition: Condition::Exists,
            },
            Some(Conflict::Stale {
                entity: "late_usage",
                id: late.subscription_id.clone(),
            }),
        ));
    }

    /// Removes late usage once an invoice billed it; fails (a race) if more arrived meanwhile.
    pub fn clear_late_usage(&mut self, late: &LateUsage) {
        self.writes.push((
            TransactItem::Delete {
                key: keys::late_usage(&late.subscription_id, late.period_start, &late.metric),
                condition: Condition::AttributeEquals("quantity".into(), n(late.quantity)),
            },
            Some(Conflict::Stale {
                entity: "late_usage",
                id: late.subscription_id.clone(),
            }),
        ));
    }

    /// Usage added by this change counts on time for the subscription's period starting at
    /// `period_start`: fails the change if the period was sealed meanwhile (the usage is then
    /// late), and bumps the period's usage version so a close that read the usage before this
    /// change cannot commit with it missing.
    pub fn require_period_open(&mut self, subscription_id: &str, period_start: Timestamp) {
        self.writes.push((
            TransactItem::ConditionCheck {
                key: keys::usage_seal(subscription_id, period_start),
                condition: Condition::NotExists,
            },
            Some(Conflict::UsagePeriodSealed),
        ));
        self.writes.push((
            TransactItem::Update {
                key: keys::period_usage_version(subscription_id, period_start),
                update: Update::new().add(billing_store::schema::VERSION_ATTRIBUTE, 1),
                condition: Condition::Always,
            },
            None,
        ));
    }

    /// Closes a period for aggregation in the same change as the transition that closes it:
    /// the seal is written only if no usage was added since the close read the period's usage
    /// version (`usage_version_read`), and only once. After it, the period's usage is late,
    /// billed by the seal's plan on the next invoice (never, for a trial).
    pub fn seal_period(
        &mut self,
        subscription_id: &str,
        seal: &Seal,
        usage_version_read: u64,
    ) -> Result<()> {
        let version_condition = if usage_version_read == 0 {
            Condition::NotExists
        } else {
            Condition::VersionEquals(usage_version_read)
        };
        self.writes.push((
            TransactItem::ConditionCheck {
                key: keys::period_usage_version(subscription_id, seal.period_start),
                condition: version_condition,
            },
            Some(Conflict::Stale {
                entity: "period_usage",
                id: subscription_id.to_owned(),
            }),
        ));
        let item = to_item(
            "usage_seal",
            seal,
            &keys::usage_seal(subscription_id, seal.period_start),
            None,
            vec![],
        )?;
        self.put(
            item,
            Condition::NotExists,
            Some(Conflict::Stale {
                entity: "usage_seal",
                id: subscription_id.to_owned(),
            }),
        );
        Ok(())
    }
}

/// The renewal-index attributes of a late usage item: the run finds it by its subscription's
/// id, like the subscription's own item.
fn late_usage_due(update: Update, subscription_id: &str, due_at: Timestamp) -> Update {
    update
        .set("id", s(subscription_id))
        .set(
            gsi::DUE_PK,
            s(keys::renewal_due_partition(keys::shard_of(subscription_id))),
        )
        .set(gsi::DUE_SK, newest_sk(due_at, subscription_id))
}
