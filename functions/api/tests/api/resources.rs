//! Each resource route through success and its documented errors, on the real router.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{ADMIN_TOKEN, TestApp, spawn_app, spawn_app_with};

const A: &str = ADMIN_TOKEN;

async fn set_clock(app: &TestApp, now: &str) {
    assert_eq!(
        app.post("/v1/test-clock", A, &json!({"now": now}))
            .await
            .status,
        200
    );
}

fn pro_plan() -> Value {
    json!({"code": "pro", "name": "Pro", "amount_cents": 2900, "interval": "month", "usage_charges": [{
        "metric": "api_calls", "mode": "graduated", "tiers": [
            {"up_to": 100000, "unit_amount_decimal": "0"},
            {"up_to": 1000000, "unit_amount_decimal": "0.05"},
            {"up_to": null, "unit_amount_decimal": "0.02"}]}]})
}

async fn user(app: &TestApp, email: &str, payment_method: &str) -> String {
    let created = app
        .post(
            "/v1/users",
            A,
            &json!({"email": email, "payment_method": payment_method}),
        )
        .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    created.body["id"].as_str().unwrap().to_owned()
}

/// A user subscribed to `pro` on 2027-01-01; returns (user, subscription, first invoice).
async fn subscribed(app: &TestApp, payment_method: &str) -> (String, String, String) {
    set_clock(app, "2027-01-01T00:00:00Z").await;
    assert_eq!(app.post("/v1/plans", A, &pro_plan()).await.status, 201);
    let user = user(app, "ada@example.com", payment_method).await;
    let sub = app
        .post(
            "/v1/subscriptions",
            A,
            &json!({"user_id": user, "plan_code": "pro"}),
        )
        .await;
    assert_eq!(sub.status, 201, "{:?}", sub.body);
    let sub_id = sub.body["id"].as_str().unwrap().to_owned();
    let invoices = app
        .get(&format!("/v1/invoices?subscription_id={sub_id}"), A)
        .await;
    let invoice = invoices.body["data"][0]["id"].as_str().unwrap().to_owned();
    (user, sub_id, invoice)
}

#[tokio::test]
async fn users_are_created_listed_read_and_updated() {
    let app = spawn_app().await;
    let id = user(&app, "Bob@Example.com", "pm_card_ok").await;
    let taken = app
        .post("/v1/users", A, &json!({"email": "bob@example.COM"}))
        .await;
    assert_eq!(
        (
            taken.status,
            taken.error().1.as_str(),
            taken.error().2.as_deref()
        ),
        (409, "email_taken", Some("email"))
    );
    let bad = app
        .post("/v1/users", A, &json!({"email": "not-an-email"}))
        .await;
    assert_eq!((bad.status, bad.error().2.as_deref()), (400, Some("email")));
    let got = app.get(&format!("/v1/users/{id}"), A).await;
    assert_eq!(
        (got.status, got.body["credit_balance_cents"].as_i64()),
        (200, Some(0))
    );
    assert_eq!(app.get("/v1/users/usr_missing", A).await.status, 404);
    let patched = app
        .request(
            Method::PATCH,
            &format!("/v1/users/{id}"),
            Some(A),
            Some(&json!({"name": "Bob", "payment_method": null})),
            &[],
        )
        .await;
    assert_eq!(patched.status, 200);
    assert_eq!(
        (
            patched.body["name"].as_str(),
            patched.body.get("payment_method")
        ),
        (Some("Bob"), Some(&Value::Null))
    );
    let listed = app.get("/v1/users?limit=10", A).await;
    assert!(
        listed.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|u| u["id"] == id)
    );
}

