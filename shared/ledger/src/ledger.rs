//! The ledger: reads by every access pattern of docs/data-model.md, and [`Ledger::commit`]
//! for the writes a [`Change`] collected.

use std::collections::BTreeMap;
use std::sync::Arc;

use billing_core::Timestamp;
use billing_core::audit::AuditAction;
use billing_core::invoice::{CreditNote, Invoice, InvoiceStatus};
use billing_core::payment::{Payment, PendingAttempt};
use billing_core::plan::Plan;
use billing_core::subscription::{Subscription, SubscriptionStatus};
use billing_core::usage::UsageEvent;
use billing_core::user::{NAME_SEARCH_KEY_CHARS, User, name_search_key};
use billing_store::limits::TRANSACT_ITEMS_MAX;
use billing_store::schema::{PARTITION_KEY, SORT_KEY};
use billing_store::{
    AttributeValue, CancellationReason, Condition, Direction, Index, Item, Key, Query,
    SortKeyCondition, StoreError, Table, TransactItem,
};
use chrono::Duration;
use serde::de::DeserializeOwned;

use crate::change::{AuditEntry, Change};
use crate::error::{Conflict, LedgerError, Result};
use crate::keys::{self, sortable};
use crate::record::{
    TYPE_ATTRIBUTE, Versioned, from_item, number_attribute, required, s, string_attribute, to_item,
    versioned,
};
use crate::token::{Token, hash_secret};

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

#[derive(Debug, Clone, Default)]
pub struct InvoiceFilter {
    pub user_id: Option<String>,
    pub subscription_id: Option<String>,
    pub status: Option<InvoiceStatus>,
}

#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub entity_id: Option<String>,
    pub action: Option<AuditAction>,
}

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

/// The dashboard counters of one currency, summed over their shards: attribute → value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DashboardCounters {
    /// `trialing`, `active`, `past_due` (counts) and `mrr_cents`.
    pub subscriptions: BTreeMap<String, i64>,
    /// `{status}_count`, `{status}_amount_due_cents`, `failing_count`,
    /// `failing_amount_due_cents`.
    pub invoices: BTreeMap<String, i64>,
    /// By month (`2027-01`): `mrr_change_cents`, `invoiced_cents`, `paid_cents`.
    pub months: BTreeMap<String, BTreeMap<String, i64>>,
    /// Usage of every currency by (day `2027-01-31`, metric), for the days asked.
    pub usage: BTreeMap<(String, String), i64>,
}

#[derive(Clone)]
pub struct Ledger {
    /// The one way to the table: nothing above the ledger holds it.
    pub(crate) table: Arc<dyn Table>,
    /// This process's turn on the invoice-number counter (see [`Ledger::numbering_turn`]).
    numbering: Arc<tokio::sync::Mutex<()>>,
}

/// The right to take the next invoice numbers, held from reading the counter until the change
/// that takes them is committed (it travels inside the [`Change`]).
#[derive(Debug)]
pub struct NumberingTurn {
    pub last_number: u64,
    pub(crate) guard: tokio::sync::OwnedMutexGuard<()>,
}

