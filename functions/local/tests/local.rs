//! The real `billing-local` binary, started as a user would: a billing cycle over HTTP with
//! the test clock, a SIGKILL in the middle of usage ingestion (nothing acknowledged is lost,
//! nothing is counted twice), `/metrics`, and a clean stop on SIGTERM.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const ADMIN: &str = "test-admin-token";

struct Local {
    child: Child,
    base: String,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn start(data_dir: &std::path::Path, port: u16) -> Local {
    start_with(data_dir, port, &[]).await
}

async fn start_with(data_dir: &std::path::Path, port: u16, extra: &[(&str, &str)]) -> Local {
    start_logged(data_dir, port, extra, None).await
}

/// [`start_with`], its stdout and stderr (every log line) written to `log` when given.
async fn start_logged(
    data_dir: &std::path::Path,
    port: u16,
    extra: &[(&str, &str)],
    log: Option<&std::path::Path>,
) -> Local {
    let output = || match log {
        Some(path) => Stdio::from(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .unwrap(),
        ),
        None => Stdio::null(),
    };
    let child = Command::new(env!("CARGO_BIN_EXE_billing-local"))
        .envs(extra.iter().copied())
        .env("BILLING_ADDR", format!("127.0.0.1:{port}"))
        .env("BILLING_DATA_DIR", data_dir)
        .env("BILLING_ADMIN_TOKEN", ADMIN)
        .env("BILLING_TEST_CLOCK", "true")
        .env("BILLING_INVOICE_RUN_EVERY", "0")
        .env("BILLING_PAYMENT_RUN_EVERY", "0")
        .env("BILLING_USAGE_RATE_LIMIT", "100000")
        .stdout(output())
        .stderr(output())
        .spawn()
        .expect("billing-local starts");
    let local = Local {
        child,
        base: format!("http://127.0.0.1:{port}"),
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if reqwest::get(format!("{}/healthz", local.base))
            .await
            .is_ok_and(|r| r.status() == 200)
        {
            return local;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("billing-local did not answer /healthz within 20 s");
}

async fn call(
    base: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let client = reqwest::Client::new();
    let mut request = client
        .request(method, format!("{base}{path}"))
        .bearer_auth(ADMIN);
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body.to_string());
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

async fn post(base: &str, path: &str, body: Value) -> (u16, Value) {
    call(base, reqwest::Method::POST, path, Some(body)).await
}

async fn get(base: &str, path: &str) -> Value {
    let (status, body) = call(base, reqwest::Method::GET, path, None).await;
    assert_eq!(status, 200, "{path}: {body}");
    body
}

async fn summary(base: &str, user: &str) -> u64 {
    let body = get(base, &format!("/v1/usage/summary?user_id={user}&metric=api_calls&from=2027-01-01T00:00:00Z&to=2027-02-01T00:00:00Z")).await;
    body["quantity"].as_u64().unwrap()
}

/// Waits until the aggregator has counted `expected` (it drains the queue every 200 ms).
async fn summary_reaches(base: &str, user: &str, expected: u64) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let quantity = summary(base, user).await;
        if quantity >= expected || Instant::now() > deadline {
            return quantity;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn setup(base: &str) -> String {
    assert_eq!(
        post(
            base,
            "/v1/test-clock",
            json!({"now": "2027-01-01T00:00:00Z"})
        )
        .await
        .0,
        200
    );
    let plan = json!({"code": "pro", "name": "Pro", "amount_cents": 2900, "interval": "month", "usage_charges": [{
        "metric": "api_calls", "mode": "graduated", "tiers": [
            {"up_to": 100000, "unit_amount_decimal": "0"},
            {"up_to": 1000000, "unit_amount_decimal": "0.05"},
            {"up_to": null, "unit_amount_decimal": "0.02"}]}]});
    assert_eq!(post(base, "/v1/plans", plan).await.0, 201);
    let (status, user) = post(
        base,
        "/v1/users",
        json!({"email": "ada@example.com", "payment_method": "pm_card_ok"}),
    )
    .await;
    assert_eq!(status, 201, "{user}");
    let user = user["id"].as_str().unwrap().to_owned();
    let (status, subscription) = post(
        base,
        "/v1/subscriptions",
        json!({"user_id": user, "plan_code": "pro"}),
    )
    .await;
    assert_eq!(status, 201, "{subscription}");
    assert_eq!(
        post(
            base,
            "/v1/test-clock",
            json!({"now": "2027-01-15T00:00:00Z"})
        )
        .await
        .0,
        200
    );
    user
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_billing_cycle_over_http_bills_tiers_once_and_collects() {
    let data = tempfile::tempdir().unwrap();
    let mut local = start(data.path(), free_port()).await;
    let base = local.base.clone();
    let user = setup(&base).await;
    let usage = |events: Value| json!({ "events": events });
    let first = usage(json!([
        {"id": "e1", "user_id": user, "metric": "api_calls", "quantity": 1_000_000, "timestamp": "2027-01-10T00:00:00Z"},
        {"id": "e2", "user_id": user, "metric": "api_calls", "quantity": 250_000, "timestamp": "2027-01-11T00:00:00Z"}]));
    assert_eq!(
        post(&base, "/v1/usage", first).await,
        (202, json!({"accepted": 2}))
    );
    // The producer resends e1 with another quantity: a duplicate, counted never.
    let resend = usage(
        json!([{"id": "e1", "user_id": user, "metric": "api_calls", "quantity": 9, "timestamp": "2027-01-12T00:00:00Z"}]),
    );
    assert_eq!(post(&base, "/v1/usage", resend).await.0, 202);
    assert_eq!(summary_reaches(&base, &user, 1_250_000).await, 1_250_000);

    assert_eq!(
        post(
            &base,
            "/v1/test-clock",
            json!({"now": "2027-02-01T00:00:00Z"})
        )
        .await
        .0,
        200
    );
    let (status, run) = post(&base, "/v1/invoice-runs", json!({})).await;
    assert_eq!((status, run["invoices_created"].as_u64()), (200, Some(1)));
    let (_, payments) = post(&base, "/v1/payment-runs", json!({})).await;
    assert_eq!(payments["succeeded"].as_u64(), Some(2));
    let invoices = get(&base, &format!("/v1/invoices?user_id={user}")).await;
    let renewal = &invoices["data"][0];
    let lines: Vec<(String, i64)> = renewal["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["kind"].as_str().unwrap().to_owned(),
                l["amount_cents"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        lines,
        [
            ("usage".into(), 0),
            ("usage".into(), 45_000),
            ("usage".into(), 5_000),
            ("base_fee".into(), 2900)
        ]
    );
    assert_eq!(
        (
            renewal["status"].as_str(),
            renewal["amount_due_cents"].as_i64()
        ),
        (Some("paid"), Some(52_900))
    );

    let metrics = reqwest::get(format!("{base}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        has_line(&metrics, "billing_usage_events_ingested_total 3"),
        "{metrics}"
    );
    assert!(
        has_line(&metrics, "billing_usage_events_duplicate_total 1"),
        "{metrics}"
    );
    assert!(
        has_line(&metrics, "billing_invoices_created_total 2"),
        "{metrics}"
    );
    assert!(
        has_line(&metrics, "billing_payments_total{outcome=\"succeeded\"} 2"),
        "{metrics}"
    );
    assert!(
        metrics.contains("route=\"/v1/invoices\",status=\"200\""),
        "{metrics}"
    );

    // Every audit entry becomes a domain event: the outbox is swept into the local sink.
    let audit = get(&base, "/v1/audit?limit=100").await["data"]
        .as_array()
        .unwrap()
        .len();
    assert!(audit >= 10, "{audit} audit entries");
    let expected = format!("billing_events_published_total {audit}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let metrics = reqwest::get(format!("{base}/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if has_line(&metrics, &expected) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{expected} never came: {metrics}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }

    // SIGTERM stops it cleanly.
    let pid = local.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = local.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "billing-local did not stop on SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "{status:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_acknowledged_before_a_sigkill_is_counted_once_after_restart() {
    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut local = start(data.path(), port).await;
    let base = local.base.clone();
    let user = setup(&base).await;
    let sent: u64 = 3_000;
    // Send events one per request from 8 concurrent producers; kill -9 the runner midway.
    let mut producers = Vec::new();
    for producer in 0..8_u64 {
        let (base, user) = (base.clone(), user.clone());
        producers.push(tokio::spawn(async move {
            let mut acknowledged = 0_u64;
            for i in (producer..sent).step_by(8) {
                let body = json!({"events": [{"id": format!("ev-{i}"), "user_id": user, "metric": "api_calls", "quantity": 1, "timestamp": "2027-01-14T00:00:00Z"}]});
                let client = reqwest::Client::new();
                let response = client.post(format!("{base}/v1/usage")).bearer_auth(ADMIN).header("content-type", "application/json").body(body.to_string()).send().await;
                match response {
                    Ok(r) if r.status() == 202 => acknowledged += 1,
                    _ => break,
                }
            }
            acknowledged
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    local.child.kill().unwrap(); // SIGKILL
    local.child.wait().unwrap();
    let mut acknowledged = 0;
    for producer in producers {
        acknowledged += producer.await.unwrap();
    }
    assert!(
        acknowledged > 0 && acknowledged < sent,
        "the kill should land mid-ingestion ({acknowledged} of {sent})"
    );

    let local = start(data.path(), port).await;
    let counted = summary_reaches(&local.base, &user, acknowledged).await;
    assert!(
        counted >= acknowledged,
        "lost acknowledged usage: {counted} counted, {acknowledged} acknowledged"
    );
    assert!(counted <= sent);
    // The producers retry everything: each event counts exactly once in the end.
    for chunk in (0..sent).collect::<Vec<_>>().chunks(100) {
        let events: Vec<Value> = chunk
            .iter()
            .map(|i| json!({"id": format!("ev-{i}"), "user_id": user, "metric": "api_calls", "quantity": 1, "timestamp": "2027-01-14T00:00:00Z"}))
            .collect();
        assert_eq!(
            post(&local.base, "/v1/usage", json!({ "events": events }))
                .await
                .0,
            202
        );
    }
    assert_eq!(summary_reaches(&local.base, &user, sent).await, sent);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        summary(&local.base, &user).await,
        sent,
        "nothing counted twice"
    );
    let mut child = local.child;
    child.kill().unwrap();
    child.wait().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upgrade_is_prorated_and_failed_dunning_cancels_over_http() {
    let data = tempfile::tempdir().unwrap();
    let mut local = start(data.path(), free_port()).await;
    let base = local.base.clone();
    assert_eq!(
        post(
            &base,
            "/v1/test-clock",
            json!({"now": "2027-01-01T00:00:00Z"})
        )
        .await
        .0,
        200
    );
    for (code, amount) in [("basic", 1000), ("pro", 2900)] {
        let plan = json!({"code": code, "name": code, "amount_cents": amount, "interval": "month"});
        assert_eq!(post(&base, "/v1/plans", plan).await.0, 201);
    }
    let (_, good) = post(
        &base,
        "/v1/users",
        json!({"email": "up@example.com", "payment_method": "pm_card_ok"}),
    )
    .await;
    let (_, bad) = post(
        &base,
        "/v1/users",
        json!({"email": "down@example.com", "payment_method": "pm_card_declined"}),
    )
    .await;
    let (_, upgrading) = post(
        &base,
        "/v1/subscriptions",
        json!({"user_id": good["id"], "plan_code": "basic"}),
    )
    .await;
    let (_, failing) = post(
        &base,
        "/v1/subscriptions",
        json!({"user_id": bad["id"], "plan_code": "pro"}),
    )
    .await;

    // Dunning: attempts at finalization, +1, +3, +5 days; then uncollectible and canceled.
    let failing_id = failing["id"].as_str().unwrap().to_owned();
    for (day, status) in [
        ("01", "past_due"),
        ("02", "past_due"),
        ("04", "past_due"),
        ("06", "canceled"),
    ] {
        let now = format!("2027-01-{day}T00:00:00Z");
        assert_eq!(
            post(&base, "/v1/test-clock", json!({"now": now})).await.0,
            200
        );
        let (_, run) = post(&base, "/v1/payment-runs", json!({})).await;
        assert!(run["failed"].as_u64().unwrap() >= 1, "{day}: {run}");
        let subscription = get(&base, &format!("/v1/subscriptions/{failing_id}")).await;
        assert_eq!(subscription["status"], json!(status), "{day}");
    }
    let (status, _) = post(
        &base,
        "/v1/test-clock",
        json!({"now": "2027-01-05T00:00:00Z"}),
    )
    .await;
    assert_eq!(status, 409, "the clock only moves forward");

    // BILLING.md's worked example: basic → pro on Jan 11 credits 677¢ and bills 2900¢.
    assert_eq!(
        post(
            &base,
            "/v1/test-clock",
            json!({"now": "2027-01-11T00:00:00Z"})
        )
        .await
        .0,
        200
    );
    let path = format!(
        "/v1/subscriptions/{}/change-plan",
        upgrading["id"].as_str().unwrap()
    );
    let (status, changed) = post(&base, &path, json!({"plan_code": "pro"})).await;
    assert_eq!(status, 200, "{changed}");
    let amounts: Vec<i64> = changed["invoice"]["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["amount_cents"].as_i64().unwrap())
        .collect();
    assert_eq!(amounts, [-677, 2900]);
    assert_eq!(changed["invoice"]["amount_due_cents"].as_i64(), Some(2223));

    let invoices = get(&base, &format!("/v1/invoices?subscription_id={failing_id}")).await;
    assert_eq!(invoices["data"][0]["status"], json!("uncollectible"));
    assert_eq!(invoices["data"][0]["attempt_count"], json!(4));
    let audit = get(&base, &format!("/v1/audit?entity_id={failing_id}")).await;
    let actions: Vec<&str> = audit["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "subscription.canceled",
            "subscription.past_due",
            "subscription.created"
        ]
    );
    local.child.kill().unwrap();
    local.child.wait().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_ui_is_served_from_web_dist_beside_the_api() {
    let data = tempfile::tempdir().unwrap();
    let dist = tempfile::tempdir().unwrap();
    std::fs::write(dist.path().join("index.html"), "<html>billing admin</html>").unwrap();
    std::fs::write(dist.path().join("app.js"), "console.log(1)").unwrap();
    let dist_path = dist.path().to_str().unwrap().to_owned();
    let mut local = start_with(
        data.path(),
        free_port(),
        &[("BILLING_WEB_DIST", dist_path.as_str())],
    )
    .await;
    let page = |path: &str| {
        let url = format!("{}{path}", local.base);
        async move {
            let response = reqwest::get(url).await.unwrap();
            (response.status().as_u16(), response.text().await.unwrap())
        }
    };
    assert_eq!(
        page("/").await,
        (200, "<html>billing admin</html>".to_owned())
    );
    assert_eq!(page("/app.js").await, (200, "console.log(1)".to_owned()));
    assert_eq!(
        page("/invoices/inv_1").await.1,
        "<html>billing admin</html>",
        "client-side routes get the page"
    );
    let (status, body) = page("/v1/nothing-here").await;
    assert_eq!(status, 404);
    assert!(
        body.contains("\"type\":\"not_found\""),
        "an unknown API path keeps the envelope: {body}"
    );
    assert_eq!(page("/healthz").await.0, 200);
    local.child.kill().unwrap();
    local.child.wait().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_dynamodb_it_creates_its_table_and_keeps_the_data() {
    let Some(_endpoint) = billing_store::testing::dynamodb_endpoint(
        "on_dynamodb_it_creates_its_table_and_keeps_the_data",
    ) else {
        return;
    };
    let data = tempfile::tempdir().unwrap();
    let table = format!("billing-local-{}", std::process::id());
    let port = free_port();
    let settings = [
        ("BILLING_STORE", "dynamodb"),
        ("BILLING_TABLE", table.as_str()),
    ];
    let mut local = start_with(data.path(), port, &settings).await;
    let (status, created) =
        post(&local.base, "/v1/users", json!({"email": "dy@example.com"})).await;
    assert_eq!(status, 201, "{created}");
    local.child.kill().unwrap();
    local.child.wait().unwrap();
    // A restart on the existing table finds the user.
    let mut again = start_with(data.path(), port, &settings).await;
    let user = get(
        &again.base,
        &format!("/v1/users/{}", created["id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(user["email"], json!("dy@example.com"));
    again.child.kill().unwrap();
    again.child.wait().unwrap();
}

/// Whether the Prometheus text has exactly this line (`…_total 2` must not match `…_total 20`).
fn has_line(metrics: &str, line: &str) -> bool {
    metrics.lines().any(|l| l == line)
}

/// `Stripe-Signature` for `body` at `timestamp`, as Stripe computes it.
fn stripe_signature(secret: &str, timestamp: i64, body: &str) -> String {
    billing_stripe::webhook::signature_header(secret, timestamp, body.as_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_stripe_the_charge_goes_to_stripe_and_its_webhook_completes_the_invoice() {
    let Ok(stripe_base) = std::env::var("STRIPE_API_BASE") else {
        assert_ne!(
            std::env::var("BILLING_REQUIRE_STRIPE_MOCK").as_deref(),
            Ok("1"),
            "BILLING_REQUIRE_STRIPE_MOCK=1 but STRIPE_API_BASE is unset"
        );
        eprintln!("skipped: STRIPE_API_BASE is unset (start stripe-mock: infra/with-services.sh)");
        return;
    };
    let data = tempfile::tempdir().unwrap();
    let logs = tempfile::tempdir().unwrap();
    let log = logs.path().join("billing-local.log");
    let settings = [
        ("BILLING_PAYMENT_GATEWAY", "stripe"),
        ("STRIPE_API_KEY", STRIPE_API_KEY),
        ("STRIPE_API_BASE", stripe_base.as_str()),
        ("STRIPE_WEBHOOK_SECRET", STRIPE_WEBHOOK_SECRET),
    ];
    let mut local = start_logged(data.path(), free_port(), &settings, Some(&log)).await;
    let base = local.base.clone();
    let user = setup(&base).await;
    let invoices = get(&base, &format!("/v1/invoices?user_id={user}")).await;
    let invoice = invoices["data"][0]["id"].as_str().unwrap().to_owned();

    // stripe-mock accepts the PaymentIntent and answers its fixed object, whose status
    // (requires_payment_method) is a decline: recorded as Stripe's, under its PaymentIntent id.
    let (status, declined) = post(&base, &format!("/v1/invoices/{invoice}/pay"), json!({})).await;
    assert_eq!(status, 402, "{declined}");
    let payment = &declined["error"]["payment"];
    assert_eq!(payment["gateway"], json!("stripe"), "{declined}");
    assert!(
        payment["gateway_txn_id"]
            .as_str()
            .unwrap()
            .starts_with("pi_"),
        "{declined}"
    );

    // Stripe's webhook then reports a success for the invoice: recorded once.
    let body = json!({"id": "evt_local_1", "type": "payment_intent.succeeded",
        "data": {"object": {"id": "pi_local_1", "metadata": {"invoice_id": invoice}}}})
    .to_string();
    let now = 1_799_971_200; // 2027-01-15T00:00:00Z, the billing clock after setup
    let deliver = || async {
        let response = reqwest::Client::new()
            .post(format!("{base}/v1/webhooks/stripe"))
            .header("content-type", "application/json")
            .header(
                "stripe-signature",
                stripe_signature(STRIPE_WEBHOOK_SECRET, now, &body),
            )
            .body(body.clone())
            .send()
            .await
            .unwrap();
        (
            response.status().as_u16(),
            response.json::<Value>().await.unwrap(),
        )
    };
    assert_eq!(
        deliver().await,
        (200, json!({"received": true, "processed": true}))
    );
    assert_eq!(
        deliver().await.1["processed"],
        json!(false),
        "a redelivery changes nothing"
    );
    let paid = get(&base, &format!("/v1/invoices/{invoice}")).await;
    assert_eq!(paid["status"], json!("paid"));
    let payments = get(&base, &format!("/v1/payments?invoice_id={invoice}")).await;
    let mut outcomes: Vec<(String, String)> = payments["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["status"].as_str().unwrap().to_owned(),
                p["gateway"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    outcomes.sort();
    assert_eq!(
        outcomes,
        [
            ("failed".to_owned(), "stripe".to_owned()),
            ("succeeded".to_owned(), "stripe".to_owned())
        ]
    );
    // A forged delivery and a wrong token: errors whose bodies must not echo a secret.
    let forged = reqwest::Client::new()
        .post(format!("{base}/v1/webhooks/stripe"))
        .header("content-type", "application/json")
        .header(
            "stripe-signature",
            stripe_signature("whsec_wrong", now, &body),
        )
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 400);
    let forged = forged.text().await.unwrap();
    let unauthenticated = reqwest::Client::new()
        .get(format!("{base}/v1/invoices"))
        .bearer_auth("sk_wrong")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    local.child.kill().unwrap();
    local.child.wait().unwrap();

    // No secret is in a log line, an error body or anything stored.
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(
        logged.contains("/v1/invoices/{id}/pay"),
        "no request was logged: {logged}"
    );
    let mut stored = String::new();
    let mut dirs = vec![data.path().to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                stored.push_str(&String::from_utf8_lossy(&std::fs::read(path).unwrap()));
            }
        }
    }
    assert!(stored.contains(&invoice), "the store was not read");
    let bodies = format!("{declined}\n{forged}\n{unauthenticated}");
    for secret in [STRIPE_API_KEY, STRIPE_WEBHOOK_SECRET, ADMIN] {
        assert!(!logged.contains(secret), "{secret} is logged");
        assert!(!stored.contains(secret), "{secret} is stored");
        assert!(!bodies.contains(secret), "{secret} is in a response");
    }
}

/// Distinctive, so finding one anywhere is finding a leak.
const STRIPE_API_KEY: &str = "sk_test_3f9a41c7d2e8b6a5";
const STRIPE_WEBHOOK_SECRET: &str = "whsec_local_webhook_secret_8b2d";
