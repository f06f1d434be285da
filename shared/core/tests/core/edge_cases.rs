//! The cases other billing systems keep getting wrong: month ends, leap years, the first and
//! last second of a period, interval changes, boundaries, huge quantities, duplicate invoices.
#![allow(clippy::unwrap_used)]

use crate::common;

use std::collections::BTreeMap;

use billing_core::pricing::MAX_EVENT_QUANTITY;
use billing_core::subscription::{NoUsage, Subscription};
use common::*;

fn ends_after_renewals(plan_interval: &str, anchor: &str, renewals: usize) -> Vec<String> {
    let plan = flat_plan("p", 1000, plan_interval);
    let plans = vec![plan.clone()];
    let mut sub = subscribe(&plan, anchor).subscription;
    let mut ends = vec![sub.current_period_end.to_rfc3339()];
    for _ in 0..renewals {
        sub = sub
            .renew(&plans, &NoUsage, sub.current_period_end)
            .unwrap()
            .subscription;
        ends.push(sub.current_period_end.to_rfc3339());
    }
    ends
}

#[test]
fn a_jan_31_subscription_renews_on_each_month_end_and_back_to_the_31st() {
    assert_eq!(
        ends_after_renewals("month", "2027-01-31T10:00:00Z", 3),
        [
            "2027-02-28T10:00:00+00:00",
            "2027-03-31T10:00:00+00:00",
            "2027-04-30T10:00:00+00:00",
            "2027-05-31T10:00:00+00:00"
        ]
    );
}

#[test]
fn leap_years_feb_29_and_back() {
    assert_eq!(
        ends_after_renewals("month", "2028-01-31T00:00:00Z", 1),
        ["2028-02-29T00:00:00+00:00", "2028-03-31T00:00:00+00:00"]
    );
    assert_eq!(
        ends_after_renewals("year", "2028-02-29T00:00:00Z", 4),
        [
            "2029-02-28T00:00:00+00:00",
            "2030-02-28T00:00:00+00:00",
            "2031-02-28T00:00:00+00:00",
            "2032-02-29T00:00:00+00:00",
            "2033-02-28T00:00:00+00:00"
        ]
    );
}

#[test]
fn a_plan_change_in_the_first_second_credits_the_whole_fee() {
    let basic = flat_plan("basic", 1000, "month");
    let pro = flat_plan("pro", 2900, "month");
    let sub = subscribe(&basic, "2027-01-01T00:00:00Z").subscription;
    let changed = sub
        .change_plan_now(&basic, &pro, &NoUsage, at("2027-01-01T00:00:00Z"))
        .unwrap();
    assert_eq!(
        line_amounts(changed.invoice.as_ref().unwrap()),
        [("proration_credit", -1000), ("base_fee", 2900)]
    );
}

#[test]
fn a_plan_change_in_the_last_second_credits_one_seconds_worth() {
    let big = flat_plan("big", 1_000_000_000, "month");
    let pro = flat_plan("pro", 2900, "month");
    let sub = subscribe(&big, "2027-01-01T00:00:00Z").subscription;
    let changed = sub
        .change_plan_now(&big, &pro, &NoUsage, at("2027-01-31T23:59:59Z"))
        .unwrap();
    // round(1e9 × 1 / 2,678,400) = round(373.36…) = 373.
    assert_eq!(
        line_amounts(changed.invoice.as_ref().unwrap()),
        [("proration_credit", -373), ("base_fee", 2900)]
    );
    // For a small fee one second rounds to nothing: no 0¢ credit line.
    let basic = flat_plan("basic", 1000, "month");
    let small = subscribe(&basic, "2027-01-01T00:00:00Z").subscription;
    let changed = small
        .change_plan_now(&basic, &pro, &NoUsage, at("2027-01-31T23:59:59Z"))
        .unwrap();
    assert_eq!(
        line_amounts(changed.invoice.as_ref().unwrap()),
        [("base_fee", 2900)]
    );
}

#[test]
fn at_the_period_end_the_renewal_comes_first() {
    let basic = flat_plan("basic", 1000, "month");
    let pro = flat_plan("pro", 2900, "month");
    let sub = subscribe(&basic, "2027-01-01T00:00:00Z").subscription;
    let error = sub
        .change_plan_now(&basic, &pro, &NoUsage, at("2027-02-01T00:00:00Z"))
        .unwrap_err();
    assert_eq!(error.code(), "renewal_due");
    let error = sub
        .cancel_now(&basic, &NoUsage, at("2027-02-01T00:00:00Z"))
        .unwrap_err();
    assert_eq!(error.code(), "renewal_due");
}

