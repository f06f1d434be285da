//! The scheduled payment run on a real EventBridge scheduled event: due invoices are charged
//! once, however often the schedule fires.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use std::time::{Duration, Instant};

use billing_app::clock::TestClock;
use billing_app::runs::PaymentRunReport;
use billing_app::{Actor, App, plans, subscriptions, users};
use billing_core::plan::PlanDraft;
use billing_lambda::runs::{RunEvent, RunOutput, Runner};
use billing_ledger::Ledger;

/// This function's runner, as `main` serves it.
fn runner(app: App, work_queue: Option<Arc<dyn billing_app::ports::WorkQueue>>) -> Runner {
    Runner::new(app, billing_payment_runner::RUN, work_queue)
}

/// An app with two open invoices due on February 1st: one user's card pays, the other's is
/// declined.
async fn due_invoices() -> (billing_store::testing::Fixture, App) {
    let fixture = billing_store::testing::embedded("payment_runner")
        .await
        .unwrap();
    let ledger = Ledger::new(fixture.table.clone());
    let app = App::local(ledger.clone(), Arc::new(TestClock::new(ledger.clone())));
    let actor = Actor("test".into());
    ledger
        .set_test_clock(None, "2027-02-01T00:00:00Z".parse().unwrap())
        .await
        .unwrap();
    let plan = PlanDraft {
        code: "pro".into(),
        name: "Pro".into(),
        amount_cents: 2900,
        interval: "month".into(),
        ..PlanDraft::default()
    };
    plans::create_plan(&app, plan, &actor).await.unwrap();
    for (i, method) in ["pm_card_ok", "pm_card_declined"].iter().enumerate() {
        let user = users::create_user(
            &app,
            users::CreateUser {
                email: format!("p{i}@example.com"),
                name: None,
                payment_method: Some((*method).into()),
            },
            &actor,
        )
        .await
        .unwrap();
        let request = subscriptions::CreateSubscription {
            user_id: user.id,
            plan_code: "pro".into(),
            trial_days: None,
        };
        subscriptions::create_subscription(&app, request, &actor)
            .await
            .unwrap();
    }
    (fixture, app)
}

fn scheduled() -> RunEvent {
    serde_json::from_str(include_str!("fixtures/scheduled-event.json")).unwrap()
}

fn later() -> Instant {
    Instant::now() + Duration::from_secs(600)
}

#[tokio::test]
async fn a_scheduled_event_charges_each_due_invoice_once() {
    let (_fixture, app) = due_invoices().await;
    let runner = runner(app, None);
    let run = || async {
        match runner.handle(scheduled(), later()).await.unwrap() {
            RunOutput::Started { report, .. } => report.payment.unwrap_or_default(),
            RunOutput::Work(_) => panic!("a schedule starts a run"),
        }
    };
    let first: PaymentRunReport = run().await;
    assert_eq!((first.attempted, first.succeeded, first.failed), (2, 1, 1));
    let again = run().await;
    assert_eq!(
        again.attempted, 0,
        "the declined invoice's retry is a day away; the paid one is done"
    );
}

/// The Lambda's wiring (`main.rs`): the app reports to the function's EMF metrics and each
/// invocation is instrumented, so its document holds the payments by outcome.
#[tokio::test]
async fn each_invocation_writes_one_emf_document_with_payments_by_outcome() {
    let (_fixture, app) = due_invoices().await;
    let (metrics, captured) = billing_lambda::emf::Captured::metrics("payment-runner");
    let runner = runner(app.with_metrics(metrics.clone()), None);
    for _ in 0..2 {
        billing_lambda::emf::instrument(&metrics, runner.handle(scheduled(), later()))
            .await
            .unwrap();
    }
    let documents = captured.documents().unwrap();
    assert_eq!(documents.len(), 2, "one document per invocation");
    let first = billing_lambda::emf::read_document(&documents[0]).unwrap();
    assert_eq!(
        (
            first["Invocations"],
            first["Errors"],
            first["PaymentsSucceeded"],
            first["PaymentsFailed"]
        ),
        (1, 0, 1, 1)
    );
    let second = billing_lambda::emf::read_document(&documents[1]).unwrap();
    assert!(
        !second.contains_key("PaymentsSucceeded") && !second.contains_key("PaymentsFailed"),
        "nothing is due again: {second:?}"
    );
}
