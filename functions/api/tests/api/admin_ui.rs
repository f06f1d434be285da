//! The endpoints the admin UI needs (docs/api-additions.md), on the real router.

use serde_json::{Value, json};

use crate::helpers::{ADMIN_TOKEN, TestApp, spawn_app};

const A: &str = ADMIN_TOKEN;

async fn set_clock(app: &TestApp, now: &str) {
    let set = app.post("/v1/test-clock", A, &json!({"now": now})).await;
    assert_eq!(set.status, 200, "{:?}", set.body);
}

async fn created(app: &TestApp, path: &str, body: Value) -> Value {
    let created = app.post(path, A, &body).await;
    assert_eq!(created.status, 201, "{path}: {:?}", created.body);
    created.body
}

fn pro_plan() -> Value {
    json!({"code": "pro", "name": "Pro", "amount_cents": 2900, "interval": "month", "usage_charges": [{
        "metric": "api_calls", "mode": "graduated", "tiers": [
            {"up_to": 10, "unit_amount_decimal": "0"},
            {"up_to": null, "unit_amount_decimal": "0.5"}]}]})
}

/// The invoice of a change-plan answer without what only the committed one has.
fn without_identity(invoice: &Value) -> Value {
    let mut invoice = invoice.clone();
    let object = invoice.as_object_mut().unwrap();
    object.remove("id");
    object.remove("number");
    invoice
}

