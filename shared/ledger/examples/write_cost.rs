//! Write request units per usage event and per renewal, as DynamoDB reports them
//! (ReturnConsumedCapacity = TOTAL, GSI writes included). BENCHMARKS.md records the output.
//!
//!     infra/with-dynamodb-local.sh cargo run -p billing-ledger --example write_cost
//!
//! The usage path is the aggregator's: claim each event (one conditional put), then add the
//! batch's per-second sums with the batch marker and the seal check in one transaction.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::sync::Arc;

use billing_core::Timestamp;
use billing_core::audit::AuditAction;
use billing_core::invoice::{InvoiceIds, invoice_number};
use billing_core::plan::{PlanDraft, TierDraft, UsageChargeDraft};
use billing_core::subscription::Subscription;
use billing_core::usage::UsageEvent;
use billing_ledger::{AuditEntry, Change, Ledger, Seal, UsageClaim, keys};
use billing_store::{DynamoDbTable, client_from_env};
use chrono::Duration;

fn at(text: &str) -> Timestamp {
    text.parse().unwrap()
}

/// Aggregates `events` as one batch. Returns the write units (thousandths) its claims were
/// reported to consume, and the batch transaction's number of writes and estimated units.
async fn aggregate(
    ledger: &Ledger,
    meter: &DynamoDbTable,
    batch_id: &str,
    events: &[UsageEvent],
) -> (u64, usize, u64) {
    let before = meter.consumed_write_milli_units();
    let mut per_second: BTreeMap<(String, String, Timestamp), u64> = BTreeMap::new();
    for event in events {
        if ledger.claim_usage_event(event, batch_id).await.unwrap() != UsageClaim::Duplicate {
            *per_second
                .entry((event.user_id.clone(), event.metric.clone(), event.timestamp))
                .or_default() += event.quantity;
        }
    }
    let claims = meter.consumed_write_milli_units() - before;
    let mut change = Change::new();
    for ((user, metric, second), quantity) in &per_second {
        change.add_usage(user, metric, *second, *quantity);
    }
    change
        .mark_usage_batch_applied(batch_id, at("2027-01-20T00:00:00Z"))
        .unwrap();
    change.require_period_open("sub_w", at("2027-01-01T00:00:00Z"));
    let (writes, estimate) = (change.len(), change.estimated_write_units());
    ledger.commit(change).await.unwrap();
    (claims, writes, estimate)
}

fn events(batch: &str, count: usize, distinct_seconds: usize) -> Vec<UsageEvent> {
    (0..count)
        .map(|i| UsageEvent {
            id: format!("{batch}-evt-{i:06}"),
            user_id: "usr_w".into(),
            metric: "api_calls".into(),
            quantity: 3,
            timestamp: at("2027-01-10T00:00:00Z")
                + Duration::seconds(i64::try_from(i % distinct_seconds).unwrap()),
        })
        .collect()
}

