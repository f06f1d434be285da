//! The subscription state machine, command by command (BILLING.md "Subscriptions").
#![allow(clippy::unwrap_used)]

use crate::common;

use std::collections::BTreeMap;

use billing_core::audit::AuditAction;
use billing_core::invoice::{BillingReason, InvoiceStatus};
use billing_core::payment::{AttemptOutcome, DunningSchedule, SubscriptionEffect};
use billing_core::subscription::{NoUsage, Subscription, SubscriptionStatus};
use common::*;

fn usage(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
    pairs.iter().map(|(m, q)| ((*m).to_string(), *q)).collect()
}

#[test]
fn create_without_trial_is_active_and_invoices_the_first_period_at_once() {
    let pro = flat_plan("pro", 2900, "month");
    let created = subscribe(&pro, "2027-01-15T09:30:00Z");
    let sub = &created.subscription;
    assert_eq!(sub.status, SubscriptionStatus::Active);
    assert_eq!(
        (sub.current_period_start, sub.current_period_end),
        (at("2027-01-15T09:30:00Z"), at("2027-02-15T09:30:00Z"))
    );
    assert_eq!(created.actions, [AuditAction::SubscriptionCreated]);
    let invoice = created.invoice.as_ref().unwrap();
    assert_eq!(invoice.billing_reason, BillingReason::SubscriptionCreate);
    assert_eq!(line_amounts(invoice), [("base_fee", 2900)]);
    assert_eq!(invoice.period, sub.current_period());
    assert_eq!(
        invoice.key().unwrap().period_start,
        at("2027-01-15T09:30:00Z")
    );
}

#[test]
fn create_with_a_trial_is_trialing_without_an_invoice() {
    let trial = plan("pro", 2900, "month", 14, vec![]);
    let created = subscribe(&trial, "2027-01-01T00:00:00Z");
    assert_eq!(created.subscription.status, SubscriptionStatus::Trialing);
    assert_eq!(
        created.subscription.trial_end,
        Some(at("2027-01-15T00:00:00Z"))
    );
    assert_eq!(
        created.subscription.current_period_end,
        at("2027-01-15T00:00:00Z")
    );
    assert!(created.invoice.is_none());
}

#[test]
fn the_request_can_override_the_plans_trial() {
    let trial = plan("pro", 2900, "month", 14, vec![]);
    let no_trial = Subscription::create(
        "s".into(),
        "u".into(),
        &trial,
        Some(0),
        at("2027-01-01T00:00:00Z"),
    )
    .unwrap();
    assert_eq!(no_trial.subscription.status, SubscriptionStatus::Active);
    assert!(no_trial.invoice.is_some());
    let flat = flat_plan("basic", 1000, "month");
    let longer = Subscription::create(
        "s".into(),
        "u".into(),
        &flat,
        Some(30),
        at("2027-01-01T00:00:00Z"),
    )
    .unwrap();
    assert_eq!(
        longer.subscription.trial_end,
        Some(at("2027-01-31T00:00:00Z"))
    );
}

#[test]
fn an_archived_plan_takes_no_new_subscriptions() {
    let mut old = flat_plan("old", 1000, "month");
    old.archive();
    let refused = Subscription::create(
        "s".into(),
        "u".into(),
        &old,
        None,
        at("2027-01-01T00:00:00Z"),
    );
    assert_eq!(refused.unwrap_err().code(), "plan_archived");
}

#[test]
fn renewal_bills_the_closing_periods_usage_and_the_next_periods_fee() {
    let plan = plan("pro", 2900, "month", 0, vec![api_calls_graduated()]);
    let plans = vec![plan.clone()];
    let sub = subscribe(&plan, "2027-01-01T00:00:00Z").subscription;
    let renewed = sub
        .renew(
            &plans,
            &usage(&[("api_calls", 1_250_000)]),
            at("2027-02-01T00:00:00Z"),
        )
        .unwrap();
    let invoice = renewed.invoice.unwrap();
    assert_eq!(invoice.billing_reason, BillingReason::SubscriptionCycle);
    assert_eq!(
        line_amounts(&invoice),
        [
            ("usage", 0),
            ("usage", 45_000),
            ("usage", 5_000),
            ("base_fee", 2900)
        ]
    );
    assert_eq!(invoice.period, sub.current_period());
    assert_eq!(invoice.lines[0].period_end, at("2027-02-01T00:00:00Z"));
    assert_eq!(invoice.lines[3].period_start, at("2027-02-01T00:00:00Z"));
    assert_eq!(invoice.lines[3].period_end, at("2027-03-01T00:00:00Z"));
    assert_eq!(renewed.actions, [AuditAction::SubscriptionRenewed]);
    assert_eq!(
        renewed.subscription.current_period_start,
        at("2027-02-01T00:00:00Z")
    );
    assert_eq!(
        renewed.subscription.current_period_end,
        at("2027-03-01T00:00:00Z")
    );
}