impl Ledger {
    pub fn new(table: Arc<dyn Table>) -> Self {
        Self {
            table,
            numbering: Arc::new(tokio::sync::Mutex::new(())),
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
                match self.table.transact_write(items).await {
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

    // ---- single entities

    async fn get_versioned<T: DeserializeOwned>(
        &self,
        entity: &'static str,
        key: Key,
    ) -> Result<Option<Versioned<T>>> {
        match self.table.get(&key).await? {
            Some(item) => Ok(Some(versioned(entity, item)?)),
            None => Ok(None),
        }
    }

    pub async fn user(&self, id: &str) -> Result<Option<Versioned<User>>> {
        self.get_versioned("user", keys::user(id)).await
    }

    pub async fn plan(&self, code: &str) -> Result<Option<Versioned<Plan>>> {
        self.get_versioned("plan", keys::plan(code)).await
    }

    pub async fn subscription(&self, id: &str) -> Result<Option<Versioned<Subscription>>> {
        self.get_versioned("subscription", keys::subscription(id))
            .await
    }

    pub async fn invoice(&self, id: &str) -> Result<Option<Versioned<Invoice>>> {
        self.get_versioned("invoice", keys::invoice(id)).await
    }

    pub async fn token(&self, id: &str) -> Result<Option<Versioned<Token>>> {
        self.get_versioned("token", keys::token(id)).await
    }

    /// The live token whose secret this is.
    pub async fn token_by_secret(&self, secret: &str) -> Result<Option<Token>> {
        let Some(lookup) = self
            .table
            .get(&keys::token_by_hash(&hash_secret(secret)))
            .await?
        else {
            return Ok(None);
        };
        let token_id = required(
            "token_lookup",
            &lookup,
            "token_id",
            string_attribute("token_lookup", &lookup, "token_id")?,
        )?;
        Ok(self
            .token(&token_id)
            .await?
            .map(|t| t.value)
            .filter(|t| t.revoked_at.is_none()))
    }

    /// The user id holding this email (lowercased key), if any.
    pub async fn user_id_by_email(&self, email_key: &str) -> Result<Option<String>> {
        let Some(item) = self.table.get(&keys::email_claim(email_key)).await? else {
            return Ok(None);
        };
        required(
            "email_claim",
            &item,
            "user_id",
            string_attribute("email_claim", &item, "user_id")?,
        )
        .map(Some)
    }

    /// The live subscription of `user_id` that prices `metric`, if any.
    pub async fn subscription_pricing(
        &self,
        user_id: &str,
        metric: &str,
    ) -> Result<Option<String>> {
        let Some(item) = self.table.get(&keys::metric_claim(user_id, metric)).await? else {
            return Ok(None);
        };
        required(
            "metric_claim",
            &item,
            "subscription_id",
            string_attribute("metric_claim", &item, "subscription_id")?,
        )
        .map(Some)
    }

    /// The first claim a move of `subscription` from `plan_before` to `plan_after` needs that
    /// is taken: what [`Change::require_claims_free`] would refuse, read without writing (for a
    /// preview that must refuse what the change would).
    pub async fn claim_taken(
        &self,
        subscription: &billing_core::subscription::Subscription,
        plan_before: &billing_core::plan::Plan,
        plan_after: &billing_core::plan::Plan,
    ) -> Result<Option<Conflict>> {
        for (key, conflict) in crate::change::claims_needed(subscription, plan_before, plan_after) {
            if self.table.get(&key).await?.is_some() {
                return Ok(Some(conflict));
            }
        }
        Ok(None)
    }

    // ---- lists

    /// One page of `partition` of `index`, newest first, keeping the items `keep` accepts.
    async fn list<T: DeserializeOwned>(
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
    async fn list_in<T: DeserializeOwned>(
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

    pub async fn users(&self, page: &PageRequest) -> Result<Listing<User>> {
        self.list(
            "user",
            Index::Gsi3,
            "USERS".into(),
            SortKeyCondition::All,
            page,
            |_| true,
        )
        .await
    }

    /// Users whose name begins with `prefix`, case-insensitively, in name order: one
    /// partition of the name index (gsi4), read from the prefix on.
    pub async fn users_by_name_prefix(
        &self,
        prefix: &str,
        page: &PageRequest,
    ) -> Result<Listing<User>> {
        // Leading spaces never start a stored name; trailing ones are part of the prefix.
        let wanted = prefix.trim_start().to_lowercase();
        let Some(first) = wanted.chars().next() else {
            return Ok(Listing {
                data: Vec::new(),
                next_cursor: None,
            });
        };
        let indexed: String = wanted.chars().take(NAME_SEARCH_KEY_CHARS).collect();
        self.list_in(
            Direction::Forward,
            "user",
            Index::Gsi4,
            keys::user_name_partition(first),
            SortKeyCondition::BeginsWith(indexed),
            page,
            // The index keeps the first characters only; a longer prefix checks the name.
            |user: &User| {
                user.name
                    .as_deref()
                    .is_some_and(|name| name_search_key(name).starts_with(&wanted))
            },
        )
        .await
    }

    pub async fn plans(&self, page: &PageRequest) -> Result<Listing<Plan>> {
        self.list(
            "plan",
            Index::Gsi3,
            "PLANS".into(),
            SortKeyCondition::All,
            page,
            |_| true,
        )
        .await
    }

    pub async fn subscriptions(
        &self,
        user_id: Option<&str>,
        status: Option<SubscriptionStatus>,
        page: &PageRequest,
    ) -> Result<Listing<Subscription>> {
        let (index, partition) = match user_id {
            Some(user) => (Index::Gsi1, format!("USERSUB#{user}")),
            None => (Index::Gsi3, "SUBS".to_owned()),
        };
        self.list(
            "subscription",
            index,
            partition,
            SortKeyCondition::All,
            page,
            |s: &Subscription| status.is_none_or(|wanted| s.status == wanted),
        )
        .await
    }

    /// Invoices by subscription, user or status (the most selective given), newest first.
    pub async fn invoices(
        &self,
        filter: &InvoiceFilter,
        page: &PageRequest,
    ) -> Result<Listing<Invoice>> {
        let (index, partition) = if let Some(subscription) = &filter.subscription_id {
            (Index::Gsi5, format!("SUBINV#{subscription}"))
        } else if let Some(user) = &filter.user_id {
            (Index::Gsi1, format!("USERINV#{user}"))
        } else if let Some(status) = filter.status {
            (Index::Gsi4, format!("INVSTATUS#{}", status.as_str()))
        } else {
            (Index::Gsi3, "INVOICES".to_owned())
        };
        self.list(
            "invoice",
            index,
            partition,
            SortKeyCondition::All,
            page,
            |i: &Invoice| {
                filter.user_id.as_ref().is_none_or(|u| &i.user_id == u)
                    && filter
                        .subscription_id
                        .as_ref()
                        .is_none_or(|s| i.subscription_id.as_ref() == Some(s))
                    && filter.status.is_none_or(|s| i.status == s)
            },
        )
        .await
    }

    /// Payments by invoice or user, newest first.
    pub async fn payments(
        &self,
        invoice_id: Option<&str>,
        user_id: Option<&str>,
        page: &PageRequest,
    ) -> Result<Listing<Payment>> {
        let (index, partition, sort) = match (invoice_id, user_id) {
            (Some(invoice), _) => (
                Index::Primary,
                keys::invoice_partition(invoice),
                SortKeyCondition::BeginsWith(keys::PAYMENT_PREFIX.into()),
            ),
            (None, Some(user)) => (
                Index::Gsi1,
                format!("USERPAY#{user}"),
                SortKeyCondition::All,
            ),
            (None, None) => (Index::Gsi3, "PAYMENTS".to_owned(), SortKeyCondition::All),
        };
        self.list("payment", index, partition, sort, page, |p: &Payment| {
            user_id.is_none_or(|u| p.user_id == u)
        })
        .await
    }

    /// Every credit note of an invoice (what the cap is checked against).
    pub async fn credit_notes(&self, invoice_id: &str) -> Result<Vec<CreditNote>> {
        let mut notes = Vec::new();
        let mut cursor = None;
        loop {
            let query = Query::partition(
                Index::Primary,
                keys::invoice_partition(invoice_id),
                PAGE_LIMIT_MAX,
            )
            .sort(SortKeyCondition::BeginsWith(
                keys::CREDIT_NOTE_PREFIX.into(),
            ))
            .after(cursor);
            let page = self.table.query(query).await?;
            for item in page.items {
                notes.push(from_item("credit_note", item)?);
            }
            match page.next {
                Some(next) => cursor = Some(next),
                None => return Ok(notes),
            }
        }
    }

    /// Audit entries, newest first: of one entity, of one action, or all.
    pub async fn audit(
        &self,
        filter: &AuditFilter,
        page: &PageRequest,
    ) -> Result<Listing<AuditEntry>> {
        let (index, partition) = match (&filter.entity_id, filter.action) {
            (Some(entity), _) => (Index::Primary, keys::audit_partition(entity)),
            (None, Some(action)) => (Index::Gsi4, format!("ACTION#{}", action.as_str())),
            (None, None) => (Index::Gsi3, "AUDIT".to_owned()),
        };
        self.list(
            "audit",
            index,
            partition,
            SortKeyCondition::All,
            page,
            |e: &AuditEntry| filter.action.is_none_or(|a| e.action == a),
        )
        .await
    }

    pub async fn tokens(&self, page: &PageRequest) -> Result<Listing<Token>> {
        self.list(
            "token",
            Index::Gsi3,
            "TOKENS".into(),
            SortKeyCondition::All,
            page,
            |_| true,
        )
        .await
    }

    // ---- work lists of the scheduled runs

    /// Ids of live subscriptions in `shard` whose period ended at or before `now`, oldest first.
    pub async fn due_renewals(
        &self,
        shard: u32,
        now: Timestamp,
        limit: usize,
        cursor: Option<String>,
    ) -> Result<(Vec<String>, Option<String>)> {
        self.due(
            Index::Gsi2,
            keys::renewal_due_partition(shard),
            now,
            limit,
            cursor,
        )
        .await
    }

    /// Ids of open invoices in `shard` whose next payment attempt is at or before `now`.
    pub async fn due_payments(
        &self,
        shard: u32,
        now: Timestamp,
        limit: usize,
        cursor: Option<String>,
    ) -> Result<(Vec<String>, Option<String>)> {
        self.due(
            Index::Gsi2,
            keys::payment_due_partition(shard),
            now,
            limit,
            cursor,
        )
        .await
    }

    async fn due(
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

    // ---- dashboard

    /// The dashboard counters of `currency`, and the usage of the days `[first_day,
    /// end_day)` (`2027-01-31`): two queries per shard, all at once (on the caller's tokio
    /// runtime), never a scan of the entities.
    pub async fn dashboard(
        &self,
        currency: &str,
        first_day: &str,
        end_day: &str,
    ) -> Result<DashboardCounters> {
        // All 32 reads at once: the dashboard costs one round trip, not one per shard.
        let mut reads = tokio::task::JoinSet::new();
        for shard in 0..keys::DASHBOARD_SHARDS {
            let figures = (
                false,
                keys::dashboard_partition(shard),
                SortKeyCondition::BeginsWith(keys::dashboard_prefix(currency)),
            );
            // `{day}#{metric}` sort keys: every key of `end_day` sorts after `end_day` itself.
            let usage = (
                true,
                keys::usage_day_partition(shard),
                SortKeyCondition::Between(first_day.to_owned(), end_day.to_owned()),
            );
            for (is_usage, partition, sort) in [figures, usage] {
                let ledger = self.clone();
                reads.spawn(async move { (is_usage, ledger.query_all(partition, sort).await) });
            }
        }
        let mut counters = DashboardCounters::default();
        let subscriptions_sk = keys::dashboard_subscriptions(currency, 0).sk;
        let invoices_sk = keys::dashboard_invoices(currency, 0).sk;
        let month_prefix = keys::dashboard_month_prefix(currency);
        while let Some(joined) = reads.join_next().await {
            // Nothing aborts these tasks, so a join error is a panic: let it go on.
            let (is_usage, items) =
                joined.unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
            for item in &items? {
                let sk = required(
                    "dashboard",
                    item,
                    SORT_KEY,
                    string_attribute("dashboard", item, SORT_KEY)?,
                )?;
                if is_usage {
                    let Some((day, metric)) = sk.split_once('#') else {
                        continue;
                    };
                    if day >= end_day {
                        continue;
                    }
                    let quantity = required(
                        "usage_day",
                        item,
                        "quantity",
                        number_attribute("usage_day", item, "quantity")?,
                    )?;
                    let sum = counters
                        .usage
                        .entry((day.to_owned(), metric.to_owned()))
                        .or_default();
                    *sum = sum.saturating_add(quantity);
                    continue;
                }
                let sums = if sk == subscriptions_sk {
                    &mut counters.subscriptions
                } else if sk == invoices_sk {
                    &mut counters.invoices
                } else if let Some(month) = sk.strip_prefix(&month_prefix) {
                    counters.months.entry(month.to_owned()).or_default()
                } else {
                    continue;
                };
                add_numbers(sums, item)?;
            }
        }
        Ok(counters)
    }

    /// Every item of `partition` matching `sort`, forwards, all pages.
    async fn query_all(&self, partition: String, sort: SortKeyCondition) -> Result<Vec<Item>> {
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

    // ---- invoice numbers

    /// Waits for this process's turn on the invoice-number counter, then reads it. Every
    /// invoice-creating change updates that one item under an optimistic condition; writers of
    /// one process that raced for it would mostly lose and could starve, so they queue here
    /// (first come, first served) and only writers of other processes can still collide.
    pub async fn numbering_turn(&self) -> Result<NumberingTurn> {
        let guard = Arc::clone(&self.numbering).lock_owned().await;
        Ok(NumberingTurn {
            last_number: self.last_invoice_number().await?,
            guard,
        })
    }

    /// The last invoice number taken (0 before the first invoice).
    pub async fn last_invoice_number(&self) -> Result<u64> {
        let Some(item) = self.table.get(&keys::invoice_number_counter()).await? else {
            return Ok(0);
        };
        let value = required(
            "invoice_number_counter",
            &item,
            "value",
            number_attribute("invoice_number_counter", &item, "value")?,
        )?;
        u64::try_from(value).map_err(|_| {
            LedgerError::corrupt(
                "invoice_number_counter",
                &item,
                format!("negative value {value}"),
            )
        })
    }

    // ---- usage

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

    // ---- leases, webhooks, clock, outbox

    /// Takes the lease on charging `invoice_id` for `seconds`, unless another holder has an
    /// unexpired one. The lease is a TTL item: once expired it counts as absent.
    pub async fn acquire_payment_lease(
        &self,
        invoice_id: &str,
        holder: &str,
        now_epoch: i64,
        seconds: i64,
    ) -> Result<bool> {
        let item = to_item(
            "payment_lease",
            &serde_json::json!({"holder": holder}),
            &keys::payment_lease(invoice_id),
            None,
            vec![("expires_at", crate::record::n(now_epoch + seconds))],
        )?;
        match self.table.put(item, Condition::NotExists).await {
            Ok(()) => Ok(true),
            Err(StoreError::ConditionFailed) => Ok(false),
            Err(error) => Err(error.into()),
        }
    }

    /// Gives the lease back, if `holder` still has it.
    pub async fn release_payment_lease(&self, invoice_id: &str, holder: &str) -> Result<()> {
        match self
            .table
            .delete(
                &keys::payment_lease(invoice_id),
                Condition::AttributeEquals("holder".into(), s(holder)),
            )
            .await
        {
            Ok(()) | Err(StoreError::ConditionFailed) => Ok(()),
            Err(error) => Err(error.into()),
        }
    }

    /// Records that `attempt` is about to call the gateway. Returns false when an attempt on
    /// the invoice is already pending (it must be resolved first).
    pub async fn record_pending_attempt(&self, attempt: &PendingAttempt) -> Result<bool> {
        let item = to_item(
            "pending_attempt",
            attempt,
            &keys::pending_attempt(&attempt.invoice_id),
            None,
            vec![],
        )?;
        match self.table.put(item, Condition::NotExists).await {
            Ok(()) => Ok(true),
            Err(StoreError::ConditionFailed) => Ok(false),
            Err(error) => Err(error.into()),
        }
    }

    /// The invoice's attempt whose outcome is not recorded yet, if any.
    pub async fn pending_attempt(&self, invoice_id: &str) -> Result<Option<PendingAttempt>> {
        self.table
            .get(&keys::pending_attempt(invoice_id))
            .await?
            .map(|item| from_item("pending_attempt", item))
            .transpose()
    }

    pub async fn webhook_processed(&self, event_id: &str) -> Result<bool> {
        Ok(self
            .table
            .get(&keys::webhook_event(event_id))
            .await?
            .is_some())
    }

    /// The stored test clock, if it was ever set.
    pub async fn test_clock(&self) -> Result<Option<Timestamp>> {
        let Some(item) = self.table.get(&keys::test_clock()).await? else {
            return Ok(None);
        };
        let now = required(
            "test_clock",
            &item,
            "now",
            string_attribute("test_clock", &item, "now")?,
        )?;
        now.parse().map(Some).map_err(|_| {
            LedgerError::corrupt(
                "test_clock",
                &item,
                format!("now is not an instant: {now:?}"),
            )
        })
    }

    /// Moves the test clock from `previous` (what was read) to `now`; it never moves back.
    pub async fn set_test_clock(&self, previous: Option<Timestamp>, now: Timestamp) -> Result<()> {
        if previous.is_some_and(|p| now < p) {
            return Err(LedgerError::Conflict(Conflict::ClockMovedBackwards));
        }
        let condition = match previous {
            None => Condition::NotExists,
            Some(p) => Condition::AttributeEquals("now".into(), s(sortable(p))),
        };
        let item = to_item(
            "test_clock",
            &serde_json::json!({"now": sortable(now)}),
            &keys::test_clock(),
            None,
            vec![],
        )?;
        self.table
            .put(item, condition)
            .await
            .map_err(|error| match error {
                StoreError::ConditionFailed => LedgerError::Conflict(Conflict::Stale {
                    entity: "test_clock",
                    id: "test".into(),
                }),
                error => LedgerError::Store(error),
            })
    }

    /// Up to `limit` unpublished events of one outbox shard, oldest first.
    pub async fn outbox(&self, shard: u32, limit: usize) -> Result<Vec<AuditEntry>> {
        let query = Query::partition(
            Index::Primary,
            keys::outbox_partition(shard),
            limit.clamp(1, PAGE_LIMIT_MAX),
        );
        let page = self.table.query(query).await?;
        page.items
            .into_iter()
            .map(|item: Item| from_item("outbox", item))
            .collect()
    }

    /// Forgets a published event.
    pub async fn remove_from_outbox(&self, entry: &AuditEntry) -> Result<()> {
        self.table
            .delete(&keys::outbox(entry.at, &entry.id), Condition::Always)
            .await?;
        Ok(())
    }

    /// The unpublished event `image` holds when it is an outbox item, `None` for any other
    /// item. For the publisher on the table's stream, whose records carry items (`NewImage`)
    /// of every kind; an outbox item that does not decode is an error, not `None`.
    pub fn outbox_entry_from_image(image: &Item) -> Result<Option<AuditEntry>> {
        let is_outbox = string_attribute("image", image, TYPE_ATTRIBUTE)?.as_deref()
            == Some("outbox")
            && string_attribute("image", image, PARTITION_KEY)?
                .is_some_and(|pk| pk.starts_with(keys::OUTBOX_PREFIX));
        if !is_outbox {
            return Ok(None);
        }
        from_item("outbox", image.clone()).map(Some)
    }
}

/// Adds every number attribute of `item` to `sums` (the key and type attributes are strings).
/// Adds every number attribute of a counter item to `sums`; one that is not an integer is
/// corruption, not a 0.
fn add_numbers(sums: &mut BTreeMap<String, i64>, item: &Item) -> Result<()> {
    for (name, value) in item.iter() {
        if let AttributeValue::N(_) = value {
            let number = required(
                "dashboard",
                item,
                name,
                number_attribute("dashboard", item, name)?,
            )?;
            let sum = sums.entry(name.clone()).or_default();
            *sum = sum.saturating_add(number);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use billing_core::audit::EntityType;

    fn entry() -> AuditEntry {
        AuditEntry {
            id: "aud_1".into(),
            at: "2027-01-10T00:00:00Z".parse().unwrap(),
            actor: "token:tok_1".into(),
            action: AuditAction::InvoicePaid,
            entity_type: EntityType::Invoice,
            entity_id: "inv_1".into(),
            data: serde_json::json!({"amount_cents": 1200, "lines": [1, 2]}),
        }
    }

    /// The items `change` puts, by their `type`.
    fn puts(change: Change) -> Vec<(String, Item)> {
        change
            .writes
            .into_iter()
            .filter_map(|(write, _)| match write {
                TransactItem::Put { item, .. } => Some((
                    string_attribute("test", &item, TYPE_ATTRIBUTE)
                        .unwrap()
                        .unwrap(),
                    item,
                )),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn only_an_outbox_item_gives_its_entry_back() {
        let mut change = Change::new();
        change.audit(&entry()).unwrap();
        let items = puts(change);
        let (_, outbox) = items.iter().find(|(kind, _)| kind == "outbox").unwrap();
        let (_, audit) = items.iter().find(|(kind, _)| kind == "audit").unwrap();
        assert_eq!(
            Ledger::outbox_entry_from_image(outbox).unwrap(),
            Some(entry())
        );
        // The audit item holds the same entry, but it is not an event to publish.
        assert_eq!(Ledger::outbox_entry_from_image(audit).unwrap(), None);
        assert_eq!(
            Ledger::outbox_entry_from_image(&Item::default()).unwrap(),
            None
        );
        let mut broken = outbox.clone();
        broken.insert("action".into(), s("no.such_action"));
        assert!(Ledger::outbox_entry_from_image(&broken).is_err());
    }
}