fn units(milli: u64) -> String {
    format!("{}.{:03}", milli / 1000, milli % 1000)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let endpoint = std::env::var("AWS_ENDPOINT_URL_DYNAMODB")
        .expect("set AWS_ENDPOINT_URL_DYNAMODB (run through infra/with-dynamodb-local.sh)");
    let name = format!("write-cost-{}", std::process::id());
    let table = DynamoDbTable::new(client_from_env().await, name);
    table
        .create_table_if_missing()
        .await
        .expect("table created");
    let ledger = Ledger::new(Arc::new(table.clone()));
    println!("DynamoDB at {endpoint}\n");
    println!(
        "| usage batch | claims: units reported | batch transaction: writes, estimated WRU | WRU per event (each claim 1 + transaction) |"
    );
    println!("| --- | --- | --- | --- |");
    let cases: [(&str, usize, usize, &str); 6] = [
        ("1 event", 1, 1, "a"),
        ("10 events in 10 seconds", 10, 10, "b"),
        ("90 events in 90 seconds (sparse)", 90, 90, "c"),
        ("100 events in 10 seconds (dense)", 100, 10, "d"),
        ("1,000 events in 10 seconds", 1_000, 10, "e"),
        (
            "the dense batch's 100 events again, as another batch (all duplicates)",
            100,
            10,
            "d",
        ),
    ];
    for (index, (label, count, seconds, events_of)) in cases.into_iter().enumerate() {
        let batch = format!("batch-{index}");
        let (claims, writes, estimate) =
            aggregate(&ledger, &table, &batch, &events(events_of, count, seconds)).await;
        // AWS charges every claim 1 WRU, a failed conditional put too (DynamoDB Local reports 0).
        let count = u64::try_from(count).unwrap();
        let per_event_milli = (count + estimate) * 1000 / count;
        println!(
            "| {label} | {} | {writes}, {estimate} | {} |",
            units(claims),
            units(per_event_milli)
        );
    }

    // Issue 18: one aggregation pass over many one-event messages (one per request, the
    // worst case), as `billing_app::usage::aggregate_pass` writes it: a claim per event, then
    // one transaction per chunk with the per-second sums, the day counters and the period
    // check once, and one marker per message.
    println!(
        "\n| pass of one-event messages | claims: units reported | chunk transactions: writes, estimated WRU | WRU per event |"
    );
    println!("| --- | --- | --- | --- |");
    let passes: [(&str, usize, usize); 3] = [
        ("90 messages, 1 user, in 1 second (one chunk)", 90, 1),
        ("80 messages, 1 user, in 10 seconds (one chunk)", 80, 10),
        (
            "45 messages, 1 user, in 45 seconds (sparse, one chunk)",
            45,
            45,
        ),
    ];
    for (index, (label, count, seconds)) in passes.into_iter().enumerate() {
        let events = events(&format!("p{index}"), count, seconds);
        let before = table.consumed_write_milli_units();
        let mut per_second: BTreeMap<(String, String, Timestamp), u64> = BTreeMap::new();
        for (m, event) in events.iter().enumerate() {
            let message = format!("pass-{index}-msg-{m}");
            if ledger.claim_usage_event(event, &message).await.unwrap() != UsageClaim::Duplicate {
                *per_second
                    .entry((event.user_id.clone(), event.metric.clone(), event.timestamp))
                    .or_default() += event.quantity;
            }
        }
        let claims = table.consumed_write_milli_units() - before;
        let mut change = Change::new();
        for ((user, metric, second), quantity) in &per_second {
            change.add_usage(user, metric, *second, *quantity);
        }
        for m in 0..count {
            change
                .mark_usage_batch_applied(
                    &format!("pass-{index}-msg-{m}#0"),
                    at("2027-01-20T00:00:00Z"),
                )
                .unwrap();
        }
        change.require_period_open("sub_w", at("2027-01-01T00:00:00Z"));
        let (writes, estimate) = (change.len(), change.estimated_write_units());
        ledger.commit(change).await.unwrap();
        let count = u64::try_from(count).unwrap();
        println!(
            "| {label} | {} | {writes}, {estimate} | {} |",
            units(claims),
            units((count + estimate) * 1000 / count)
        );
    }

    // One renewal: seal the period, then the subscription, the invoice, its number and the
    // audit entries (each with its outbox event) in one transaction.
    let plan = PlanDraft {
        code: "pro".into(),
        name: "Pro".into(),
        amount_cents: 2900,
        interval: "month".into(),
        usage_charges: vec![UsageChargeDraft {
            metric: "api_calls".into(),
            mode: "graduated".into(),
            tiers: vec![
                TierDraft {
                    up_to: Some(100_000),
                    unit_amount_decimal: "0".into(),
                    flat_amount_cents: None,
                },
                TierDraft {
                    up_to: Some(1_000_000),
                    unit_amount_decimal: "0.05".into(),
                    flat_amount_cents: None,
                },
                TierDraft {
                    up_to: None,
                    unit_amount_decimal: "0.02".into(),
                    flat_amount_cents: None,
                },
            ],
        }],
        ..PlanDraft::default()
    }
    .validate(at("2027-01-01T00:00:00Z"))
    .unwrap();
    let created = Subscription::create(
        "sub_r".into(),
        "usr_r".into(),
        &plan,
        None,
        at("2027-01-01T00:00:00Z"),
    )
    .unwrap();
    let mut setup = Change::new();
    setup
        .create_subscription(&created.subscription, &plan)
        .unwrap();
    ledger.commit(setup).await.unwrap();

    let before = table.consumed_write_milli_units();
    let read = ledger.subscription("sub_r").await.unwrap().unwrap();
    let now = at("2027-02-01T00:00:00Z");
    let usage_version = ledger
        .period_usage_version("sub_r", read.value.current_period_start)
        .await
        .unwrap();
    let usage = BTreeMap::from([("api_calls".to_string(), 1_250_000_u64)]);
    let renewed = read.value.renew(&vec![plan.clone()], &usage, now).unwrap();
    let draft = renewed.invoice.unwrap();
    let turn = ledger.numbering_turn().await.unwrap();
    let last = turn.last_number;
    let ids = InvoiceIds {
        id: keys::invoice_id_for(&draft.key().unwrap()),
        number: invoice_number(last + 1),
    };
    let finalized = draft.finalize(ids, 0, now).unwrap();
    let mut change = Change::new();
    let period = read.value.current_period();
    let seal = Seal {
        period_start: period.start,
        period_end: period.end,
        plan_code: "pro".into(),
        billed: true,
    };
    change.seal_period("sub_r", &seal, usage_version).unwrap();
    change
        .update_subscription(&read, &renewed.subscription, &plan, &plan, now)
        .unwrap();
    change.take_invoice_numbers(turn, 1);
    change.create_invoice(&finalized.invoice).unwrap();
    for (i, action) in renewed.actions.iter().chain(&finalized.actions).enumerate() {
        let entity_id = if action.entity_type() == billing_core::audit::EntityType::Invoice {
            &finalized.invoice.id
        } else {
            "sub_r"
        };
        change
            .audit(&AuditEntry {
                id: format!("aud_r{i}"),
                at: now,
                actor: "system:invoice-run".into(),
                action: *action,
                entity_type: action.entity_type(),
                entity_id: entity_id.to_owned(),
                data: serde_json::json!({}),
            })
            .unwrap();
    }
    let (writes, estimate) = (change.len(), change.estimated_write_units());
    ledger.commit(change).await.unwrap();
    let milli = table.consumed_write_milli_units() - before;
    let actions: Vec<&str> = renewed
        .actions
        .iter()
        .chain(&finalized.actions)
        .map(|a: &AuditAction| a.as_str())
        .collect();
    println!(
        "\nRenewal: one transaction of {writes} writes (usage version check, seal, subscription, \
         invoice number, invoice with 4 lines, audit {actions:?} each with its outbox event, the \
         dashboard counters of the new invoice). \
         DynamoDB Local reports {} units; by AWS's rules: {estimate} WRU.",
        units(milli)
    );
}
