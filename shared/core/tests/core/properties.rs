//! Invariants that must hold for every input, checked with proptest.
#![allow(clippy::unwrap_used)]

use crate::common;

use billing_core::Period;
use billing_core::invoice::{
    BillingReason, InvoiceDraft, InvoiceKind, InvoiceLine, LineKind, Totals,
};
use billing_core::period::{Interval, add_months, nth_period};
use billing_core::plan::{Plan, TierMode};
use billing_core::pricing::{late_usage_lines, usage_lines};
use billing_core::subscription::{NoUsage, proration_credit_cents};
use billing_core::{Currency, Timestamp, UnitPrice};
use chrono::{Duration, TimeZone, Utc};
use common::*;
use proptest::prelude::*;

/// Any second between 2000 and 2100.
fn instant() -> impl Strategy<Value = Timestamp> {
    (946_684_800_i64..4_102_444_800).prop_map(|s| Utc.timestamp_opt(s, 0).unwrap())
}

fn interval() -> impl Strategy<Value = Interval> {
    prop_oneof![Just(Interval::Month), Just(Interval::Year)]
}

fn unit_price() -> impl Strategy<Value = String> {
    (0_u64..1_000_000, 0_u64..1_000_000_000_000)
        .prop_map(|(whole, fraction)| format!("{whole}.{fraction:012}"))
}

/// A valid charge: ascending bounds, last unbounded, arbitrary non-negative prices.
fn tiered_plan(mode: &'static str) -> impl Strategy<Value = Plan> {
    prop::collection::vec((1_u64..1_000_000, unit_price(), 0_i64..100_000), 1..6).prop_map(
        move |raw| {
            let mut up_to = 0_i64;
            let last = raw.len() - 1;
            let tiers: Vec<(Option<i64>, String, i64)> = raw
                .into_iter()
                .enumerate()
                .map(|(i, (width, unit, flat))| {
                    up_to += i64::try_from(width).unwrap();
                    ((i < last).then_some(up_to), unit, flat)
                })
                .collect();
            let borrowed: Vec<(Option<i64>, &str, i64)> =
                tiers.iter().map(|(u, p, f)| (*u, p.as_str(), *f)).collect();
            plan("p", 1000, "month", 0, vec![charge("m", mode, &borrowed)])
        },
    )
}

fn period() -> Period {
    Period::new(at("2027-01-01T00:00:00Z"), at("2027-02-01T00:00:00Z"))
}

