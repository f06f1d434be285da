//! Fixtures the flow and fault suites share: a plan, a user, a subscription, usage events and
//! the clock, in BILLING.md's terms.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use billing_app::clock::TestClock;
use billing_app::subscriptions::CreateSubscription;
use billing_app::users::CreateUser;
use billing_app::*;
use billing_core::Timestamp;
use billing_core::invoice::{Invoice, LineKind};
use billing_core::plan::{PlanDraft, TierDraft, UsageChargeDraft};
use billing_core::usage::UsageEventDraft;
use billing_ledger::{InvoiceFilter, Ledger, PageRequest};

pub fn at(text: &str) -> Timestamp {
    text.parse().unwrap()
}

pub fn app_on(ledger: Ledger) -> App {
    App::local(ledger.clone(), Arc::new(TestClock::new(ledger)))
}

pub async fn set_clock(app: &App, now: &str) {
    let previous = app.ledger.test_clock().await.unwrap();
    app.ledger.set_test_clock(previous, at(now)).await.unwrap();
}

pub fn admin() -> Actor {
    Actor("test".into())
}

pub async fn user(app: &App, email: &str, payment_method: &str) -> String {
    let request = CreateUser {
        email: email.into(),
        name: None,
        payment_method: Some(payment_method.into()),
    };
    users::create_user(app, request, &admin()).await.unwrap().id
}

pub async fn plan(app: &App, code: &str, amount_cents: i64, metered: bool) {
    let usage_charges = if metered {
        vec![UsageChargeDraft {
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
        }]
    } else {
        vec![]
    };
    let draft = PlanDraft {
        code: code.into(),
        name: code.into(),
        amount_cents,
        interval: "month".into(),
        usage_charges,
        ..PlanDraft::default()
    };
    plans::create_plan(app, draft, &admin()).await.unwrap();
}

pub async fn subscribe(
    app: &App,
    user_id: &str,
    plan_code: &str,
) -> subscriptions::SubscriptionWithInvoice {
    let request = CreateSubscription {
        user_id: user_id.into(),
        plan_code: plan_code.into(),
        trial_days: None,
    };
    subscriptions::create_subscription(app, request, &admin())
        .await
        .unwrap()
}

pub fn event(id: &str, user_id: &str, quantity: i64, timestamp: &str) -> UsageEventDraft {
    UsageEventDraft {
        id: id.into(),
        user_id: user_id.into(),
        metric: "api_calls".into(),
        quantity,
        timestamp: Some(at(timestamp)),
    }
}

pub async fn invoices_of(app: &App, subscription_id: &str) -> Vec<Invoice> {
    let filter = InvoiceFilter {
        subscription_id: Some(subscription_id.into()),
        ..InvoiceFilter::default()
    };
    let mut invoices = invoices::list_invoices(app, &filter, &PageRequest::first(100))
        .await
        .unwrap()
        .data;
    invoices.sort_by(|a, b| a.number.cmp(&b.number));
    invoices
}

pub fn amounts(invoice: &Invoice) -> Vec<(LineKind, i64)> {
    invoice
        .lines
        .iter()
        .map(|l| (l.kind, l.amount_cents))
        .collect()
}

/// A run's result, or `None` when DynamoDB Local — not DynamoDB — timed out one of its
/// transactions waiting for another's lock (its message says the request would succeed in
/// DynamoDB). Such a run fails as a whole, like a run whose Lambda times out, and the
/// schedule runs it again; the callers here do likewise. Any other error fails the test.
pub fn local_lock_timeout<T>(result: Result<T, AppError>) -> Option<T> {
    match result {
        Ok(report) => Some(report),
        Err(AppError::Unavailable(message)) if message.contains("waiting for a lock") => {
            eprintln!("DynamoDB Local timed a run out on a lock; running it again");
            None
        }
        Err(other) => panic!("the run failed: {other}"),
    }
}

/// Runs `run` until DynamoDB Local lets it finish (see [`local_lock_timeout`]), a few
/// times at most.
pub async fn again_until_done<T, F, Fut>(mut run: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, AppError>>,
{
    for _ in 0..10 {
        if let Some(report) = local_lock_timeout(run().await) {
            return report;
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    panic!("DynamoDB Local timed the run out on a lock ten times in a row");
}