#[tokio::test]
async fn plans_are_validated_unique_and_archivable() {
    let app = spawn_app().await;
    assert_eq!(app.post("/v1/plans", A, &pro_plan()).await.status, 201);
    let again = app.post("/v1/plans", A, &pro_plan()).await;
    assert_eq!(
        (again.status, again.error().1.as_str()),
        (409, "plan_exists")
    );
    let mut bad = pro_plan();
    bad["code"] = json!("bad");
    bad["usage_charges"][0]["tiers"][1]["up_to"] = json!(10);
    let refused = app.post("/v1/plans", A, &bad).await;
    assert_eq!(
        (refused.status, refused.error().2.as_deref()),
        (400, Some("usage_charges[0].tiers[1].up_to"))
    );
    assert_eq!(
        app.get("/v1/plans/pro", A).await.body["archived"],
        json!(false)
    );
    let archived = app.post("/v1/plans/pro/archive", A, &json!({})).await;
    assert_eq!(
        (archived.status, &archived.body["archived"]),
        (200, &json!(true))
    );
    assert_eq!(app.get("/v1/plans/nope", A).await.status, 404);
    let user = user(&app, "c@example.com", "pm_card_ok").await;
    let on_archived = app
        .post(
            "/v1/subscriptions",
            A,
            &json!({"user_id": user, "plan_code": "pro"}),
        )
        .await;
    assert_eq!(
        (on_archived.status, on_archived.error().1.as_str()),
        (409, "plan_archived")
    );
}

