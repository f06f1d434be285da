//! Every worked example of ../shared/spec/BILLING.md, by name. The numbers are the contract.
#![allow(clippy::unwrap_used)]

use crate::common;

use billing_core::Interval;
use billing_core::invoice::BillingReason;
use billing_core::period::nth_period;
use billing_core::pricing::usage_lines;
use billing_core::subscription::{NoUsage, proration_credit_cents};
use common::*;

#[test]
fn billing_periods_jan_31_anchor_monthly_clamps_to_month_end() {
    let anchor = at("2027-01-31T10:00:00Z");
    let ends: Vec<_> = (0..3)
        .map(|k| nth_period(anchor, Interval::Month, k).unwrap().end)
        .collect();
    assert_eq!(
        ends,
        [
            at("2027-02-28T10:00:00Z"),
            at("2027-03-31T10:00:00Z"),
            at("2027-04-30T10:00:00Z")
        ]
    );
}

#[test]
fn billing_periods_jan_31_2028_anchor_first_end_is_feb_29() {
    let first = nth_period(at("2028-01-31T00:00:00Z"), Interval::Month, 0).unwrap();
    assert_eq!(first.end, at("2028-02-29T00:00:00Z"));
}

#[test]
fn billing_periods_yearly_from_feb_29_2028() {
    let anchor = at("2028-02-29T00:00:00Z");
    let ends: Vec<_> = (0..4)
        .map(|k| nth_period(anchor, Interval::Year, k).unwrap().end)
        .collect();
    assert_eq!(
        ends,
        [
            at("2029-02-28T00:00:00Z"),
            at("2030-02-28T00:00:00Z"),
            at("2031-02-28T00:00:00Z"),
            at("2032-02-29T00:00:00Z")
        ]
    );
}

#[test]
fn tier_pricing_graduated_example_1_250_000_units() {
    let plan = plan("metered", 0, "month", 0, vec![api_calls_graduated()]);
    let period = nth_period(at("2027-01-01T00:00:00Z"), Interval::Month, 0).unwrap();
    let lines = usage_lines(&plan.usage_charges[0], 1_250_000, period).unwrap();
    let got: Vec<_> = lines
        .iter()
        .map(|l| {
            (
                l.quantity.unwrap(),
                l.unit_amount_decimal.unwrap().to_string(),
                l.amount_cents,
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (100_000, "0".to_string(), 0),
            (900_000, "0.05".to_string(), 45_000),
            (250_000, "0.02".to_string(), 5_000)
        ]
    );
}

#[test]
fn tier_pricing_volume_example_12_000_units() {
    let volume = charge(
        "seats",
        "volume",
        &[(Some(10_000), "1", 0), (None, "0.5", 100)],
    );
    let plan = plan("volume", 0, "month", 0, vec![volume]);
    let period = nth_period(at("2027-01-01T00:00:00Z"), Interval::Month, 0).unwrap();
    let lines = usage_lines(&plan.usage_charges[0], 12_000, period).unwrap();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0].amount_cents, 6_100);
}

#[test]
fn plan_change_now_basic_to_pro_on_jan_11_credits_677_and_bills_2900() {
    let basic = flat_plan("basic", 1000, "month");
    let pro = flat_plan("pro", 2900, "month");
    let subscription = subscribe(&basic, "2027-01-01T00:00:00Z").subscription;
    let period = subscription.current_period();
    assert_eq!(period.seconds(), 2_678_400);
    let change_at = at("2027-01-11T00:00:00Z");
    assert_eq!((period.end - change_at).num_seconds(), 1_814_400);
    assert_eq!(
        proration_credit_cents(1000, period, change_at).unwrap(),
        677
    );

    let changed = subscription
        .change_plan_now(&basic, &pro, &NoUsage, change_at)
        .unwrap();
    let invoice = changed.invoice.unwrap();
    assert_eq!(invoice.billing_reason, BillingReason::SubscriptionUpdate);
    assert_eq!(
        line_amounts(&invoice),
        [("proration_credit", -677), ("base_fee", 2900)]
    );
    assert_eq!(
        invoice.lines[0].description,
        "Unused time on Basic from 2027-01-11 00:00:00 to 2027-02-01 00:00:00"
    );
    assert_eq!(
        invoice.lines[1].description,
        "Pro — monthly fee, 2027-01-11 to 2027-02-11"
    );
    assert_eq!(
        finalize(invoice, 0, change_at).invoice.amount_due_cents,
        2223
    );
    let next = changed.subscription;
    assert_eq!(next.plan_code, "pro");
    assert_eq!(
        (next.current_period_start, next.current_period_end),
        (at("2027-01-11T00:00:00Z"), at("2027-02-11T00:00:00Z"))
    );
    assert_eq!(next.billing_anchor, change_at);
}