#[test]
fn a_period_that_has_not_ended_is_not_renewed() {
    let plan = flat_plan("pro", 2900, "month");
    let sub = subscribe(&plan, "2027-01-01T00:00:00Z").subscription;
    let early = sub.renew(&vec![plan], &NoUsage, at("2027-01-31T23:59:59Z"));
    assert_eq!(early.unwrap_err().code(), "not_due");
}

#[test]
fn trial_end_activates_and_moves_the_anchor_without_billing_trial_usage() {
    let plan = plan("pro", 2900, "month", 10, vec![api_calls_graduated()]);
    let sub = subscribe(&plan, "2027-01-21T12:00:00Z").subscription;
    let ended = sub
        .renew(
            &vec![plan],
            &usage(&[("api_calls", 5_000_000)]),
            at("2027-01-31T12:00:00Z"),
        )
        .unwrap();
    let next = &ended.subscription;
    assert_eq!(next.status, SubscriptionStatus::Active);
    assert_eq!(next.billing_anchor, at("2027-01-31T12:00:00Z"));
    assert_eq!(next.current_period_end, at("2027-02-28T12:00:00Z"));
    assert_eq!(ended.actions, [AuditAction::SubscriptionTrialEnded]);
    let invoice = ended.invoice.unwrap();
    assert_eq!(line_amounts(&invoice), [("base_fee", 2900)]);
    assert_eq!(invoice.billing_reason, BillingReason::SubscriptionCycle);
    // The anchor is the trial end: the next period clamps from Jan 31, back to Mar 31.
    let again = next.renew(
        &vec![flat_plan("pro", 2900, "month")],
        &NoUsage,
        at("2027-02-28T12:00:00Z"),
    );
    assert_eq!(
        again.unwrap().subscription.current_period_end,
        at("2027-03-31T12:00:00Z")
    );
}

#[test]
fn a_clock_that_jumped_three_periods_renews_one_period_at_a_time_in_order() {
    let plan = flat_plan("pro", 2900, "month");
    let sub = subscribe(&plan, "2027-01-01T00:00:00Z").subscription;
    let plans = vec![plan];
    let transitions = sub
        .renew_due(&plans, |_| NoUsage, at("2027-04-15T00:00:00Z"))
        .unwrap();
    let starts: Vec<_> = transitions
        .iter()
        .map(|t| t.invoice.as_ref().unwrap().period.start)
        .collect();
    assert_eq!(
        starts,
        [
            at("2027-01-01T00:00:00Z"),
            at("2027-02-01T00:00:00Z"),
            at("2027-03-01T00:00:00Z")
        ]
    );
    let last = &transitions[2].subscription;
    assert_eq!(last.current_period_start, at("2027-04-01T00:00:00Z"));
    assert!(!last.is_due(at("2027-04-15T00:00:00Z")));
}

#[test]
fn a_plan_change_during_a_trial_only_switches_the_plan() {
    let basic = plan("basic", 1000, "month", 14, vec![]);
    let pro = flat_plan("pro", 2900, "month");
    let sub = subscribe(&basic, "2027-01-01T00:00:00Z").subscription;
    let changed = sub
        .change_plan_now(&basic, &pro, &NoUsage, at("2027-01-05T00:00:00Z"))
        .unwrap();
    assert!(changed.invoice.is_none());
    assert_eq!(changed.subscription.plan_code, "pro");
    assert_eq!(changed.subscription.status, SubscriptionStatus::Trialing);
    assert_eq!(
        changed.subscription.trial_end,
        Some(at("2027-01-15T00:00:00Z"))
    );
    assert_eq!(changed.actions, [AuditAction::SubscriptionPlanChanged]);
}

#[test]
fn a_plan_change_now_bills_usage_so_far_by_the_old_plan() {
    let metered = plan("metered", 1000, "month", 0, vec![api_calls_graduated()]);
    let pro = flat_plan("pro", 2900, "month");
    let sub = subscribe(&metered, "2027-01-01T00:00:00Z").subscription;
    let changed = sub
        .change_plan_now(
            &metered,
            &pro,
            &usage(&[("api_calls", 200_000)]),
            at("2027-01-11T00:00:00Z"),
        )
        .unwrap();
    let invoice = changed.invoice.unwrap();
    assert_eq!(
        line_amounts(&invoice),
        [
            ("usage", 0),
            ("usage", 5_000),
            ("proration_credit", -677),
            ("base_fee", 2900)
        ]
    );
    assert_eq!(invoice.lines[1].period_end, at("2027-01-11T00:00:00Z"));
    assert_eq!(invoice.period.end, at("2027-01-11T00:00:00Z"));
}