#[tokio::test]
async fn subscriptions_change_cancel_and_preview() {
    let app = spawn_app().await;
    let (user, sub, _) = subscribed(&app, "pm_card_ok").await;
    let twice = app
        .post(
            "/v1/subscriptions",
            A,
            &json!({"user_id": user, "plan_code": "pro"}),
        )
        .await;
    assert_eq!(
        (twice.status, twice.error().1.as_str()),
        (409, "subscription_exists")
    );
    let unknown = app
        .post(
            "/v1/subscriptions",
            A,
            &json!({"user_id": "usr_nobody", "plan_code": "pro"}),
        )
        .await;
    assert_eq!(
        (unknown.status, unknown.error().2.as_deref()),
        (400, Some("user_id"))
    );
    let no_plan = app
        .post(
            "/v1/subscriptions",
            A,
            &json!({"user_id": user, "plan_code": "gold"}),
        )
        .await;
    assert_eq!(
        (no_plan.status, no_plan.error().2.as_deref()),
        (400, Some("plan_code"))
    );
    assert_eq!(
        app.get(
            &format!("/v1/subscriptions?user_id={user}&status=active"),
            A
        )
        .await
        .body["data"][0]["id"],
        json!(sub)
    );
    let bad_status = app.get("/v1/subscriptions?status=sleeping", A).await;
    assert_eq!(
        (bad_status.status, bad_status.error().2.as_deref()),
        (400, Some("status"))
    );

    let basic =
        json!({"code": "basic", "name": "Basic", "amount_cents": 1000, "interval": "month"});
    assert_eq!(app.post("/v1/plans", A, &basic).await.status, 201);
    set_clock(&app, "2027-01-11T00:00:00Z").await;
    let changed = app
        .post(
            &format!("/v1/subscriptions/{sub}/change-plan"),
            A,
            &json!({"plan_code": "basic"}),
        )
        .await;
    assert_eq!(changed.status, 200, "{:?}", changed.body);
    let lines: Vec<i64> = changed.body["invoice"]["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["amount_cents"].as_i64().unwrap())
        .collect();
    assert_eq!(
        lines,
        [-1965, 1000],
        "round(2900 × 21/31) = 1965 back, the new 1000 fee"
    );
    let bad_effective = app
        .post(
            &format!("/v1/subscriptions/{sub}/change-plan"),
            A,
            &json!({"plan_code": "pro", "effective": "tomorrow"}),
        )
        .await;
    assert_eq!(
        (bad_effective.status, bad_effective.error().2.as_deref()),
        (400, Some("effective"))
    );
    let scheduled = app
        .post(
            &format!("/v1/subscriptions/{sub}/change-plan"),
            A,
            &json!({"plan_code": "pro", "effective": "period_end"}),
        )
        .await;
    assert_eq!(
        (
            scheduled.status,
            &scheduled.body["subscription"]["pending_plan_code"],
            &scheduled.body["invoice"]
        ),
        (200, &json!("pro"), &Value::Null)
    );
    let preview = app
        .get(&format!("/v1/subscriptions/{sub}/upcoming-invoice"), A)
        .await;
    assert_eq!(
        (preview.status, preview.body["amount_due_cents"].as_i64()),
        (200, Some(1935)),
        "the downgrade left 965¢ of credit against the next 2900"
    );
    let canceled = app
        .post(&format!("/v1/subscriptions/{sub}/cancel"), A, &json!({}))
        .await;
    assert_eq!(
        canceled.body["subscription"]["cancel_at_period_end"],
        json!(true)
    );
    let now = app
        .post(
            &format!("/v1/subscriptions/{sub}/cancel"),
            A,
            &json!({"at_period_end": false}),
        )
        .await;
    assert_eq!(now.body["subscription"]["status"], json!("canceled"));
    let again = app
        .post(
            &format!("/v1/subscriptions/{sub}/cancel"),
            A,
            &json!({"at_period_end": false}),
        )
        .await;
    assert_eq!(
        (again.status, again.error().1.as_str()),
        (409, "illegal_transition")
    );
    assert_eq!(
        app.get("/v1/subscriptions/sub_missing", A).await.status,
        404
    );
}

#[tokio::test]
async fn usage_is_accepted_summarised_and_refused_by_field() {
    let app = spawn_app().await;
    let (user, _, _) = subscribed(&app, "pm_card_ok").await;
    set_clock(&app, "2027-01-10T00:00:00Z").await;
    let events =
        json!({"events": [{"id": "u1", "user_id": user, "metric": "api_calls", "quantity": 7}]});
    let accepted = app.post("/v1/usage", A, &events).await;
    assert_eq!(
        (accepted.status, &accepted.body),
        (202, &json!({"accepted": 1}))
    );
    let closed = app.post("/v1/usage", A, &json!({"events": [{"id": "u2", "user_id": user, "metric": "api_calls", "quantity": 1, "timestamp": "2026-12-31T00:00:00Z"}]})).await;
    assert_eq!(
        (
            closed.status,
            closed.error().1.as_str(),
            closed.error().2.as_deref()
        ),
        (400, "period_closed", Some("events[0].timestamp"))
    );
    let unknown = app.post("/v1/usage", A, &json!({"events": [{"id": "u3", "user_id": "usr_x", "metric": "api_calls", "quantity": 1}]})).await;
    assert_eq!(
        (unknown.status, unknown.error().1.as_str()),
        (400, "unknown_user")
    );
    let empty = app.post("/v1/usage", A, &json!({"events": []})).await;
    assert_eq!(
        (empty.status, empty.error().2.as_deref()),
        (400, Some("events"))
    );
    billing_app::usage::drain_usage_queue(&app.state.app)
        .await
        .unwrap();
    let summary = app.get(&format!("/v1/usage/summary?user_id={user}&metric=api_calls&from=2027-01-01T00:00:00Z&to=2027-02-01T00:00:00Z"), A).await;
    assert_eq!(
        (summary.status, summary.body["quantity"].as_u64()),
        (200, Some(7))
    );
    let missing = app
        .get(
            &format!("/v1/usage/summary?user_id={user}&metric=api_calls"),
            A,
        )
        .await;
    assert_eq!(missing.status, 400);
}

#[tokio::test]
async fn invoices_pay_void_and_take_notes() {
    let app = spawn_app().await;
    let (_, _, invoice) = subscribed(&app, "pm_card_declined").await;
    // Another attempt holds the invoice (a payment run charging it right now).
    let ledger = &app.state.app.ledger;
    assert!(
        ledger
            .acquire_payment_lease(
                &invoice,
                "payment-run",
                billing_store::now_epoch_seconds(),
                60
            )
            .await
            .unwrap()
    );
    let busy = app
        .post(&format!("/v1/invoices/{invoice}/pay"), A, &json!({}))
        .await;
    assert_eq!(
        (busy.status, busy.error().1.as_str()),
        (409, "payment_in_progress")
    );
    ledger
        .release_payment_lease(&invoice, "payment-run")
        .await
        .unwrap();
    let declined = app
        .post(&format!("/v1/invoices/{invoice}/pay"), A, &json!({}))
        .await;
    assert_eq!(
        (
            declined.status,
            declined.error().0.as_str(),
            declined.error().1.as_str()
        ),
        (402, "payment", "card_declined")
    );
    assert_eq!(
        declined.body["error"]["payment"]["status"],
        json!("failed"),
        "the failed payment is in the body"
    );
    let (other, _, paid_invoice) = {
        let user = user(&app, "pay@example.com", "pm_card_ok").await;
        let sub = app
            .post(
                "/v1/subscriptions",
                A,
                &json!({"user_id": user, "plan_code": "pro"}),
            )
            .await;
        let sub_id = sub.body["id"].as_str().unwrap().to_owned();
        let invoices = app
            .get(&format!("/v1/invoices?subscription_id={sub_id}"), A)
            .await;
        (
            user,
            sub_id,
            invoices.body["data"][0]["id"].as_str().unwrap().to_owned(),
        )
    };
    let paid = app
        .post(&format!("/v1/invoices/{paid_invoice}/pay"), A, &json!({}))
        .await;
    assert_eq!(
        (
            paid.status,
            &paid.body["invoice"]["status"],
            &paid.body["payment"]["status"]
        ),
        (200, &json!("paid"), &json!("succeeded"))
    );
    let again = app
        .post(&format!("/v1/invoices/{paid_invoice}/pay"), A, &json!({}))
        .await;
    assert_eq!(
        (again.status, again.error().1.as_str()),
        (409, "invoice_not_open")
    );
    assert_eq!(
        app.post(&format!("/v1/invoices/{paid_invoice}/void"), A, &json!({}))
            .await
            .status,
        409
    );
    let voided = app
        .post(&format!("/v1/invoices/{invoice}/void"), A, &json!({}))
        .await;
    assert_eq!(
        (voided.status, &voided.body["status"]),
        (200, &json!("void"))
    );
    let note = app
        .post(
            &format!("/v1/invoices/{paid_invoice}/credit-notes"),
            A,
            &json!({"amount_cents": 900, "reason": "outage"}),
        )
        .await;
    assert_eq!(
        (note.status, note.body["amount_cents"].as_i64()),
        (201, Some(900))
    );
    let over = app
        .post(
            &format!("/v1/invoices/{paid_invoice}/credit-notes"),
            A,
            &json!({"amount_cents": 2001, "reason": "too much"}),
        )
        .await;
    assert_eq!(
        (over.status, over.error().1.as_str()),
        (422, "credit_note_over_cap")
    );
    let debit = app
        .post(
            &format!("/v1/invoices/{paid_invoice}/debit-notes"),
            A,
            &json!({"amount_cents": 5000, "reason": "extra seats"}),
        )
        .await;
    assert_eq!(
        (
            debit.status,
            &debit.body["kind"],
            &debit.body["related_invoice_id"]
        ),
        (201, &json!("debit_note"), &json!(paid_invoice))
    );
    assert_eq!(
        debit.body["amount_due_cents"].as_i64(),
        Some(4100),
        "900¢ of credit applied"
    );
    let payments = app.get(&format!("/v1/payments?user_id={other}"), A).await;
    assert_eq!(payments.body["data"].as_array().unwrap().len(), 1);
    assert_eq!(app.get("/v1/invoices/inv_missing", A).await.status, 404);
    let bad = app.get("/v1/invoices?status=lost", A).await;
    assert_eq!(
        (bad.status, bad.error().2.as_deref()),
        (400, Some("status"))
    );
}

#[tokio::test]
async fn runs_renew_and_collect() {
    let app = spawn_app().await;
    let (user, _, _) = subscribed(&app, "pm_card_ok").await;
    set_clock(&app, "2027-02-01T00:00:00Z").await;
    let invoices = app.post("/v1/invoice-runs", A, &json!({})).await;
    assert_eq!(
        (invoices.status, &invoices.body),
        (
            200,
            &json!({"subscriptions_renewed": 1, "invoices_created": 1})
        )
    );
    let payments = app.post("/v1/payment-runs", A, &json!({})).await;
    assert_eq!(
        (payments.status, &payments.body),
        (200, &json!({"attempted": 2, "succeeded": 2, "failed": 0}))
    );
    let listed = app
        .get(&format!("/v1/invoices?user_id={user}&status=paid"), A)
        .await;
    assert_eq!(listed.body["data"].as_array().unwrap().len(), 2);
}

fn signed(secret: &str, timestamp: i64, body: &str) -> String {
    billing_stripe::webhook::signature_header(secret, timestamp, body.as_bytes())
}

#[tokio::test]
async fn stripe_webhooks_are_signed_and_processed_once() {
    let app = spawn_app_with(|config| {
        config.stripe_webhook_secret = Some(billing_api::Secret::new("whsec_test"))
    })
    .await;
    let (_, _, invoice) = subscribed(&app, "pm_card_declined").await;
    let body = json!({"id": "evt_1", "type": "payment_intent.succeeded", "data": {"object": {"id": "pi_1", "metadata": {"invoice_id": invoice}}}}).to_string();
    let now = 1_798_761_600; // 2027-01-01T00:00:00Z, the billing clock
    let deliver = |signature: String| {
        let body: Value = serde_json::from_str(&body).unwrap();
        let app = &app;
        async move {
            app.request(
                Method::POST,
                "/v1/webhooks/stripe",
                None,
                Some(&body),
                &[("stripe-signature", signature.as_str())],
            )
            .await
        }
    };
    let forged = deliver(signed("other", now, &body)).await;
    assert_eq!(
        (forged.status, forged.error().1.as_str()),
        (400, "invalid_signature")
    );
    let stale = deliver(signed("whsec_test", now - 301, &body)).await;
    assert_eq!(stale.status, 400);
    // The body is re-serialised identically by serde_json, so the signature holds.
    let first = deliver(signed("whsec_test", now, &body)).await;
    assert_eq!(
        (first.status, &first.body),
        (200, &json!({"received": true, "processed": true}))
    );
    let redelivered = deliver(signed("whsec_test", now, &body)).await;
    assert_eq!(
        (redelivered.status, &redelivered.body["processed"]),
        (200, &json!(false))
    );
    assert_eq!(
        app.get(&format!("/v1/invoices/{invoice}"), A).await.body["status"],
        json!("paid")
    );
}

#[tokio::test]
async fn the_openapi_document_lists_every_route_of_api_md() {
    let app = spawn_app().await;
    let document = app
        .request(Method::GET, "/openapi.json", None, None, &[])
        .await
        .body;
    for (method, path) in [
        ("post", "/v1/users"),
        ("get", "/v1/users"),
        ("get", "/v1/users/{id}"),
        ("patch", "/v1/users/{id}"),
        ("post", "/v1/plans"),
        ("get", "/v1/plans"),
        ("get", "/v1/plans/{code}"),
        ("post", "/v1/plans/{code}/archive"),
        ("post", "/v1/subscriptions"),
        ("get", "/v1/subscriptions"),
        ("get", "/v1/subscriptions/{id}"),
        ("post", "/v1/subscriptions/{id}/change-plan"),
        ("post", "/v1/subscriptions/{id}/cancel"),
        ("get", "/v1/subscriptions/{id}/upcoming-invoice"),
        ("post", "/v1/usage"),
        ("get", "/v1/usage/summary"),
        ("get", "/v1/invoices"),
        ("get", "/v1/invoices/{id}"),
        ("post", "/v1/invoices/{id}/pay"),
        ("post", "/v1/invoices/{id}/void"),
        ("post", "/v1/invoices/{id}/credit-notes"),
        ("post", "/v1/invoices/{id}/debit-notes"),
        ("get", "/v1/payments"),
        ("post", "/v1/invoice-runs"),
        ("post", "/v1/payment-runs"),
        ("get", "/v1/audit"),
        ("post", "/v1/tokens"),
        ("get", "/v1/tokens"),
        ("delete", "/v1/tokens/{id}"),
        ("post", "/v1/webhooks/stripe"),
        ("get", "/v1/test-clock"),
        ("post", "/v1/test-clock"),
        ("get", "/healthz"),
        ("get", "/openapi.json"),
    ] {
        assert!(
            document["paths"][path][method].is_object(),
            "{method} {path} is missing from /openapi.json"
        );
    }
}
