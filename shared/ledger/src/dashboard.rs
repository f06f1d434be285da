//! The dashboard's counters: what each entity state adds to them, so a [`crate::Change`]
//! that moves an entity from one state to another adds the difference in the same atomic
//! write. Every transition (create, renew, trial end, plan change, cancel, past due, payment,
//! void, uncollectible, debit note) is counted by the states alone, with no case per use case.
//! [`crate::Ledger::dashboard`] sums the shards on read.

use billing_core::Timestamp;
use billing_core::invoice::{Invoice, InvoiceStatus};
use billing_core::plan::Plan;
use billing_core::subscription::{Subscription, SubscriptionStatus};
use std::collections::BTreeMap;

use billing_store::schema::SORT_KEY;
use billing_store::{AttributeValue, Item, Key, SortKeyCondition};

use crate::error::Result;
use crate::keys;
use crate::ledger::Ledger;
use crate::record::{number_attribute, required, string_attribute};

/// One counter attribute of one counter item and what a state adds to it.
pub(crate) type Count = (Key, String, i64);

/// The calendar month of `at`, as month counters are keyed (`2027-01`).
pub fn month_of(at: Timestamp) -> String {
    at.format("%Y-%m").to_string()
}

/// The UTC day of `at`, as usage day counters are keyed (`2027-01-31`).
pub fn day_of(at: Timestamp) -> String {
    at.format("%Y-%m-%d").to_string()
}

/// Counts MRR: a subscription that is billed for its plan's fee (trials and canceled ones are
/// not).
pub fn counts_for_mrr(status: SubscriptionStatus) -> bool {
    matches!(
        status,
        SubscriptionStatus::Active | SubscriptionStatus::PastDue
    )
}

/// What `subscription`, on `plan` (the plan of its `plan_code`), adds to the counters: one
/// to its status (canceled ones are not counted), its monthly fee to MRR, and that fee to
/// the MRR change of the month of `at` (the instant of the write: the previous state takes
/// its fee away in the same month, so the month records the difference).
pub(crate) fn subscription_counts(
    subscription: &Subscription,
    plan: &Plan,
    at: Timestamp,
) -> Vec<Count> {
    let shard = keys::shard_of(&subscription.id);
    let currency = plan.currency.as_str();
    let totals = keys::dashboard_subscriptions(currency, shard);
    let mut counts = Vec::new();
    if subscription.status != SubscriptionStatus::Canceled {
        counts.push((totals.clone(), subscription.status.as_str().to_owned(), 1));
    }
    if counts_for_mrr(subscription.status) {
        let fee = plan.monthly_fee_cents();
        counts.push((totals, "mrr_cents".to_owned(), fee));
        counts.push((
            keys::dashboard_month(currency, &month_of(at), shard),
            "mrr_change_cents".to_owned(),
            fee,
        ));
    }
    counts
}

/// What `invoice` adds to the counters: one and its amount due to its status, to the failing
/// ones when open after a failed attempt, its amount due to the month it was finalized in
/// (`created_at`), and to the month it was paid in.
pub(crate) fn invoice_counts(invoice: &Invoice) -> Vec<Count> {
    let shard = keys::shard_of(&invoice.id);
    let currency = invoice.currency.as_str();
    let totals = keys::dashboard_invoices(currency, shard);
    let due = invoice.amount_due_cents;
    let status = invoice.status.as_str();
    let mut counts = vec![
        (totals.clone(), format!("{status}_count"), 1),
        (totals.clone(), format!("{status}_amount_due_cents"), due),
        (
            keys::dashboard_month(currency, &month_of(invoice.created_at), shard),
            "invoiced_cents".to_owned(),
            due,
        ),
    ];
    // An attempt that succeeds pays the invoice, so an open one with attempts failed them.
    if invoice.status == InvoiceStatus::Open && invoice.attempt_count > 0 {
        counts.push((totals.clone(), "failing_count".to_owned(), 1));
        counts.push((totals, "failing_amount_due_cents".to_owned(), due));
    }
    if invoice.status == InvoiceStatus::Paid
        && let Some(paid_at) = invoice.paid_at
    {
        counts.push((
            keys::dashboard_month(currency, &month_of(paid_at), shard),
            "paid_cents".to_owned(),
            due,
        ));
    }
    counts
}

/// The usage-per-day counter item that usage of `metric` by `user_id` at `second` adds to
/// (aggregation sizes its transactions by these).
pub fn usage_counter_key(user_id: &str, metric: &str, second: Timestamp) -> Key {
    keys::usage_day(&day_of(second), metric, keys::shard_of(user_id))
}

/// What `quantity` of `metric` used by `user_id` at `second` adds to the usage per day.
pub(crate) fn usage_counts(user_id: &str, metric: &str, second: Timestamp, quantity: i64) -> Count {
    (
        usage_counter_key(user_id, metric, second),
        "quantity".to_owned(),
        quantity,
    )
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

impl Ledger {
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