#[test]
fn a_plan_change_at_period_end_applies_at_renewal_without_proration() {
    let metered = plan("metered", 1000, "month", 0, vec![api_calls_graduated()]);
    let pro = flat_plan("pro", 2900, "month");
    let plans = vec![metered.clone(), pro.clone()];
    let sub = subscribe(&metered, "2027-01-01T00:00:00Z").subscription;
    let scheduled = sub
        .schedule_plan_change(&metered, &pro, at("2027-01-20T00:00:00Z"))
        .unwrap();
    assert!(scheduled.invoice.is_none());
    assert_eq!(
        scheduled.actions,
        [AuditAction::SubscriptionPlanChangeScheduled]
    );
    assert_eq!(
        scheduled.subscription.pending_plan_code.as_deref(),
        Some("pro")
    );
    assert_eq!(scheduled.subscription.plan_code, "metered");

    let renewed = scheduled
        .subscription
        .renew(
            &plans,
            &usage(&[("api_calls", 150_000)]),
            at("2027-02-01T00:00:00Z"),
        )
        .unwrap();
    assert_eq!(
        line_amounts(renewed.invoice.as_ref().unwrap()),
        [("usage", 0), ("usage", 2_500), ("base_fee", 2900)]
    );
    assert_eq!(renewed.subscription.plan_code, "pro");
    assert_eq!(renewed.subscription.pending_plan_code, None);
    assert_eq!(
        renewed.actions,
        [
            AuditAction::SubscriptionRenewed,
            AuditAction::SubscriptionPlanChanged
        ]
    );
}

#[test]
fn cancel_at_period_end_ends_with_a_usage_only_final_invoice() {
    let metered = plan("metered", 1000, "month", 0, vec![api_calls_graduated()]);
    let sub = subscribe(&metered, "2027-01-01T00:00:00Z").subscription;
    let scheduled = sub
        .cancel_at_period_end(at("2027-01-10T00:00:00Z"))
        .unwrap();
    assert_eq!(
        scheduled.actions,
        [AuditAction::SubscriptionCancelScheduled]
    );
    let twice = scheduled
        .subscription
        .cancel_at_period_end(at("2027-01-11T00:00:00Z"))
        .unwrap();
    assert!(twice.actions.is_empty(), "asking twice changes nothing");

    let plans = vec![metered];
    let ended = scheduled
        .subscription
        .renew(
            &plans,
            &usage(&[("api_calls", 300_000)]),
            at("2027-02-01T00:00:00Z"),
        )
        .unwrap();
    assert_eq!(
        line_amounts(ended.invoice.as_ref().unwrap()),
        [("usage", 0), ("usage", 10_000)]
    );
    assert_eq!(ended.subscription.status, SubscriptionStatus::Canceled);
    assert_eq!(
        ended.subscription.canceled_at,
        Some(at("2027-02-01T00:00:00Z"))
    );
    assert_eq!(ended.actions, [AuditAction::SubscriptionCanceled]);

    // Without usage the final invoice would have no lines, so there is none.
    let quiet = scheduled
        .subscription
        .renew(&plans, &NoUsage, at("2027-02-01T00:00:00Z"))
        .unwrap();
    assert!(quiet.invoice.is_none());
    assert_eq!(quiet.subscription.status, SubscriptionStatus::Canceled);
}

#[test]
fn cancel_now_bills_usage_so_far_and_credits_the_unused_fee() {
    let metered = plan("metered", 1000, "month", 0, vec![api_calls_graduated()]);
    let sub = subscribe(&metered, "2027-01-01T00:00:00Z").subscription;
    let canceled = sub
        .cancel_now(
            &metered,
            &usage(&[("api_calls", 120_000)]),
            at("2027-01-11T00:00:00Z"),
        )
        .unwrap();
    let invoice = canceled.invoice.unwrap();
    assert_eq!(invoice.billing_reason, BillingReason::SubscriptionCancel);
    assert_eq!(
        line_amounts(&invoice),
        [("usage", 0), ("usage", 1_000), ("proration_credit", -677)]
    );
    assert_eq!(canceled.subscription.status, SubscriptionStatus::Canceled);
    assert_eq!(
        canceled.subscription.canceled_at,
        Some(at("2027-01-11T00:00:00Z"))
    );
    // Subtotal 323¢ is due.
    assert_eq!(
        finalize(invoice, 0, at("2027-01-11T00:00:00Z"))
            .invoice
            .amount_due_cents,
        323
    );
}

