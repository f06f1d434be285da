//! Every key of the table, built in one place (docs/data-model.md lists them with the access
//! pattern each serves). Sort keys that hold instants use [`sortable`], so byte order is time
//! order.

use billing_core::Timestamp;
use billing_core::invoice::InvoiceKey;
use billing_store::Key;
use sha2::{Digest, Sha256};

/// The sort key of an entity's own item, where its partition holds nothing else.
pub const ENTITY: &str = "A";

/// `2027-01-31T10:00:00Z`: fixed width, so lexicographic order is chronological.
pub fn sortable(at: Timestamp) -> String {
    at.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Shards of the time-ordered "due" indexes: writes of one instant spread over this many
/// partitions (a renewal wave on the 1st of the month must not hit one GSI partition).
pub const DUE_SHARDS: u32 = 16;

/// A stable shard of an id (FNV-1a: fixed across Rust versions, unlike `DefaultHasher`).
pub fn shard_of(id: &str) -> u32 {
    let mut hash: u32 = 0x811c_9dc5;
    for byte in id.bytes() {
        hash ^= u32::from(byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    hash % DUE_SHARDS
}

/// The id of the invoice a key names: derived from the key, so whoever writes that invoice
/// writes the same item and a conditional put lets exactly one of them succeed.
pub fn invoice_id_for(key: &InvoiceKey) -> String {
    let digest = Sha256::digest(key.storage_key().as_bytes());
    let mut id = String::with_capacity(4 + 24);
    id.push_str("inv_");
    id.push_str(&hex::encode(&digest[..12]));
    id
}

pub fn user(id: &str) -> Key {
    Key::new(format!("USER#{id}"), ENTITY)
}

/// Claims an email (lowercased) for one user: the unique constraint of `POST /v1/users`.
pub fn email_claim(email_key: &str) -> Key {
    Key::new(format!("EMAIL#{email_key}"), ENTITY)
}

pub fn plan(code: &str) -> Key {
    Key::new(format!("PLAN#{code}"), ENTITY)
}

pub fn subscription(id: &str) -> Key {
    Key::new(format!("SUB#{id}"), ENTITY)
}

/// One non-canceled subscription per (user, plan).
pub fn plan_claim(user_id: &str, plan_code: &str) -> Key {
    Key::new(format!("USER#{user_id}"), format!("PLANCLAIM#{plan_code}"))
}

/// A metric is priced by at most one live subscription of a user.
pub fn metric_claim(user_id: &str, metric: &str) -> Key {
    Key::new(format!("USER#{user_id}"), format!("METRICCLAIM#{metric}"))
}

pub fn invoice(id: &str) -> Key {
    Key::new(invoice_partition(id), ENTITY)
}

pub fn invoice_partition(id: &str) -> String {
    format!("INV#{id}")
}

/// The counter behind gap-free invoice numbers.
pub fn invoice_number_counter() -> Key {
    Key::new("COUNTER#invoice_number", ENTITY)
}

/// Payments live in their invoice's partition: the attempts of an invoice are one query.
pub fn payment(invoice_id: &str, created_at: Timestamp, id: &str) -> Key {
    Key::new(
        format!("INV#{invoice_id}"),
        format!("PAY#{}#{id}", sortable(created_at)),
    )
}

pub const PAYMENT_PREFIX: &str = "PAY#";
pub const CREDIT_NOTE_PREFIX: &str = "CN#";

/// At most one payment per (invoice, gateway transaction).
pub fn payment_claim(invoice_id: &str, gateway_txn_id: &str) -> Key {
    Key::new(
        format!("INV#{invoice_id}"),
        format!("PAYCLAIM#{gateway_txn_id}"),
    )
}

/// Who is charging an invoice right now.
pub fn payment_lease(invoice_id: &str) -> Key {
    Key::new(format!("INV#{invoice_id}"), "LEASE")
}

/// The attempt on an invoice whose outcome is not recorded yet (at most one).
pub fn pending_attempt(invoice_id: &str) -> Key {
    Key::new(format!("INV#{invoice_id}"), "PENDING")
}

/// Credit notes live in their invoice's partition: the cap check reads one partition.
pub fn credit_note(invoice_id: &str, created_at: Timestamp, id: &str) -> Key {
    Key::new(
        format!("INV#{invoice_id}"),
        format!("CN#{}#{id}", sortable(created_at)),
    )
}

pub fn audit(entity_id: &str, at: Timestamp, id: &str) -> Key {
    Key::new(audit_partition(entity_id), format!("{}#{id}", sortable(at)))
}

pub fn audit_partition(entity_id: &str) -> String {
    format!("AUDIT#{entity_id}")
}

/// Unpublished domain events, sharded; deleted once published.
pub fn outbox(at: Timestamp, audit_id: &str) -> Key {
    Key::new(
        outbox_partition(shard_of(audit_id)),
        format!("{}#{audit_id}", sortable(at)),
    )
}

/// Begins the partition key of every outbox shard.
pub const OUTBOX_PREFIX: &str = "OUTBOX#";
/// Shards of the outbox (by [`shard_of`] the audit id): `0..OUTBOX_SHARDS`.
pub const OUTBOX_SHARDS: u32 = DUE_SHARDS;

pub fn outbox_partition(shard: u32) -> String {
    format!("{OUTBOX_PREFIX}{shard:02}")
}

pub fn idempotency(token_id: &str, idempotency_key: &str) -> Key {
    Key::new(format!("IDEM#{token_id}"), format!("KEY#{idempotency_key}"))
}

pub fn token(id: &str) -> Key {
    Key::new(format!("TOKEN#{id}"), ENTITY)
}

/// Finds a token by the hash of its secret (the secret itself is never stored).
pub fn token_by_hash(secret_hash: &str) -> Key {
    Key::new(format!("TOKENHASH#{secret_hash}"), ENTITY)
}

pub fn webhook_event(event_id: &str) -> Key {
    Key::new(format!("WEBHOOK#{event_id}"), ENTITY)
}

pub fn test_clock() -> Key {
    Key::new("CLOCK#test", ENTITY)
}

/// The claim that makes a usage event count once per (user, event id).
pub fn usage_event(user_id: &str, event_id: &str) -> Key {
    Key::new(format!("EVT#{user_id}#{event_id}"), ENTITY)
}

/// Accepted usage waiting for aggregation (the local runner's durable queue). One partition,
/// ordered by arrival: the first accepted copy of an event must be the first aggregated.
pub const USAGE_QUEUE_PARTITION: &str = "UQUEUE";

/// Marks a usage batch as added to the sums.
pub fn usage_batch(batch_id: &str) -> Key {
    Key::new(format!("USAGEBATCH#{batch_id}"), ENTITY)
}

/// The partition of a user's per-second usage sums of one metric.
pub fn usage_partition(user_id: &str, metric: &str) -> String {
    format!("USAGE#{user_id}#{metric}")
}

/// The per-second usage sum of one user and metric at one second.
pub fn usage_second(user_id: &str, metric: &str, at: Timestamp) -> Key {
    Key::new(usage_partition(user_id, metric), sortable(at))
}

/// Written when a subscription's period is closed for billing: no usage of that period may be
/// aggregated after it (such usage is late and goes on the next invoice).
pub fn usage_seal(subscription_id: &str, period_start: Timestamp) -> Key {
    Key::new(
        format!("SUB#{subscription_id}"),
        format!("SEAL#{}", sortable(period_start)),
    )
}

/// Counts the aggregations that added on-time usage to a subscription's period: closing the
/// period requires the count it read alongside the usage, so nothing slips in between.
pub fn period_usage_version(subscription_id: &str, period_start: Timestamp) -> Key {
    Key::new(
        format!("SUB#{subscription_id}"),
        format!("USAGEV#{}", sortable(period_start)),
    )
}

/// Usage of a closed period aggregated after it was invoiced, waiting for the next invoice.
pub fn late_usage(subscription_id: &str, period_start: Timestamp, metric: &str) -> Key {
    Key::new(
        late_usage_partition(subscription_id),
        format!("{}#{metric}", sortable(period_start)),
    )
}

pub fn late_usage_partition(subscription_id: &str) -> String {
    format!("LATE#{subscription_id}")
}

/// Written when a subscription stops pricing a metric (it ended, or moved to a plan without
/// it): the metric's claim is gone then, and this says who priced (user, metric) until when, so
/// usage of that time aggregated later still finds its subscription and seal.
pub fn metric_release(
    user_id: &str,
    metric: &str,
    released_at: Timestamp,
    subscription_id: &str,
) -> Key {
    Key::new(
        metric_release_partition(user_id, metric),
        format!("{}#{subscription_id}", sortable(released_at)),
    )
}

pub fn metric_release_partition(user_id: &str, metric: &str) -> String {
    format!("METRICREL#{user_id}#{metric}")
}

/// A run started from the API, and the markers of its finished shards.
pub fn run(run_id: &str) -> Key {
    Key::new(format!("RUN#{run_id}"), ENTITY)
}

pub fn run_shard_done(run_id: &str, shard: u32) -> Key {
    Key::new(format!("RUN#{run_id}"), format!("SHARD#{shard:02}"))
}

pub const SEAL_PREFIX: &str = "SEAL#";

/// The item the health check reads: it never exists, so the read costs the least there is.
pub fn health_probe() -> Key {
    Key::new("HEALTH#probe", "HEALTH#probe")
}

/// The shared request count of a rate-limited `key` (a token id) in the window starting at
/// `window_start` (epoch seconds): one item per key and window, gone by TTL.
pub fn rate_window(key: &str, window_start: i64) -> Key {
    Key::new(format!("RATE#{key}"), window_start.to_string())
}

/// The gsi4 partition of users whose name's search key begins with `first`: one partition
/// per first character, so a prefix search reads exactly one partition and name writes
/// spread over many.
pub fn user_name_partition(first: char) -> String {
    format!("USERNAME#{first}")
}

/// Shards of the dashboard counters (by [`shard_of`] the counted entity's id): concurrent
/// writers of different entities mostly update different counter items.
pub const DASHBOARD_SHARDS: u32 = DUE_SHARDS;

/// One shard of the dashboard counters of subscriptions and invoices, every currency.
pub fn dashboard_partition(shard: u32) -> String {
    format!("DASH#{shard:02}")
}

/// Begins the sort key of every dashboard counter of `currency`.
pub fn dashboard_prefix(currency: &str) -> String {
    format!("{currency}#")
}

/// Subscriptions by status and MRR, of one currency and shard.
pub fn dashboard_subscriptions(currency: &str, shard: u32) -> Key {
    Key::new(dashboard_partition(shard), format!("{currency}#SUBS"))
}

/// Invoices by status (count, amount due) and the failing ones, of one currency and shard.
pub fn dashboard_invoices(currency: &str, shard: u32) -> Key {
    Key::new(dashboard_partition(shard), format!("{currency}#INVOICES"))
}

/// What happened in one calendar month (`2027-01`): MRR change, invoiced, paid.
pub fn dashboard_month(currency: &str, month: &str, shard: u32) -> Key {
    Key::new(
        dashboard_partition(shard),
        format!("{currency}#MONTH#{month}"),
    )
}

/// Begins the sort key of the month counters of `currency`.
pub fn dashboard_month_prefix(currency: &str) -> String {
    format!("{currency}#MONTH#")
}

/// One shard (by user) of the aggregated usage per UTC day and metric, all users.
pub fn usage_day_partition(shard: u32) -> String {
    format!("DASHUSAGE#{shard:02}")
}

/// The usage of `metric` on `day` (`2027-01-31`) in one shard: days sort by time.
pub fn usage_day(day: &str, metric: &str, shard: u32) -> Key {
    Key::new(usage_day_partition(shard), format!("{day}#{metric}"))
}

/// GSI partitions.
pub fn renewal_due_partition(shard: u32) -> String {
    format!("RENEW#{shard:02}")
}

pub fn payment_due_partition(shard: u32) -> String {
    format!("PAYDUE#{shard:02}")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use billing_core::invoice::BillingReason;

    #[test]
    fn sortable_instants_sort_like_time() {
        let a = sortable("2027-01-31T10:00:00Z".parse().unwrap());
        let b = sortable("2027-02-01T09:00:00Z".parse().unwrap());
        assert_eq!(a, "2027-01-31T10:00:00Z");
        assert!(a < b);
    }

    #[test]
    fn invoice_ids_are_a_function_of_what_they_bill() {
        let key = |reason| InvoiceKey {
            subscription_id: "sub_1".into(),
            billing_reason: reason,
            period_start: "2027-01-01T00:00:00Z".parse().unwrap(),
        };
        let cycle = invoice_id_for(&key(BillingReason::SubscriptionCycle));
        assert_eq!(
            cycle,
            invoice_id_for(&key(BillingReason::SubscriptionCycle))
        );
        assert_ne!(
            cycle,
            invoice_id_for(&key(BillingReason::SubscriptionCreate))
        );
        assert!(cycle.starts_with("inv_") && cycle.len() == 28);
    }

    #[test]
    fn shards_are_stable_and_spread() {
        assert_eq!(shard_of("sub_1"), shard_of("sub_1"));
        let used: std::collections::BTreeSet<u32> =
            (0..1000).map(|i| shard_of(&format!("sub_{i}"))).collect();
        assert_eq!(used.len(), DUE_SHARDS as usize);
    }
}