#[tokio::test]
async fn a_plan_change_preview_is_the_change_and_stores_nothing() {
    let app = spawn_app().await;
    set_clock(&app, "2027-01-01T00:00:00Z").await;
    created(&app, "/v1/plans", pro_plan()).await;
    created(
        &app,
        "/v1/plans",
        json!({"code": "basic", "name": "Basic", "amount_cents": 1000, "interval": "month"}),
    )
    .await;
    let user = created(
        &app,
        "/v1/users",
        json!({"email": "ada@example.com", "payment_method": "pm_card_ok"}),
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let sub = created(
        &app,
        "/v1/subscriptions",
        json!({"user_id": user, "plan_code": "pro"}),
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    set_clock(&app, "2027-01-05T00:00:00Z").await;
    let usage =
        json!({"events": [{"id": "e1", "user_id": user, "metric": "api_calls", "quantity": 30}]});
    assert_eq!(app.post("/v1/usage", A, &usage).await.status, 202);
    billing_app::usage::drain_usage_queue(&app.state.app)
        .await
        .unwrap();
    set_clock(&app, "2027-01-11T00:00:00Z").await;

    let audit_before = app.get(&format!("/v1/audit?entity_id={sub}"), A).await;
    let invoices_before = app.get(&format!("/v1/invoices?user_id={user}"), A).await;
    let subscription_before = app.get(&format!("/v1/subscriptions/{sub}"), A).await;
    let preview = app
        .get(
            &format!("/v1/subscriptions/{sub}/change-plan/preview?plan_code=basic"),
            A,
        )
        .await;
    assert_eq!(preview.status, 200, "{:?}", preview.body);
    let invoice = &preview.body["invoice"];
    assert!(invoice.get("id").is_none() && invoice.get("number").is_none());
    // Nothing was written: same audit, same invoices, same subscription (version included).
    assert_eq!(
        app.get(&format!("/v1/audit?entity_id={sub}"), A).await.body,
        audit_before.body
    );
    assert_eq!(
        app.get(&format!("/v1/invoices?user_id={user}"), A)
            .await
            .body,
        invoices_before.body
    );
    assert_eq!(
        app.get(&format!("/v1/subscriptions/{sub}"), A).await.body,
        subscription_before.body
    );
    // A second preview at the same instant is the same (no number or seal was taken).
    let again = app
        .get(
            &format!("/v1/subscriptions/{sub}/change-plan/preview?plan_code=basic&effective=now"),
            A,
        )
        .await;
    assert_eq!(again.body, preview.body);

    let changed = app
        .post(
            &format!("/v1/subscriptions/{sub}/change-plan"),
            A,
            &json!({"plan_code": "basic"}),
        )
        .await;
    assert_eq!(changed.status, 200, "{:?}", changed.body);
    assert_eq!(preview.body["subscription"], changed.body["subscription"]);
    assert_eq!(*invoice, without_identity(&changed.body["invoice"]));
    let kinds: Vec<(&str, i64)> = invoice["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["kind"].as_str().unwrap(),
                l["amount_cents"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            ("usage", 0),
            ("usage", 10),
            ("proration_credit", -1965),
            ("base_fee", 1000)
        ],
        "20 calls over the free 10 at 0.5¢, round(2900 × 21/31) back, the new fee"
    );
}

#[tokio::test]
async fn a_plan_change_preview_refuses_what_the_change_refuses() {
    let app = spawn_app().await;
    set_clock(&app, "2027-01-01T00:00:00Z").await;
    created(&app, "/v1/plans", pro_plan()).await;
    let user = app.user_id.clone();
    let sub = created(
        &app,
        "/v1/subscriptions",
        json!({"user_id": user, "plan_code": "pro"}),
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = |query: &str| format!("/v1/subscriptions/{sub}/change-plan/preview?{query}");

    let unknown_sub = app
        .get(
            "/v1/subscriptions/sub_nope/change-plan/preview?plan_code=pro",
            A,
        )
        .await;
    assert_eq!(unknown_sub.status, 404);
    let unknown_plan = app.get(&path("plan_code=gold"), A).await;
    assert_eq!(
        (unknown_plan.status, unknown_plan.error().2.as_deref()),
        (400, Some("plan_code"))
    );
    let bad_effective = app.get(&path("plan_code=pro&effective=later"), A).await;
    assert_eq!(
        (bad_effective.status, bad_effective.error().2.as_deref()),
        (400, Some("effective"))
    );
    let missing = app.get(&path(""), A).await;
    assert_eq!(
        (missing.status, missing.error().2.as_deref()),
        (400, Some("plan_code"))
    );
    let same = app.get(&path("plan_code=pro"), A).await;
    let real = app
        .post(
            &format!("/v1/subscriptions/{sub}/change-plan"),
            A,
            &json!({"plan_code": "pro"}),
        )
        .await;
    assert_eq!(same.status, 409, "{:?}", same.body);
    assert_eq!((same.status, same.body.clone()), (real.status, real.body));

    created(
        &app,
        "/v1/plans",
        json!({"code": "basic", "name": "Basic", "amount_cents": 1000, "interval": "month"}),
    )
    .await;
    let scheduled = app
        .get(&path("plan_code=basic&effective=period_end"), A)
        .await;
    assert_eq!(
        (
            scheduled.status,
            &scheduled.body["subscription"]["pending_plan_code"],
            &scheduled.body["invoice"]
        ),
        (200, &json!("basic"), &Value::Null)
    );
    assert_eq!(
        app.get(&format!("/v1/subscriptions/{sub}"), A).await.body["pending_plan_code"],
        Value::Null,
        "the scheduled change was not stored"
    );
    let canceled = app
        .post(
            &format!("/v1/subscriptions/{sub}/cancel"),
            A,
            &json!({"at_period_end": false}),
        )
        .await;
    assert_eq!(canceled.status, 200);
    let after_cancel = app.get(&path("plan_code=pro"), A).await;
    assert_eq!(
        (after_cancel.status, after_cancel.error().1.as_str()),
        (409, "illegal_transition")
    );
}

#[tokio::test]
async fn a_usage_series_buckets_the_per_second_sums_zero_filled() {
    let app = spawn_app().await;
    set_clock(&app, "2027-03-05T00:00:00Z").await;
    let user = app.user_id.clone();
    let event = |id: &str, quantity: u64, at: &str| json!({"id": id, "user_id": user, "metric": "api_calls", "quantity": quantity, "timestamp": at});
    let events = json!({"events": [
        event("a", 5, "2027-03-01T09:59:59Z"),
        event("b", 7, "2027-03-01T10:00:00Z"),
        event("c", 1, "2027-03-01T10:30:00Z"),
        event("c", 1, "2027-03-01T10:30:00Z"),
        event("d", 11, "2027-03-01T12:00:00Z"),
        event("e", 100, "2027-03-03T23:59:59Z"),
        event("f", 1000, "2027-03-04T00:00:00Z"),
    ]});
    assert_eq!(app.post("/v1/usage", A, &events).await.status, 202);
    let other_metric = json!({"events": [{"id": "g", "user_id": user, "metric": "storage", "quantity": 9, "timestamp": "2027-03-01T10:00:00Z"}]});
    assert_eq!(app.post("/v1/usage", A, &other_metric).await.status, 202);
    billing_app::usage::drain_usage_queue(&app.state.app)
        .await
        .unwrap();
    let app = &app;
    let series = |query: &str| {
        let path = format!("/v1/usage/series?user_id={user}&metric=api_calls&{query}");
        async move { app.get(&path, A).await }
    };
    let points = |body: &Value| -> Vec<(String, i64)> {
        body["points"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p["start"].as_str().unwrap().to_owned(),
                    p["quantity"].as_i64().unwrap(),
                )
            })
            .collect()
    };

    let hourly = series("from=2027-03-01T10:00:00Z&to=2027-03-01T13:00:00Z&bucket=hour").await;
    assert_eq!(hourly.status, 200, "{:?}", hourly.body);
    assert_eq!(hourly.body["bucket"], json!("hour"));
    assert_eq!(
        points(&hourly.body),
        [
            ("2027-03-01T10:00:00Z".into(), 8),
            ("2027-03-01T11:00:00Z".into(), 0),
            ("2027-03-01T12:00:00Z".into(), 11),
        ],
        "09:59:59 is before from, the duplicate c counts once, 11:00 is zero-filled"
    );

    // `from` mid-bucket: the first bucket starts at the truncated day but counts from `from`.
    let daily = series("from=2027-03-01T10:00:00Z&to=2027-03-04T00:00:01Z").await;
    assert_eq!(daily.body["bucket"], json!("day"), "the default bucket");
    assert_eq!(
        points(&daily.body),
        [
            ("2027-03-01T00:00:00Z".into(), 19),
            ("2027-03-02T00:00:00Z".into(), 0),
            ("2027-03-03T00:00:00Z".into(), 100),
            ("2027-03-04T00:00:00Z".into(), 1000),
        ]
    );
    let total: i64 = points(&daily.body).iter().map(|p| p.1).sum();
    let summary = app
        .get(&format!("/v1/usage/summary?user_id={user}&metric=api_calls&from=2027-03-01T10:00:00Z&to=2027-03-04T00:00:01Z"), A)
        .await;
    assert_eq!(Some(total), summary.body["quantity"].as_i64());

    let exclusive = series("from=2027-03-03T00:00:00Z&to=2027-03-04T00:00:00Z").await;
    assert_eq!(
        points(&exclusive.body),
        [("2027-03-03T00:00:00Z".into(), 100)]
    );

    let field = |response: &crate::helpers::TestResponse| (response.status, response.error().2);
    let backwards = series("from=2027-03-02T00:00:00Z&to=2027-03-02T00:00:00Z").await;
    assert_eq!(field(&backwards), (400, Some("to".into())));
    let too_many = series("from=2027-01-01T00:00:00Z&to=2027-02-11T16:00:01Z&bucket=hour").await;
    assert_eq!(field(&too_many), (400, Some("to".into())));
    let most = series("from=2027-01-01T00:00:00Z&to=2027-02-11T16:00:00Z&bucket=hour").await;
    assert_eq!(
        (most.status, most.body["points"].as_array().map(Vec::len)),
        (200, Some(1000))
    );
    let bad_bucket = series("from=2027-03-01T00:00:00Z&to=2027-03-02T00:00:00Z&bucket=week").await;
    assert_eq!(field(&bad_bucket), (400, Some("bucket".into())));
    let missing = app
        .get(
            &format!("/v1/usage/series?user_id={user}&metric=api_calls&to=2027-03-02T00:00:00Z"),
            A,
        )
        .await;
    assert_eq!(missing.status, 400);
    let unknown = app
        .get("/v1/usage/series?user_id=usr_nobody&metric=api_calls&from=2027-03-01T00:00:00Z&to=2027-03-02T00:00:00Z", A)
        .await;
    assert_eq!(
        (unknown.status, unknown.error().1.as_str()),
        (400, "unknown_user")
    );
}

#[tokio::test]
async fn users_are_found_by_exact_email_or_name_prefix() {
    let app = spawn_app().await;
    for (email, name) in [
        ("Grace@Example.com", Some("Grace Hopper")),
        ("grete@example.com", Some("grete")),
        ("ken@example.com", None),
    ] {
        created(&app, "/v1/users", json!({"email": email, "name": name})).await;
    }
    let ken = app.get("/v1/users?email=ken@example.com", A).await;
    let renamed = app
        .request(
            reqwest::Method::PATCH,
            &format!("/v1/users/{}", ken.body["data"][0]["id"].as_str().unwrap()),
            Some(A),
            Some(&json!({"name": "Gregory"})),
            &[],
        )
        .await;
    assert_eq!(renamed.status, 200);
    let emails = |path: &str| {
        let path = path.to_owned();
        let app = &app;
        async move {
            let listed = app.get(&path, A).await;
            assert_eq!(listed.status, 200, "{path}: {:?}", listed.body);
            listed.body["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|u| u["email"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        emails("/v1/users?email=GRACE@example.COM").await,
        ["Grace@Example.com"]
    );
    assert!(emails("/v1/users?email=gra@example.com").await.is_empty());
    assert_eq!(
        emails("/v1/users?name=GR").await,
        ["Grace@Example.com", "ken@example.com", "grete@example.com"],
        "grace hopper < gregory < grete: name order"
    );
    assert_eq!(
        emails("/v1/users?name=gre&limit=1").await,
        ["ken@example.com"]
    );
    let page = app.get("/v1/users?name=gre&limit=1", A).await;
    let cursor = page.body["next_cursor"].as_str().unwrap();
    assert_eq!(
        emails(&format!("/v1/users?name=gre&limit=1&cursor={cursor}")).await,
        ["grete@example.com"]
    );
    assert_eq!(
        emails("/v1/users").await.len(),
        4,
        "three and the fixture's user"
    );

    let both = app.get("/v1/users?email=ken@example.com&name=g", A).await;
    assert_eq!(
        (both.status, both.error().2.as_deref()),
        (400, Some("name"))
    );
    let malformed = app.get("/v1/users?email=nope", A).await;
    assert_eq!(
        (malformed.status, malformed.error().2.as_deref()),
        (400, Some("email"))
    );
    let empty = app.get("/v1/users?name=", A).await;
    assert_eq!(
        (empty.status, empty.error().2.as_deref()),
        (400, Some("name"))
    );
    let unknown = app.get("/v1/users?phone=1", A).await;
    assert_eq!(unknown.status, 400);
}

#[tokio::test]
async fn the_dashboard_answers_from_the_counters() {
    let app = spawn_app().await;
    set_clock(&app, "2027-01-01T00:00:00Z").await;
    created(&app, "/v1/plans", pro_plan()).await;
    let user = app.user_id.clone();
    created(
        &app,
        "/v1/subscriptions",
        json!({"user_id": user, "plan_code": "pro"}),
    )
    .await;
    set_clock(&app, "2027-01-02T10:00:00Z").await;
    let usage =
        json!({"events": [{"id": "e1", "user_id": user, "metric": "api_calls", "quantity": 3}]});
    assert_eq!(app.post("/v1/usage", A, &usage).await.status, 202);
    billing_app::usage::drain_usage_queue(&app.state.app)
        .await
        .unwrap();

    let got = app.get("/v1/dashboard", A).await;
    assert_eq!(got.status, 200, "{:?}", got.body);
    let body = &got.body;
    assert_eq!(
        (
            &body["currency"],
            &body["as_of"],
            &body["mrr_cents"],
            &body["mrr_change_cents"],
            &body["active_subscriptions"],
            &body["trialing_subscriptions"],
            &body["past_due_subscriptions"],
        ),
        (
            &json!("usd"),
            &json!("2027-01-02T10:00:00Z"),
            &json!(2900),
            &json!(2900),
            &json!(1),
            &json!(0),
            &json!(0)
        )
    );
    assert_eq!(
        body["invoices_by_status"],
        json!([
            {"status": "open", "count": 1, "amount_due_cents": 2900},
            {"status": "paid", "count": 0, "amount_due_cents": 0},
            {"status": "void", "count": 0, "amount_due_cents": 0},
            {"status": "uncollectible", "count": 0, "amount_due_cents": 0},
        ])
    );
    assert_eq!(
        body["failing_invoices"],
        json!({"count": 0, "amount_due_cents": 0})
    );
    let months = body["revenue_by_month"].as_array().unwrap();
    assert_eq!(months.len(), 12);
    assert_eq!(months[0]["month"], json!("2026-02"));
    assert_eq!(
        months[11],
        json!({"month": "2027-01", "invoiced_cents": 2900, "paid_cents": 0})
    );
    assert_eq!(
        body["usage_by_day"],
        json!([{"day": "2027-01-02", "metric": "api_calls", "quantity": 3}])
    );

    let eur = app.get("/v1/dashboard?currency=eur", A).await;
    assert_eq!((eur.status, &eur.body["mrr_cents"]), (200, &json!(0)));
    for bad in ["USD", "us", "usdx", "12a"] {
        let refused = app.get(&format!("/v1/dashboard?currency={bad}"), A).await;
        assert_eq!(
            (refused.status, refused.error().2.as_deref()),
            (400, Some("currency")),
            "{bad}"
        );
    }
    let document = app.get("/openapi.json", A).await.body;
    for path in [
        "/v1/dashboard",
        "/v1/usage/series",
        "/v1/subscriptions/{id}/change-plan/preview",
    ] {
        assert!(document["paths"][path]["get"].is_object(), "{path}");
    }
}