#[test]
fn cancel_now_during_a_trial_has_no_invoice() {
    let trial = plan("pro", 2900, "month", 14, vec![api_calls_graduated()]);
    let sub = subscribe(&trial, "2027-01-01T00:00:00Z").subscription;
    let canceled = sub
        .cancel_now(
            &trial,
            &usage(&[("api_calls", 9_000_000)]),
            at("2027-01-03T00:00:00Z"),
        )
        .unwrap();
    assert!(canceled.invoice.is_none());
    assert_eq!(canceled.subscription.status, SubscriptionStatus::Canceled);
}

#[test]
fn a_downgrade_with_a_negative_subtotal_becomes_credit_balance() {
    let pro = flat_plan("pro", 2900, "month");
    let basic = flat_plan("basic", 1000, "month");
    let sub = subscribe(&pro, "2027-01-01T00:00:00Z").subscription;
    let changed = sub
        .change_plan_now(&pro, &basic, &NoUsage, at("2027-01-02T00:00:00Z"))
        .unwrap();
    // credit = round(2900 × 2,592,000 / 2,678,400) = round(2806.45…) = 2806.
    let invoice = changed.invoice.unwrap();
    assert_eq!(
        line_amounts(&invoice),
        [("proration_credit", -2806), ("base_fee", 1000)]
    );
    let done = finalize(invoice, 0, at("2027-01-02T00:00:00Z"));
    assert_eq!(done.invoice.subtotal_cents, -1806);
    assert_eq!(done.invoice.amount_due_cents, 0);
    assert_eq!(done.invoice.status, InvoiceStatus::Paid);
    assert_eq!(done.credit_balance_cents, 1806);
}

#[test]
fn a_free_plan_invoice_is_paid_at_once() {
    let free = flat_plan("free", 0, "month");
    let invoice = subscribe(&free, "2027-01-01T00:00:00Z").invoice.unwrap();
    assert_eq!(
        line_amounts(&invoice),
        [("base_fee", 0)],
        "a 0¢ line is still a line"
    );
    let done = finalize(invoice, 0, at("2027-01-01T00:00:00Z"));
    assert_eq!(done.invoice.status, InvoiceStatus::Paid);
}

#[test]
fn past_due_and_recovery() {
    let pro = flat_plan("pro", 2900, "month");
    let sub = subscribe(&pro, "2027-01-01T00:00:00Z").subscription;
    let past_due = sub.mark_past_due();
    assert_eq!(past_due.subscription.status, SubscriptionStatus::PastDue);
    assert_eq!(past_due.actions, [AuditAction::SubscriptionPastDue]);
    assert!(
        past_due.subscription.mark_past_due().actions.is_empty(),
        "already past due"
    );
    // It keeps renewing while past due.
    let renewed = past_due
        .subscription
        .renew(&vec![pro], &NoUsage, at("2027-02-01T00:00:00Z"))
        .unwrap();
    assert_eq!(renewed.subscription.status, SubscriptionStatus::PastDue);
    let recovered = renewed.subscription.recover();
    assert_eq!(recovered.subscription.status, SubscriptionStatus::Active);
    assert_eq!(recovered.actions, [AuditAction::SubscriptionRecovered]);
    assert!(recovered.subscription.recover().actions.is_empty());
}

#[test]
fn failed_dunning_ends_in_an_uncollectible_invoice_and_a_canceled_subscription() {
    let pro = flat_plan("pro", 2900, "month");
    let created = subscribe(&pro, "2027-01-01T00:00:00Z");
    let mut sub = created.subscription;
    let mut invoice = finalize(created.invoice.unwrap(), 0, at("2027-01-01T00:00:00Z")).invoice;
    let schedule = DunningSchedule::default();
    let declined = AttemptOutcome::Failed {
        failure_code: "card_declined".into(),
    };
    let mut now = invoice.next_payment_attempt.unwrap();
    let mut audit = Vec::new();
    while let Some(due) = invoice.next_payment_attempt {
        now = due;
        let effect = invoice.record_attempt(&declined, now, &schedule).unwrap();
        audit.extend(effect.actions);
        let transition = match effect.subscription {
            SubscriptionEffect::PastDue => sub.mark_past_due(),
            SubscriptionEffect::Cancel => sub.cancel_for_nonpayment(now),
            SubscriptionEffect::Recover => sub.recover(),
            SubscriptionEffect::None => continue,
        };
        audit.extend(transition.actions);
        sub = transition.subscription;
    }
    assert_eq!(invoice.attempt_count, 4);
    assert_eq!(
        now,
        at("2027-01-06T00:00:00Z"),
        "the 4th attempt is finalization + 5 days"
    );
    assert_eq!(invoice.status, InvoiceStatus::Uncollectible);
    assert_eq!(sub.status, SubscriptionStatus::Canceled);
    assert_eq!(sub.canceled_at, Some(at("2027-01-06T00:00:00Z")));
    assert_eq!(
        audit,
        [
            AuditAction::SubscriptionPastDue,
            AuditAction::InvoiceUncollectible,
            AuditAction::SubscriptionCanceled
        ]
    );
}

