//! Builders shared by the integration tests: plans from a compact spec, instants from text,
//! and a subscription driven through its commands.
#![allow(dead_code, clippy::unwrap_used)]

use billing_core::Timestamp;
use billing_core::invoice::{Finalized, InvoiceDraft, InvoiceIds, invoice_number};
use billing_core::plan::{Plan, PlanDraft, TierDraft, UsageChargeDraft};
use billing_core::subscription::{Subscription, Transition};

pub fn at(text: &str) -> Timestamp {
    text.parse().unwrap()
}

/// A plan with no usage charges.
pub fn flat_plan(code: &str, amount_cents: i64, interval: &str) -> Plan {
    plan(code, amount_cents, interval, 0, vec![])
}

pub fn plan(
    code: &str,
    amount_cents: i64,
    interval: &str,
    trial_days: i64,
    usage_charges: Vec<UsageChargeDraft>,
) -> Plan {
    PlanDraft {
        code: code.into(),
        name: capitalized(code),
        amount_cents,
        currency: None,
        interval: interval.into(),
        trial_days: Some(trial_days),
        usage_charges,
    }
    .validate(at("2026-01-01T00:00:00Z"))
    .unwrap()
}

/// A usage charge from `(up_to, unit_amount_decimal, flat_amount_cents)` tiers.
pub fn charge(metric: &str, mode: &str, tiers: &[(Option<i64>, &str, i64)]) -> UsageChargeDraft {
    UsageChargeDraft {
        metric: metric.into(),
        mode: mode.into(),
        tiers: tiers
            .iter()
            .map(|(up_to, unit, flat)| TierDraft {
                up_to: *up_to,
                unit_amount_decimal: (*unit).into(),
                flat_amount_cents: Some(*flat),
            })
            .collect(),
    }
}

/// BILLING.md's graduated example: first 100,000 free, then 0.05¢, then 0.02¢.
pub fn api_calls_graduated() -> UsageChargeDraft {
    charge(
        "api_calls",
        "graduated",
        &[
            (Some(100_000), "0", 0),
            (Some(1_000_000), "0.05", 0),
            (None, "0.02", 0),
        ],
    )
}

fn capitalized(code: &str) -> String {
    let mut chars = code.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

pub fn subscribe(plan: &Plan, now: &str) -> Transition {
    Subscription::create("sub_1".into(), "usr_1".into(), plan, None, at(now)).unwrap()
}

pub fn finalize(draft: InvoiceDraft, credit_balance_cents: i64, now: Timestamp) -> Finalized {
    draft
        .finalize(
            InvoiceIds {
                id: "inv_test".into(),
                number: invoice_number(1),
            },
            credit_balance_cents,
            now,
        )
        .unwrap()
}

/// `(kind, amount)` of each line, to compare invoices at a glance.
pub fn line_amounts(draft: &InvoiceDraft) -> Vec<(&'static str, i64)> {
    draft
        .lines
        .iter()
        .map(|l| {
            let kind = match l.kind {
                billing_core::invoice::LineKind::BaseFee => "base_fee",
                billing_core::invoice::LineKind::Usage => "usage",
                billing_core::invoice::LineKind::UsageLate => "usage_late",
                billing_core::invoice::LineKind::ProrationCredit => "proration_credit",
                billing_core::invoice::LineKind::Adjustment => "adjustment",
            };
            (kind, l.amount_cents)
        })
        .collect()
}
