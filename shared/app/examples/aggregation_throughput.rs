//! Aggregation throughput on the embedded store (BENCHMARKS.md, `make bench`): queues
//! `MESSAGES` messages of `EVENTS` events each over 100 metered users (as accepted requests
//! do), then times `drain_usage_queue` and checks that every event was counted once.
//!
//!     cargo run --release -p billing-app --example aggregation_throughput -- 100000 1
//!     cargo run --release -p billing-app --example aggregation_throughput -- 1000 100
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

#[path = "../tests/app/common/mod.rs"]
mod common;

use std::time::Instant;

use billing_app::usage;
use billing_core::usage::UsageEvent;
use billing_ledger::Ledger;
use common::*;

const USERS: usize = 100;

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let messages: usize = args.next().map_or(100_000, |a| a.parse().unwrap());
    let per_message: usize = args.next().map_or(1, |a| a.parse().unwrap());
    let fixture = billing_store::testing::embedded("bench").await.unwrap();
    let app = app_on(Ledger::new(fixture.table.clone()));
    set_clock(&app, "2027-01-01T00:00:00Z").await;
    plan(&app, "pro", 2900, true).await;
    let mut users = Vec::new();
    for i in 0..USERS {
        let id = user(&app, &format!("b{i}@example.com"), "pm_card_ok").await;
        subscribe(&app, &id, "pro").await;
        users.push(id);
    }
    set_clock(&app, "2027-01-10T00:00:00Z").await;
    let start = at("2027-01-09T00:00:00Z");
    let started = Instant::now();
    let mut queued = tokio::task::JoinSet::new();
    let mut expected = 0_u64;
    for m in 0..messages {
        let events: Vec<UsageEvent> = (0..per_message)
            .map(|e| {
                let n = m * per_message + e;
                UsageEvent {
                    id: format!("evt-{n}"),
                    user_id: users[n % USERS].clone(),
                    metric: "api_calls".into(),
                    quantity: 1,
                    // Events over an hour of the open period, as live traffic spreads them.
                    timestamp: start + chrono::Duration::seconds(i64::try_from(n % 3600).unwrap()),
                }
            })
            .collect();
        expected += u64::try_from(per_message).unwrap();
        let queue = app.usage_queue.clone();
        queued.spawn(async move { queue.enqueue(events).await.unwrap() });
        if queued.len() >= 512 {
            queued.join_next().await.unwrap().unwrap();
        }
    }
    while let Some(done) = queued.join_next().await {
        done.unwrap();
    }
    let enqueue = started.elapsed();
    let started = Instant::now();
    let report = usage::drain_usage_queue(&app).await.unwrap();
    let drain = started.elapsed();
    let mut counted = 0;
    for id in &users {
        counted += usage::usage_summary(
            &app,
            id,
            "api_calls",
            at("2027-01-01T00:00:00Z"),
            at("2027-02-01T00:00:00Z"),
        )
        .await
        .unwrap()
        .quantity;
    }
    assert_eq!(
        report.counted, expected,
        "the drain counted every event once"
    );
    assert_eq!(counted, expected, "the summaries hold every event once");
    // Events per second in integers (no float arithmetic in this workspace).
    let rate = |elapsed: std::time::Duration| {
        u128::from(expected) * 1_000_000 / elapsed.as_micros().max(1)
    };
    println!(
        "| {messages} messages × {per_message} events | queued in {} ms ({} events/s) | aggregated in {} ms: **{} events/s** | {counted} counted of {expected} |",
        enqueue.as_millis(),
        rate(enqueue),
        drain.as_millis(),
        rate(drain),
    );
}