#[test]
fn a_canceled_subscription_refuses_every_command() {
    let pro = flat_plan("pro", 2900, "month");
    let basic = flat_plan("basic", 1000, "month");
    let sub = subscribe(&pro, "2027-01-01T00:00:00Z").subscription;
    let canceled = sub
        .cancel_now(&pro, &NoUsage, at("2027-01-02T00:00:00Z"))
        .unwrap()
        .subscription;
    let now = at("2027-01-03T00:00:00Z");
    let plans = vec![pro.clone()];
    let errors = [
        canceled
            .renew(&plans, &NoUsage, at("2027-03-01T00:00:00Z"))
            .unwrap_err(),
        canceled
            .change_plan_now(&pro, &basic, &NoUsage, now)
            .unwrap_err(),
        canceled
            .schedule_plan_change(&pro, &basic, now)
            .unwrap_err(),
        canceled.cancel_now(&pro, &NoUsage, now).unwrap_err(),
        canceled.cancel_at_period_end(now).unwrap_err(),
        canceled.preview_renewal(&plans, &NoUsage).unwrap_err(),
    ];
    for error in errors {
        assert_eq!(error.code(), "illegal_transition");
    }
    assert!(!canceled.is_due(at("2030-01-01T00:00:00Z")));
    assert!(canceled.cancel_for_nonpayment(now).actions.is_empty());
}

#[test]
fn plan_changes_are_refused_to_the_same_an_archived_or_another_currencys_plan() {
    let pro = flat_plan("pro", 2900, "month");
    let sub = subscribe(&pro, "2027-01-01T00:00:00Z").subscription;
    let now = at("2027-01-05T00:00:00Z");
    assert_eq!(
        sub.change_plan_now(&pro, &pro, &NoUsage, now)
            .unwrap_err()
            .code(),
        "same_plan"
    );
    let mut archived = flat_plan("old", 100, "month");
    archived.archive();
    assert_eq!(
        sub.change_plan_now(&pro, &archived, &NoUsage, now)
            .unwrap_err()
            .code(),
        "plan_archived"
    );
    let mut euro = flat_plan("euro", 100, "month");
    euro.currency = billing_core::Currency::parse("eur").unwrap();
    let mismatch = sub.schedule_plan_change(&pro, &euro, now).unwrap_err();
    assert_eq!(
        (mismatch.code(), mismatch.param()),
        ("currency_mismatch", Some("plan_code"))
    );
    let wrong_current = sub.cancel_now(&euro, &NoUsage, now).unwrap_err();
    assert_eq!(wrong_current.code(), "plan_mismatch");
}

#[test]
fn the_upcoming_invoice_previews_the_renewal_without_changing_anything() {
    let plan = plan("pro", 2900, "month", 0, vec![api_calls_graduated()]);
    let sub = subscribe(&plan, "2027-01-01T00:00:00Z").subscription;
    let preview = sub
        .preview_renewal(&vec![plan], &usage(&[("api_calls", 150_000)]))
        .unwrap();
    assert_eq!(
        line_amounts(preview.invoice.as_ref().unwrap()),
        [("usage", 0), ("usage", 2_500), ("base_fee", 2900)]
    );
    assert_eq!(sub.current_period_end, at("2027-02-01T00:00:00Z"));
}

#[test]
fn usage_before_the_current_period_is_closed() {
    let plan = flat_plan("pro", 2900, "month");
    let sub = subscribe(&plan, "2027-01-01T00:00:00Z").subscription;
    assert!(sub.accepts_usage_at(at("2027-01-01T00:00:00Z")));
    assert!(!sub.accepts_usage_at(at("2026-12-31T23:59:59Z")));
}
