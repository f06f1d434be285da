//! The dashboard's counters: what each entity state adds to them, so a [`crate::Change`]
//! that moves an entity from one state to another adds the difference in the same atomic
//! write. Every transition (create, renew, trial end, plan change, cancel, past due, payment,
//! void, uncollectible, debit note) is counted by the states alone, with no case per use case.
//! [`crate::Ledger::dashboard`] sums the shards on read.

use billing_core::Timestamp;
use billing_core::invoice::{Invoice, InvoiceStatus};
use billing_core::plan::Plan;
use billing_core::subscription::{Subscription, SubscriptionStatus};
use billing_store::Key;

use crate::keys;

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
