//! Invoice and payment run throughput (BENCHMARKS.md, `make bench`): seeds `SUBSCRIPTIONS`
//! users, each with a live subscription to one metered plan and usage in its open period,
//! moves the test clock past the period end, then times `invoice_run` and `payment_run`. It
//! fails unless every subscription was renewed exactly once (one invoice each, gap-free
//! numbers, a second run finds nothing due) and every invoice was collected.
//!
//!     cargo run --release -p billing-app --example run_throughput -- 100000
//!     infra/with-dynamodb-local.sh cargo run --release -p billing-app --example run_throughput -- 2000 dynamodb
//!
//! Seeding writes users and subscriptions through the ledger directly (no first invoice: the
//! runs are what is measured) and the usage through the queue and the aggregator, as accepted
//! requests are counted.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

#[path = "../tests/app/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use billing_app::{ids, runs, usage};
use billing_core::subscription::Subscription;
use billing_core::usage::UsageEvent;
use billing_core::user::{User, email_uniqueness_key};
use billing_ledger::keys::DUE_SHARDS;
use billing_ledger::{Change, Ledger};
use billing_store::{EmbeddedTable, Table};
use common::*;
use tokio::task::JoinSet;

/// Writes in flight while seeding.
const SEED_IN_FLIGHT: usize = 256;
/// Usage events per queued message while seeding.
const EVENTS_PER_MESSAGE: usize = 100;

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let count: usize = args.next().map_or(100_000, |a| a.parse().unwrap());
    let backend = args.next().unwrap_or_else(|| "embedded".into());
    // The embedded table is opened here (not through the test fixture) to read its commit
    // counts: how many renewals one fsync'd commit carries is what the profile is about.
    let data_dir = tempfile::tempdir().unwrap();
    let mut embedded = None;
    let (table, _fixture): (Arc<dyn Table>, _) = match backend.as_str() {
        "embedded" => {
            let table = Arc::new(EmbeddedTable::open(data_dir.path()).unwrap());
            embedded = Some(Arc::clone(&table));
            (table, None)
        }
        "dynamodb" => {
            let fixture = billing_store::testing::dynamodb("runs")
                .await
                .expect("dynamodb needs AWS_ENDPOINT_URL_DYNAMODB (infra/with-dynamodb-local.sh)");
            (Arc::clone(&fixture.table), Some(fixture))
        }
        other => panic!("unknown backend {other}: embedded or dynamodb"),
    };
    let commits = || embedded.as_ref().map_or(0, |table| table.stats().commits);
    let mut app = app_on(Ledger::new(table));
    if embedded.is_some() {
        // As the local runner sets it on the embedded store.
        app.run_concurrency = runs::EMBEDDED_CONCURRENCY;
    }
    set_clock(&app, "2027-01-01T00:00:00Z").await;
    plan(&app, "pro", 2900, true).await;
    let plan = app.ledger.plan("pro").await.unwrap().unwrap().value;

    // ---- seed: users with a subscription each, then usage in the open period
    let seeding = Instant::now();
    let created = at("2027-01-01T00:00:00Z");
    let mut subscriptions = Vec::with_capacity(count);
    let mut tasks = JoinSet::new();
    for i in 0..count {
        let user = User {
            id: ids::new_id(ids::USER),
            email: format!("r{i}@example.com"),
            name: None,
            payment_method: Some("pm_card_ok".into()),
            credit_balance_cents: 0,
            created_at: created,
        };
        let subscription = Subscription::create(
            ids::new_id(ids::SUBSCRIPTION),
            user.id.clone(),
            &plan,
            Some(0),
            created,
        )
        .unwrap()
        .subscription;
        subscriptions.push((subscription.id.clone(), user.id.clone()));
        let (ledger, plan) = (app.ledger.clone(), plan.clone());
        tasks.spawn(async move {
            let mut change = Change::new();
            change
                .create_user(&user, &email_uniqueness_key(&user.email).unwrap())
                .unwrap();
            change.create_subscription(&subscription, &plan).unwrap();
            ledger.commit(change).await.unwrap();
        });
        if tasks.len() >= SEED_IN_FLIGHT {
            tasks.join_next().await.unwrap().unwrap();
        }
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
    set_clock(&app, "2027-01-10T00:00:00Z").await;
    let usage_start = at("2027-01-09T00:00:00Z");
    let mut expected_usage = 0_u64;
    for (m, chunk) in subscriptions.chunks(EVENTS_PER_MESSAGE).enumerate() {
        let events: Vec<UsageEvent> = chunk
            .iter()
            .enumerate()
            .map(|(e, (_, user_id))| UsageEvent {
                id: format!("evt-{m}-{e}"),
                user_id: user_id.clone(),
                metric: "api_calls".into(),
                // Past the free tier, so every renewal prices usage lines.
                quantity: 150_000,
                timestamp: usage_start + chrono::Duration::seconds(i64::try_from(e).unwrap()),
            })
            .collect();
        expected_usage += 150_000 * u64::try_from(events.len()).unwrap();
        let queue = app.usage_queue.clone();
        tasks.spawn(async move { queue.enqueue(events).await.unwrap() });
        if tasks.len() >= SEED_IN_FLIGHT {
            tasks.join_next().await.unwrap().unwrap();
        }
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
    let drained = usage::drain_usage_queue(&app).await.unwrap();
    assert_eq!(
        drained.counted,
        u64::try_from(count).unwrap(),
        "every seeded usage event was counted"
    );
    let seeded = seeding.elapsed();
    let numbers_before = app.ledger.last_invoice_number().await.unwrap();

    // ---- the invoice run, past the period end
    set_clock(&app, "2027-02-01T00:00:01Z").await;
    let now = at("2027-02-01T00:00:01Z");
    let (started, commits_before) = (Instant::now(), commits());
    let invoiced = runs::invoice_run(&app, now).await.unwrap();
    let invoice_time = started.elapsed();
    let invoice_commits = commits() - commits_before;
    let n = u64::try_from(count).unwrap();
    assert_eq!(
        invoiced.subscriptions_renewed, n,
        "the run renewed every subscription"
    );
    assert_eq!(invoiced.invoices_created, n, "one invoice per renewal");
    assert_eq!(
        app.ledger.last_invoice_number().await.unwrap(),
        numbers_before + n,
        "exactly one invoice number taken per renewal (numbers are gap-free)"
    );
    let again = runs::invoice_run(&app, now).await.unwrap();
    assert_eq!(
        again.subscriptions_renewed, 0,
        "a second run renews nothing"
    );
    assert_eq!(again.invoices_created, 0, "a second run invoices nothing");
    let renewed_to = at("2027-02-01T00:00:00Z");
    let mut checks = JoinSet::new();
    let mut billed_usage = 0_u64;
    for chunk in subscriptions.chunks(count.div_ceil(64).max(1)) {
        let (app, chunk) = (app.clone(), chunk.to_vec());
        checks.spawn(async move {
            let mut usage = 0_u64;
            for (id, user_id) in chunk {
                let read = app.ledger.subscription(&id).await.unwrap().unwrap();
                assert_eq!(
                    read.value.current_period_start, renewed_to,
                    "{id} renewed once"
                );
                usage += usage::usage_summary(
                    &app,
                    &user_id,
                    "api_calls",
                    at("2027-01-01T00:00:00Z"),
                    renewed_to,
                )
                .await
                .unwrap()
                .quantity;
            }
            usage
        });
    }
    while let Some(done) = checks.join_next().await {
        billed_usage += done.unwrap();
    }
    assert_eq!(
        billed_usage, expected_usage,
        "the usage renewed is the usage seeded"
    );

    // ---- the payment run, at the same instant
    let (started, commits_before) = (Instant::now(), commits());
    let paid = runs::payment_run(&app, now).await.unwrap();
    let payment_time = started.elapsed();
    let payment_commits = commits() - commits_before;
    assert_eq!(paid.attempted, n, "the run attempted every invoice");
    assert_eq!(paid.succeeded, n, "every invoice was collected");
    for shard in 0..DUE_SHARDS {
        let (left, _) = app.ledger.due_payments(shard, now, 10, None).await.unwrap();
        assert!(left.is_empty(), "shard {shard} still has due payments");
    }
    let again = runs::payment_run(&app, now).await.unwrap();
    assert_eq!(again.attempted, 0, "a second payment run charges nothing");

    let rate = |elapsed: Duration| u128::from(n) * 1_000_000 / elapsed.as_micros().max(1);
    println!(
        "| {backend}, {count} subscriptions with usage | seeded in {} ms | invoice run {} ms: **{} renewals/s**, {invoice_commits} commits | payment run {} ms: **{} payments/s**, {payment_commits} commits | {n} renewed once, {n} collected |",
        seeded.as_millis(),
        invoice_time.as_millis(),
        rate(invoice_time),
        payment_time.as_millis(),
        rate(payment_time),
    );
}
