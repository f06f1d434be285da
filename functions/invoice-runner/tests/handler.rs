//! The scheduled invoice run on a real EventBridge scheduled event: due subscriptions renew
//! once, however often the schedule fires.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use billing_app::clock::TestClock;
use billing_app::{Actor, App, plans, subscriptions, users};
use billing_core::plan::PlanDraft;
use billing_ledger::Ledger;

#[tokio::test]
async fn a_scheduled_event_renews_each_due_subscription_once() {
    let fixture = billing_store::testing::embedded("invoice_runner")
        .await
        .unwrap();
    let ledger = Ledger::new(fixture.table.clone());
    let app = App::local(ledger.clone(), Arc::new(TestClock::new(ledger.clone())));
    let actor = Actor("test".into());
    ledger
        .set_test_clock(None, "2027-01-01T00:00:00Z".parse().unwrap())
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
    for i in 0..3 {
        let user = users::create_user(
            &app,
            users::CreateUser {
                email: format!("r{i}@example.com"),
                name: None,
                payment_method: None,
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
    ledger
        .set_test_clock(
            Some("2027-01-01T00:00:00Z".parse().unwrap()),
            "2027-02-01T00:00:00Z".parse().unwrap(),
        )
        .await
        .unwrap();
    let event: EventBridgeEvent =
        serde_json::from_str(include_str!("fixtures/scheduled-event.json")).unwrap();
    let first = billing_invoice_runner::handle(&app, event.clone())
        .await
        .unwrap();
    assert_eq!(
        (first.subscriptions_renewed, first.invoices_created),
        (3, 3)
    );
    let again = billing_invoice_runner::handle(&app, event).await.unwrap();
    assert_eq!(
        again.invoices_created, 0,
        "the schedule firing twice bills nothing twice"
    );
}