#[test]
fn monthly_to_yearly_credits_the_unused_month_and_opens_a_year() {
    let monthly = flat_plan("monthly", 3000, "month");
    let yearly = flat_plan("yearly", 30000, "year");
    let sub = subscribe(&monthly, "2027-04-01T00:00:00Z").subscription;
    let changed = sub
        .change_plan_now(&monthly, &yearly, &NoUsage, at("2027-04-16T00:00:00Z"))
        .unwrap();
    // April has 30 days; 15 unused: round(3000 × 15/30) = 1500.
    assert_eq!(
        line_amounts(changed.invoice.as_ref().unwrap()),
        [("proration_credit", -1500), ("base_fee", 30000)]
    );
    assert_eq!(
        changed.subscription.current_period_end,
        at("2028-04-16T00:00:00Z")
    );
}

#[test]
fn yearly_to_monthly_credits_the_unused_part_of_the_year() {
    let yearly = flat_plan("yearly", 36500, "year");
    let monthly = flat_plan("monthly", 3000, "month");
    let sub = subscribe(&yearly, "2027-01-01T00:00:00Z").subscription;
    let changed = sub
        .change_plan_now(&yearly, &monthly, &NoUsage, at("2027-04-11T00:00:00Z"))
        .unwrap();
    // 2027 has 365 days; from Apr 11, 265 are unused: 36500 × 265/365 = 26500 exactly.
    assert_eq!(
        line_amounts(changed.invoice.as_ref().unwrap()),
        [("proration_credit", -26500), ("base_fee", 3000)]
    );
    assert_eq!(
        changed.subscription.current_period_end,
        at("2027-05-11T00:00:00Z")
    );
}

#[test]
fn a_scheduled_switch_to_yearly_keeps_the_anchors_day_of_month() {
    let monthly = flat_plan("monthly", 3000, "month");
    let yearly = flat_plan("yearly", 30000, "year");
    let plans = vec![monthly.clone(), yearly.clone()];
    let sub = subscribe(&monthly, "2027-01-31T00:00:00Z").subscription;
    let scheduled = sub
        .schedule_plan_change(&monthly, &yearly, at("2027-02-01T00:00:00Z"))
        .unwrap();
    let renewed = scheduled
        .subscription
        .renew(&plans, &NoUsage, at("2027-02-28T00:00:00Z"))
        .unwrap();
    // Period [Feb 28 2027, Jan 31 + 13 months = Feb 29 2028).
    assert_eq!(
        renewed.subscription.current_period_end,
        at("2028-02-29T00:00:00Z")
    );
    assert_eq!(
        line_amounts(renewed.invoice.as_ref().unwrap()),
        [("base_fee", 30000)]
    );
}

#[test]
fn zero_usage_bills_only_the_fee() {
    let plan = plan("metered", 500, "month", 0, vec![api_calls_graduated()]);
    let sub = subscribe(&plan, "2027-01-01T00:00:00Z").subscription;
    let renewed = sub
        .renew(
            &vec![plan],
            &BTreeMap::from([("api_calls".to_string(), 0)]),
            at("2027-02-01T00:00:00Z"),
        )
        .unwrap();
    assert_eq!(
        line_amounts(renewed.invoice.as_ref().unwrap()),
        [("base_fee", 500)]
    );
}

#[test]
fn usage_exactly_on_a_tier_boundary_through_a_renewal() {
    let plan = plan("metered", 0, "month", 0, vec![api_calls_graduated()]);
    let sub = subscribe(&plan, "2027-01-01T00:00:00Z").subscription;
    let plans = vec![plan];
    let on_boundary = sub
        .renew(
            &plans,
            &[("api_calls", 1_000_000_u64)][..],
            at("2027-02-01T00:00:00Z"),
        )
        .unwrap();
    assert_eq!(
        line_amounts(on_boundary.invoice.as_ref().unwrap()),
        [("usage", 0), ("usage", 45_000), ("base_fee", 0)]
    );
}