proptest! {
    #[test]
    fn periods_are_contiguous_and_computed_from_the_anchor(anchor in instant(), interval in interval(), n in 1_u32..60) {
        let mut previous_end = anchor;
        for k in 0..n {
            let p = nth_period(anchor, interval, k).unwrap();
            prop_assert_eq!(p.start, previous_end);
            prop_assert!(p.end > p.start);
            prop_assert_eq!(p.start, add_months(anchor, k * interval.months()).unwrap());
            previous_end = p.end;
        }
    }

    #[test]
    fn renewals_chain_contiguous_periods(anchor in instant(), yearly in any::<bool>(), n in 1_usize..40) {
        let plan = flat_plan("p", 1000, if yearly { "year" } else { "month" });
        let plans = vec![plan.clone()];
        let mut sub = billing_core::subscription::Subscription::create("s".into(), "u".into(), &plan, None, anchor).unwrap().subscription;
        for _ in 0..n {
            let next = sub.renew(&plans, &NoUsage, sub.current_period_end).unwrap();
            let invoice = next.invoice.unwrap();
            prop_assert_eq!(next.subscription.current_period_start, sub.current_period_end);
            prop_assert_eq!(invoice.period, sub.current_period());
            prop_assert_eq!(invoice.lines[0].period_start, sub.current_period_end);
            sub = next.subscription;
        }
    }

    #[test]
    fn catch_up_over_n_periods_yields_n_invoices(anchor in instant(), n in 1_usize..48) {
        let plan = flat_plan("p", 1000, "month");
        let created = billing_core::subscription::Subscription::create("s".into(), "u".into(), &plan, None, anchor).unwrap();
        let mut end = anchor;
        for k in 0..n {
            end = nth_period(anchor, Interval::Month, u32::try_from(k).unwrap()).unwrap().end;
        }
        // Anywhere inside period n (after n periods have ended, before the next one ends).
        let now = end + Duration::seconds(1);
        let transitions = created.subscription.renew_due(&vec![plan], |_| NoUsage, now).unwrap();
        prop_assert_eq!(transitions.len(), n);
        let mut keys: Vec<_> = transitions.iter().map(|t| t.invoice.as_ref().unwrap().key().unwrap()).collect();
        let starts: Vec<_> = keys.iter().map(|k| k.period_start).collect();
        prop_assert!(starts.windows(2).all(|w| w[0] < w[1]));
        keys.dedup();
        prop_assert_eq!(keys.len(), n);
    }

    #[test]
    fn graduated_total_is_the_sum_of_its_tier_slices(plan in tiered_plan("graduated"), quantity in 0_u64..10_000_000) {
        let charge = &plan.usage_charges[0];
        let lines = usage_lines(charge, quantity, period()).unwrap();
        prop_assert_eq!(lines.iter().map(|l| l.quantity.unwrap()).sum::<u64>(), quantity);
        // Each line is its tier's slice, priced on its own, tiers in order from the first.
        let mut floor = 0_u64;
        for (i, line) in lines.iter().enumerate() {
            let tier = &charge.tiers[i];
            prop_assert_eq!(line.tier, Some(u32::try_from(i + 1).unwrap()));
            let width = tier.up_to.map_or(u64::MAX, |up| up - floor);
            prop_assert!(line.quantity.unwrap() <= width);
            prop_assert_eq!(line.amount_cents, tier.unit_amount_decimal.line_amount(line.quantity.unwrap(), tier.flat_amount_cents).unwrap());
            floor = tier.up_to.unwrap_or(u64::MAX);
        }
    }

    #[test]
    fn volume_prices_every_unit_at_one_tier(plan in tiered_plan("volume"), quantity in 1_u64..10_000_000) {
        let charge = &plan.usage_charges[0];
        prop_assert_eq!(charge.mode, TierMode::Volume);
        let lines = usage_lines(charge, quantity, period()).unwrap();
        prop_assert_eq!(lines.len(), 1);
        // The tier is the first whose ceiling holds the whole quantity, found here on its own
        // rather than read back from the line under test.
        let expected = charge.tiers.iter().position(|t| t.up_to.is_none_or(|up| quantity <= up)).unwrap();
        prop_assert_eq!(lines[0].tier, Some(u32::try_from(expected + 1).unwrap()));
        prop_assert_eq!(lines[0].quantity, Some(quantity));
        let tier = &charge.tiers[expected];
        prop_assert_eq!(lines[0].amount_cents, tier.unit_amount_decimal.line_amount(quantity, tier.flat_amount_cents).unwrap());
    }

    #[test]
    fn late_graduated_usage_adds_up_to_pricing_the_total_within_rounding(
        plan in tiered_plan("graduated"), billed in 0_u64..5_000_000, late in 0_u64..5_000_000,
    ) {
        let charge = &plan.usage_charges[0];
        let sum = |lines: Vec<InvoiceLine>| lines.iter().map(|l| l.amount_cents).sum::<i64>();
        let together = sum(usage_lines(charge, billed + late, period()).unwrap());
        let split = sum(usage_lines(charge, billed, period()).unwrap()) + sum(late_usage_lines(charge, billed, late, period()).unwrap());
        // Each line rounds once; splitting a tier in two can move at most one cent per tier.
        prop_assert!((together - split).abs() <= i64::try_from(charge.tiers.len()).unwrap());
    }

    #[test]
    fn proration_credit_never_exceeds_the_fee(fee in 0_i64..1_000_000_000_000, start in instant(), length in 1_i64..40_000_000, offset in 0_i64..40_000_000) {
        let period = Period::new(start, start + Duration::seconds(length));
        let at = start + Duration::seconds(offset.min(length - 1));
        let credit = proration_credit_cents(fee, period, at).unwrap();
        prop_assert!((0..=fee).contains(&credit));
        if at == period.start {
            prop_assert_eq!(credit, fee);
        }
    }

    #[test]
    fn subtotal_is_the_sum_of_lines_and_totals_are_consistent(
        amounts in prop::collection::vec(-1_000_000_i64..1_000_000, 1..20), balance in 0_i64..2_000_000,
    ) {
        let lines = amounts
            .iter()
            .map(|a| InvoiceLine::plain(LineKind::Adjustment, String::new(), *a, period()))
            .collect();
        let draft = InvoiceDraft {
            kind: InvoiceKind::Subscription,
            billing_reason: BillingReason::SubscriptionCycle,
            user_id: "u".into(),
            subscription_id: Some("s".into()),
            currency: Currency::USD,
            period: period(),
            lines,
            related_invoice_id: None,
        };
        let subtotal: i64 = amounts.iter().sum();
        prop_assert_eq!(draft.subtotal_cents().unwrap(), subtotal);
        let totals = Totals::compute(subtotal, balance).unwrap();
        prop_assert!(totals.credit_applied_cents >= 0 && totals.credit_applied_cents <= balance);
        prop_assert!(totals.amount_due_cents >= 0);
        prop_assert_eq!(totals.amount_due_cents + totals.credit_applied_cents, subtotal.max(0));
        // Money is conserved: what the invoice consumes or adds moves the balance exactly.
        prop_assert_eq!(totals.credit_balance_after_cents - balance, -totals.credit_applied_cents + (-subtotal).max(0));
    }

    #[test]
    fn unit_prices_print_back_to_the_same_value(text in unit_price()) {
        let price = UnitPrice::parse(&text).unwrap();
        prop_assert_eq!(UnitPrice::parse(&price.to_string()).unwrap(), price);
    }
}
