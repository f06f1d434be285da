//! Hot paths of the invoice run: pricing one metric over three graduated tiers, and a whole
//! renewal (close the period, price usage, open the next, finalize totals against credit).
//! Target (DESIGN.md): a million renewal invoices in under one second of one core, i.e. under
//! 1,000 ns per renewal invoice. Run: `cargo bench -p billing-core --bench hot_paths`.
#![allow(clippy::unwrap_used)]

use std::hint::black_box;

use billing_core::invoice::{InvoiceIds, invoice_number};
use billing_core::plan::{PlanDraft, TierDraft, UsageChargeDraft};
use billing_core::pricing::usage_lines;
use billing_core::subscription::Subscription;
use billing_core::{Period, Timestamp};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn at(text: &str) -> Timestamp {
    text.parse().unwrap()
}

fn tier(up_to: Option<i64>, unit: &str) -> TierDraft {
    TierDraft {
        up_to,
        unit_amount_decimal: unit.into(),
        flat_amount_cents: None,
    }
}

fn hot_paths(c: &mut Criterion) {
    let plan = PlanDraft {
        code: "pro".into(),
        name: "Pro".into(),
        amount_cents: 2900,
        currency: None,
        interval: "month".into(),
        trial_days: None,
        usage_charges: vec![UsageChargeDraft {
            metric: "api_calls".into(),
            mode: "graduated".into(),
            tiers: vec![
                tier(Some(100_000), "0"),
                tier(Some(1_000_000), "0.05"),
                tier(None, "0.02"),
            ],
        }],
    }
    .validate(at("2027-01-01T00:00:00Z"))
    .unwrap();
    let plans = vec![plan.clone()];
    let subscription = Subscription::create(
        "sub_1".into(),
        "usr_1".into(),
        &plan,
        None,
        at("2027-01-01T00:00:00Z"),
    )
    .unwrap()
    .subscription;
    let period = Period::new(at("2027-01-01T00:00:00Z"), at("2027-02-01T00:00:00Z"));
    let usage = [("api_calls", 1_250_000_u64)];
    let now = at("2027-02-01T00:00:00Z");

    let mut group = c.benchmark_group("hot_paths");
    group.throughput(Throughput::Elements(1));
    group.bench_function("price_1_metric_3_tiers", |b| {
        b.iter(|| {
            usage_lines(
                black_box(&plan.usage_charges[0]),
                black_box(1_250_000),
                period,
            )
            .unwrap()
        })
    });
    group.bench_function("renewal_invoice", |b| {
        b.iter(|| {
            let renewed = black_box(&subscription)
                .renew(&plans, &usage[..], black_box(now))
                .unwrap();
            let draft = renewed.invoice.unwrap();
            let ids = InvoiceIds {
                id: "inv_1".into(),
                number: invoice_number(42),
            };
            (
                renewed.subscription,
                draft.finalize(ids, black_box(500), now).unwrap(),
            )
        })
    });
    group.finish();
}

criterion_group!(benches, hot_paths);
criterion_main!(benches);