#[test]
fn a_trillion_units_at_the_smallest_and_largest_unit_prices() {
    for (unit, expected_cents) in [
        ("0.000000000001", 1_i64),
        ("1000000", 1_000_000_000_000_000_000),
    ] {
        let plan = plan(
            "p",
            0,
            "month",
            0,
            vec![charge("m", "graduated", &[(None, unit, 0)])],
        );
        let sub = subscribe(&plan, "2027-01-01T00:00:00Z").subscription;
        let renewed = sub
            .renew(
                &vec![plan],
                &[("m", MAX_EVENT_QUANTITY)][..],
                at("2027-02-01T00:00:00Z"),
            )
            .unwrap();
        let invoice = renewed.invoice.unwrap();
        assert_eq!(
            line_amounts(&invoice),
            [("usage", expected_cents), ("base_fee", 0)]
        );
        assert_eq!(invoice.subtotal_cents().unwrap(), expected_cents);
    }
}

#[test]
fn totals_beyond_i64_are_an_error_not_a_wrap() {
    let plan = plan(
        "p",
        0,
        "month",
        0,
        vec![charge("m", "graduated", &[(None, "1000000", 0)])],
    );
    let sub = subscribe(&plan, "2027-01-01T00:00:00Z").subscription;
    // Ten million events of 10^12 units each, at the largest price.
    let error = sub
        .renew(
            &vec![plan],
            &[("m", 10 * MAX_EVENT_QUANTITY)][..],
            at("2027-02-01T00:00:00Z"),
        )
        .unwrap_err();
    assert_eq!(error.code(), "amount_overflow");
}

#[test]
fn renewing_the_same_period_twice_names_the_same_invoice() {
    // Two runners that both read the subscription before either wrote produce the same key,
    // so the conditional write of the second one fails instead of billing twice.
    let plan = flat_plan("pro", 2900, "month");
    let plans = vec![plan.clone()];
    let sub = subscribe(&plan, "2027-01-01T00:00:00Z").subscription;
    let first = sub
        .renew(&plans, &NoUsage, at("2027-02-01T00:00:00Z"))
        .unwrap();
    let second = sub
        .renew(&plans, &NoUsage, at("2027-02-01T00:05:00Z"))
        .unwrap();
    assert_eq!(first.invoice.unwrap().key(), second.invoice.unwrap().key());
}

#[test]
fn two_plan_changes_in_the_same_second_are_two_distinct_invoices() {
    let basic = flat_plan("basic", 1000, "month");
    let pro = flat_plan("pro", 2900, "month");
    let sub = subscribe(&basic, "2027-01-01T00:00:00Z").subscription;
    let now = at("2027-01-11T00:00:00Z");
    let first = sub.change_plan_now(&basic, &pro, &NoUsage, now).unwrap();
    let second = first
        .subscription
        .change_plan_now(&pro, &basic, &NoUsage, now)
        .unwrap();
    let (a, b) = (first.invoice.unwrap(), second.invoice.unwrap());
    assert_ne!(a.key(), b.key());
    // The second change happens in the new period's first second: the whole 2900 comes back.
    assert_eq!(
        line_amounts(&b),
        [("proration_credit", -2900), ("base_fee", 1000)]
    );
}

#[test]
fn create_and_first_renewal_have_distinct_keys() {
    let plan = flat_plan("pro", 2900, "month");
    let created = subscribe(&plan, "2027-01-01T00:00:00Z");
    let renewed = created
        .subscription
        .renew(&vec![plan], &NoUsage, at("2027-02-01T00:00:00Z"))
        .unwrap();
    let (a, b) = (
        created.invoice.unwrap().key().unwrap(),
        renewed.invoice.unwrap().key().unwrap(),
    );
    assert_eq!(a.period_start, b.period_start);
    assert_ne!(a, b);
}

#[test]
fn a_trial_that_ends_on_feb_29_anchors_the_paid_periods_there() {
    let trial = plan("pro", 2900, "month", 29, vec![]);
    let sub = Subscription::create(
        "s".into(),
        "u".into(),
        &trial,
        None,
        at("2028-01-31T00:00:00Z"),
    )
    .unwrap()
    .subscription;
    assert_eq!(sub.trial_end, Some(at("2028-02-29T00:00:00Z")));
    let active = sub
        .renew(&vec![trial], &NoUsage, at("2028-02-29T00:00:00Z"))
        .unwrap()
        .subscription;
    assert_eq!(active.current_period_end, at("2028-03-29T00:00:00Z"));
}
