//! The access matrix, from the contract (issue 19.2): every operation `/openapi.json` lists is
//! probed on the real router without a token, with a revoked one, with malformed
//! `Authorization` headers and with each scope that must not reach it; the document's
//! `security` must say what API.md says and what the server does. Then the Stripe webhook's
//! replays, stale and forged signatures, bodies over the limit (answered before they are read
//! whole, streamed or not), and no 5xx body naming a file, a type or a store detail.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use reqwest::Method;
use reqwest::header::HeaderValue;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{ADMIN_TOKEN, TestApp, UnreachableTable, read, spawn_app_on, spawn_app_with};

const WEBHOOK_SECRET: &str = "whsec_access";
/// The billing clock of these tests, 2027-01-01T00:00:00Z.
const NOW: &str = "2027-01-01T00:00:00Z";
const NOW_EPOCH: i64 = 1_798_761_600;

/// Requests the probes sent (for the figures of docs/RELIABILITY.md).
static REQUESTS: AtomicUsize = AtomicUsize::new(0);

/// What a 5xx body must never contain: source files, Rust paths, store names, panics.
const LEAKS: [&str; 12] = [
    ".rs",
    "::",
    "DynamoDB",
    "dynamodb",
    "redb",
    "panicked",
    "src/",
    "thread '",
    "StoreError",
    "LedgerError",
    "backtrace",
    "deliberate",
];

fn assert_no_leak(what: &str, status: u16, body: &str) {
    if status < 500 {
        return;
    }
    for leak in LEAKS {
        assert!(
            !body.contains(leak),
            "{what}: the {status} body names {leak:?}: {body}"
        );
    }
}

/// API.md's rule, written out here as the oracle: `None` is open, else the scope needed.
fn api_md_scope(method: &str, path: &str) -> Option<&'static str> {
    match (method, path) {
        ("get", "/healthz") | ("get", "/openapi.json") | ("post", "/v1/webhooks/stripe") => None,
        ("post", "/v1/usage") => Some("usage:write"),
        (_, path)
            if ["/v1/tokens", "/v1/test-clock"]
                .iter()
                .any(|admin| path == *admin || path.starts_with(&format!("{admin}/"))) =>
        {
            Some("admin")
        }
        ("get", _) => Some("read"),
        _ => Some("admin"),
    }
}

/// What the document says an operation needs: `None` when it may be called anonymously.
fn documented_scope(operation: &Value) -> Option<String> {
    let requirements = operation["security"]
        .as_array()
        .unwrap_or_else(|| panic!("no security array: {operation}"));
    if requirements
        .iter()
        .any(|r| r.as_object().is_some_and(serde_json::Map::is_empty))
    {
        return None;
    }
    assert_eq!(requirements.len(), 1, "one requirement: {operation}");
    let scopes = requirements[0]["bearer"].as_array().unwrap();
    assert_eq!(scopes.len(), 1, "one scope: {operation}");
    Some(scopes[0].as_str().unwrap().to_owned())
}

/// Test-only stand-in routes of `spawn_app` fail or panic on purpose: their 5xx are expected
/// (and still checked for leaks).
fn fails_on_purpose(path: &str) -> bool {
    path.starts_with("/v1/test-only/")
}

/// Real resources, so authorized probes run the real code on plausible ids.
struct Fixture {
    user: String,
    subscription: String,
    invoice: String,
    spare_token: String,
}

async fn fixture(app: &TestApp) -> Fixture {
    let post = |path: &'static str, body: Value| async move {
        let response = app.post(path, ADMIN_TOKEN, &body).await;
        assert!(response.status < 300, "{path}: {:?}", response.body);
        response.body
    };
    post("/v1/test-clock", json!({"now": NOW})).await;
    post("/v1/plans", plan("pro")).await;
    let user = post(
        "/v1/users",
        json!({"email": "matrix@example.com", "payment_method": "pm_card_declined"}),
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let subscription = post(
        "/v1/subscriptions",
        json!({"user_id": user, "plan_code": "pro"}),
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let invoices = app
        .get(
            &format!("/v1/invoices?subscription_id={subscription}"),
            ADMIN_TOKEN,
        )
        .await;
    let invoice = invoices.body["data"][0]["id"].as_str().unwrap().to_owned();
    let (spare_token, _) = app.create_token("spare", &["read"]).await;
    Fixture {
        user,
        subscription,
        invoice,
        spare_token,
    }
}

fn plan(code: &str) -> Value {
    json!({"code": code, "name": "Pro", "amount_cents": 2900, "interval": "month", "usage_charges": [{
        "metric": "api_calls", "mode": "graduated", "tiers": [
            {"up_to": 100, "unit_amount_decimal": "0"},
            {"up_to": null, "unit_amount_decimal": "0.05"}]}]})
}

impl Fixture {
    /// `path` with its parameters replaced by ids of the right kind.
    fn concrete(&self, path: &str) -> String {
        let id = if path.starts_with("/v1/users/") {
            &self.user
        } else if path.starts_with("/v1/subscriptions/") {
            &self.subscription
        } else if path.starts_with("/v1/invoices/") {
            &self.invoice
        } else if path.starts_with("/v1/tokens/") {
            &self.spare_token
        } else {
            "run_probe"
        };
        path.replace("{id}", id)
            .replace("{code}", "pro")
            .replace("{run_id}", "run_probe")
    }

    /// A small valid-looking body for an operation that takes one.
    fn body(&self, app: &TestApp, method: &str, path: &str, operation: &Value) -> Option<Value> {
        operation.get("requestBody")?;
        Some(match (method, path) {
            ("post", "/v1/users") => json!({"email": "probe@example.com"}),
            ("patch", "/v1/users/{id}") => json!({"name": "Probe"}),
            ("post", "/v1/plans") => plan("probe"),
            ("post", "/v1/subscriptions") => json!({"user_id": self.user, "plan_code": "pro"}),
            ("post", "/v1/subscriptions/{id}/change-plan") => {
                json!({"plan_code": "pro", "effective": "period_end"})
            }
            ("post", "/v1/subscriptions/{id}/cancel") => json!({"at_period_end": true}),
            ("post", "/v1/usage") => app.usage_body(),
            ("post", "/v1/invoices/{id}/credit-notes" | "/v1/invoices/{id}/debit-notes") => {
                json!({"amount_cents": 1, "reason": "probe"})
            }
            ("post", "/v1/tokens") => json!({"name": "probe", "scopes": ["read"]}),
            ("post", "/v1/test-clock") => json!({"now": NOW}),
            _ => json!({}),
        })
    }
}

/// One request with a raw `Authorization` value (or none); the status and the body as text.
async fn call(
    app: &TestApp,
    method: &Method,
    path: &str,
    authorization: Option<HeaderValue>,
    body: Option<&Value>,
) -> (u16, String) {
    let mut request = app
        .client
        .request(method.clone(), format!("{}{path}", app.address));
    if let Some(value) = authorization {
        request = request.header("authorization", value);
    }
    if let Some(body) = body {
        request = request.json(body);
    }
    let response = request.send().await.unwrap();
    REQUESTS.fetch_add(1, Ordering::Relaxed);
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    assert_no_leak(&format!("{method} {path}"), status, &text);
    (status, text)
}

fn bearer(secret: &str) -> HeaderValue {
    HeaderValue::from_str(&format!("Bearer {secret}")).unwrap()
}

/// `Authorization` values that carry no usable bearer token.
fn malformed_authorizations(valid_secret: &str) -> Vec<HeaderValue> {
    let texts = [
        "Bearer".to_owned(),
        "Bearer ".to_owned(),
        "Bearer    ".to_owned(),
        "Basic x".to_owned(),
        format!("Basic {valid_secret}"),
        "garbage".to_owned(),
        format!("Token {valid_secret}"),
        format!("Bearer{valid_secret}"),
        format!("Bearer {valid_secret}x"),
        format!("Bearer {}", &valid_secret[..valid_secret.len() - 1]),
        "Bearer sk_\tx".to_owned(),
    ];
    let mut values: Vec<HeaderValue> = texts
        .iter()
        .map(|t| HeaderValue::from_str(t).unwrap())
        .collect();
    // Not UTF-8 (obs-text): still a header value HTTP allows.
    values.push(HeaderValue::from_bytes(b"Bearer \xff\xfe\xfd").unwrap());
    values
}

fn assert_unauthenticated(what: &str, status: u16, body: &str) {
    assert_eq!(status, 401, "{what}: {body}");
    let body: Value = serde_json::from_str(body).unwrap();
    assert_eq!(body["error"]["type"], "authentication", "{what}: {body}");
}

fn assert_forbidden(what: &str, status: u16, body: &str) {
    assert_eq!(status, 403, "{what}: {body}");
    let body: Value = serde_json::from_str(body).unwrap();
    assert_eq!(
        (&body["error"]["type"], &body["error"]["code"]),
        (&json!("permission"), &json!("insufficient_scope")),
        "{what}: {body}"
    );
}

#[tokio::test]
async fn every_documented_operation_refuses_whom_the_contract_refuses() {
    let app = spawn_app_with(|config| {
        config.stripe_webhook_secret = Some(billing_api::Secret::new(WEBHOOK_SECRET));
    })
    .await;
    let fixture = fixture(&app).await;
    let (_, admin) = app.create_token("admin", &["admin"]).await;
    let (_, reader) = app.create_token("read", &["read"]).await;
    let (_, usage) = app.create_token("usage", &["usage:write"]).await;
    let (_, read_and_usage) = app
        .create_token("read+usage", &["read", "usage:write"])
        .await;
    // An admin token, used once (so it is cached), then revoked.
    let (revoked_id, revoked) = app.create_token("revoked", &["admin"]).await;
    assert_eq!(app.get("/v1/audit", &revoked).await.status, 200);
    let revocation = app
        .delete(&format!("/v1/tokens/{revoked_id}"), ADMIN_TOKEN)
        .await;
    assert_eq!(revocation.status, 200);

    let document = app
        .request(Method::GET, "/openapi.json", None, None, &[])
        .await
        .body;
    let paths = document["paths"].as_object().unwrap();
    let mut probed: BTreeMap<&str, usize> = BTreeMap::new();
    for (path, item) in paths {
        for method_name in ["get", "post", "put", "patch", "delete"] {
            let Some(operation) = item.get(method_name) else {
                continue;
            };
            let what = format!("{method_name} {path}");
            let documented = documented_scope(operation);
            assert_eq!(
                documented.as_deref(),
                api_md_scope(method_name, path),
                "{what}: the document's security is not API.md's rule"
            );
            let method = Method::from_bytes(method_name.to_uppercase().as_bytes()).unwrap();
            let concrete = fixture.concrete(path);
            let body = fixture.body(&app, method_name, path, operation);
            let body = body.as_ref();
            let Some(scope) = documented else {
                // Open: no token, or a bad one, is never a 401/403.
                let mut authorizations = vec![None];
                authorizations.extend(malformed_authorizations(&admin).into_iter().map(Some));
                for authorization in authorizations {
                    let (status, text) = call(&app, &method, &concrete, authorization, body).await;
                    assert!(
                        status != 401 && status != 403 && status < 500,
                        "{what} is open, answered {status}: {text}"
                    );
                }
                *probed.entry("open").or_default() += 1;
                continue;
            };
            *probed
                .entry(if scope == "admin" { "admin" } else { "scoped" })
                .or_default() += 1;

            let (status, text) = call(&app, &method, &concrete, None, body).await;
            assert_unauthenticated(&format!("{what} without a token"), status, &text);
            let body_json: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(body_json["error"]["code"], "missing_token", "{what}");

            let (status, text) = call(&app, &method, &concrete, Some(bearer(&revoked)), body).await;
            assert_unauthenticated(&format!("{what} with a revoked token"), status, &text);

            for authorization in malformed_authorizations(&admin) {
                let shown = String::from_utf8_lossy(authorization.as_bytes()).into_owned();
                let (status, text) =
                    call(&app, &method, &concrete, Some(authorization), body).await;
                assert_unauthenticated(&format!("{what} with {shown:?}"), status, &text);
            }

            let (denied, allowed): (Vec<&str>, Vec<&str>) = match scope.as_str() {
                "admin" => (vec![&reader, &usage, &read_and_usage], vec![&admin]),
                "read" => (vec![&usage], vec![&admin, &reader, &read_and_usage]),
                "usage:write" => (vec![&reader], vec![&admin, &usage, &read_and_usage]),
                other => panic!("{what}: unknown scope {other}"),
            };
            for token in denied {
                let (status, text) =
                    call(&app, &method, &concrete, Some(bearer(token)), body).await;
                assert_forbidden(&format!("{what} with too small a scope"), status, &text);
            }
            for token in allowed.into_iter().chain([ADMIN_TOKEN]) {
                let (status, text) =
                    call(&app, &method, &concrete, Some(bearer(token)), body).await;
                assert!(
                    status != 401 && status != 403,
                    "{what}: a token with {scope} was refused ({status}): {text}"
                );
                assert!(
                    status < 500 || fails_on_purpose(path),
                    "{what} answered {status} to a plausible request: {text}"
                );
            }
        }
    }
    eprintln!(
        "access matrix: {probed:?} operations, {} requests",
        REQUESTS.load(Ordering::Relaxed)
    );
    // The document lists every route of API.md (the webhook, tokens, the test clock, usage...).
    assert_eq!(probed.get("open"), Some(&3), "{probed:?}");
    assert!(
        probed.get("admin").copied().unwrap_or(0) >= 20,
        "{probed:?}"
    );
    assert!(
        probed.get("scoped").copied().unwrap_or(0) >= 12,
        "{probed:?}"
    );
}

#[tokio::test]
async fn a_store_that_fails_answers_5xx_that_name_nothing_inside() {
    let app = spawn_app_on(Arc::new(UnreachableTable)).await;
    let document = app
        .request(Method::GET, "/openapi.json", None, None, &[])
        .await
        .body;
    let mut five_hundreds = 0;
    for (path, item) in document["paths"].as_object().unwrap() {
        for method_name in ["get", "post", "put", "patch", "delete"] {
            let Some(operation) = item.get(method_name) else {
                continue;
            };
            let method = Method::from_bytes(method_name.to_uppercase().as_bytes()).unwrap();
            let concrete = path
                .replace("{id}", "usr_x")
                .replace("{code}", "pro")
                .replace("{run_id}", "run_x");
            let body = operation.get("requestBody").map(|_| json!({}));
            // The bootstrap token needs no store; an API token's lookup does.
            for token in [ADMIN_TOKEN, "sk_not_cached"] {
                let (status, _) =
                    call(&app, &method, &concrete, Some(bearer(token)), body.as_ref()).await;
                five_hundreds += usize::from(status >= 500);
            }
        }
    }
    assert!(five_hundreds > 30, "only {five_hundreds} 5xx were seen");
}

// ---- the Stripe webhook

fn signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    billing_stripe::webhook::signature_header(secret, timestamp, body)
}

async fn deliver(app: &TestApp, signature: Option<&str>, body: &[u8]) -> (u16, Value) {
    let mut request = app
        .client
        .post(format!("{}/v1/webhooks/stripe", app.address))
        .header("content-type", "application/json")
        .body(body.to_vec());
    if let Some(signature) = signature {
        request = request.header("stripe-signature", signature);
    }
    let response = read(request.send().await.unwrap()).await;
    assert_no_leak("webhook", response.status, &response.body.to_string());
    (response.status, response.body)
}

/// What a delivery could change: the invoice, its payments, the audit log.
async fn effects(app: &TestApp, invoice: &str) -> (Value, Value, usize) {
    let invoice_now = app
        .get(&format!("/v1/invoices/{invoice}"), ADMIN_TOKEN)
        .await
        .body;
    let payments = app
        .get(&format!("/v1/payments?invoice_id={invoice}"), ADMIN_TOKEN)
        .await
        .body["data"]
        .clone();
    let audit = app.get("/v1/audit?limit=100", ADMIN_TOKEN).await.body["data"]
        .as_array()
        .unwrap()
        .len();
    (invoice_now["status"].clone(), payments, audit)
}

#[tokio::test]
async fn webhooks_refuse_forged_and_stale_signatures_and_replays_change_nothing() {
    let app = spawn_app_with(|config| {
        config.stripe_webhook_secret = Some(billing_api::Secret::new(WEBHOOK_SECRET));
    })
    .await;
    let fixture = fixture(&app).await;
    let invoice = fixture.invoice.as_str();
    let event = |id: &str, kind: &str| {
        json!({"id": id, "type": kind, "data": {"object": {"id": "pi_1", "metadata": {"invoice_id": invoice}}}})
            .to_string()
            .into_bytes()
    };
    let body = event("evt_1", "payment_intent.succeeded");
    let before = effects(&app, invoice).await;
    assert_eq!(before.0, "open");

    let good = signature(WEBHOOK_SECRET, NOW_EPOCH, &body);
    let (_, valid_hex) = good.split_once(",v1=").unwrap();
    let flipped = {
        let mut hex = valid_hex.to_owned();
        let last = if hex.ends_with('0') { "1" } else { "0" };
        hex.replace_range(hex.len() - 1.., last);
        hex
    };
    let refused: Vec<(String, Option<String>, Vec<u8>)> = vec![
        ("no header".into(), None, body.clone()),
        (
            "another secret".into(),
            Some(signature("whsec_other", NOW_EPOCH, &body)),
            body.clone(),
        ),
        (
            "a tampered body".into(),
            Some(good.clone()),
            event("evt_1", "payment_intent.payment_failed"),
        ),
        (
            "one byte more".into(),
            Some(good.clone()),
            [body.as_slice(), b" "].concat(),
        ),
        (
            "a flipped digit".into(),
            Some(format!("t={NOW_EPOCH},v1={flipped}")),
            body.clone(),
        ),
        (
            "v0 only".into(),
            Some(format!("t={NOW_EPOCH},v0={valid_hex}")),
            body.clone(),
        ),
        (
            "no timestamp".into(),
            Some(format!("v1={valid_hex}")),
            body.clone(),
        ),
        (
            "a timestamp in words".into(),
            Some(format!("t=now,v1={valid_hex}")),
            body.clone(),
        ),
        (
            "a huge timestamp".into(),
            Some(format!("t=99999999999999999999,v1={valid_hex}")),
            body.clone(),
        ),
        ("an empty header".into(), Some(String::new()), body.clone()),
        ("garbage".into(), Some(",,==,t=,v1=".into()), body.clone()),
        (
            "odd hex".into(),
            Some(format!("t={NOW_EPOCH},v1={}", &valid_hex[1..])),
            body.clone(),
        ),
        (
            "stale by 301 s".into(),
            Some(signature(WEBHOOK_SECRET, NOW_EPOCH - 301, &body)),
            body.clone(),
        ),
        (
            "a day old".into(),
            Some(signature(WEBHOOK_SECRET, NOW_EPOCH - 86_400, &body)),
            body.clone(),
        ),
        (
            "301 s ahead".into(),
            Some(signature(WEBHOOK_SECRET, NOW_EPOCH + 301, &body)),
            body.clone(),
        ),
    ];
    for (what, header, body) in &refused {
        let (status, response) = deliver(&app, header.as_deref(), body).await;
        assert_eq!(status, 400, "{what}: {response}");
        assert_eq!(
            (&response["error"]["code"], &response["error"]["param"]),
            (&json!("invalid_signature"), &json!("Stripe-Signature")),
            "{what}: {response}"
        );
    }
    assert_eq!(
        effects(&app, invoice).await,
        before,
        "a refused delivery changed something"
    );

    // Within the tolerance (300 s old) it is taken, once.
    let (status, response) = deliver(
        &app,
        Some(&signature(WEBHOOK_SECRET, NOW_EPOCH - 300, &body)),
        &body,
    )
    .await;
    assert_eq!(
        (status, &response),
        (200, &json!({"received": true, "processed": true}))
    );
    let after = effects(&app, invoice).await;
    assert_eq!(after.0, "paid");
    assert_ne!(after.2, before.2, "the payment is audited");

    // The same event again, freshly signed; and the same id claiming the opposite outcome.
    for replay in [
        body.clone(),
        event("evt_1", "payment_intent.payment_failed"),
    ] {
        let (status, response) = deliver(
            &app,
            Some(&signature(WEBHOOK_SECRET, NOW_EPOCH, &replay)),
            &replay,
        )
        .await;
        assert_eq!(
            (status, &response),
            (200, &json!({"received": true, "processed": false}))
        );
        assert_eq!(
            effects(&app, invoice).await,
            after,
            "a replay changed something"
        );
    }

    // A signed body that is not an event is a clean 400, not a 5xx; so is one whose ids
    // could never be keys (a 5xx would make Stripe deliver it again and again).
    let long_event =
        json!({"id": format!("evt_{}", "x".repeat(3000)), "type": "payment_intent.succeeded",
        "data": {"object": {"id": "pi_2", "metadata": {"invoice_id": invoice}}}})
        .to_string();
    let long_intent = json!({"id": "evt_2", "type": "payment_intent.succeeded",
        "data": {"object": {"id": "pi".repeat(1000), "metadata": {"invoice_id": invoice}}}})
    .to_string();
    for junk in [
        &b"not json"[..],
        b"{}",
        b"[]",
        br#"{"id": 1}"#,
        b"\xff\xfe",
        long_event.as_bytes(),
        long_intent.as_bytes(),
    ] {
        let (status, response) = deliver(
            &app,
            Some(&signature(WEBHOOK_SECRET, NOW_EPOCH, junk)),
            junk,
        )
        .await;
        assert_eq!(status, 400, "{}: {response}", String::from_utf8_lossy(junk));
        assert_eq!(response["error"]["code"], "invalid_event");
    }
    // An invoice id no invoice can have is no invoice: the event is taken, nothing changes.
    let unknown = json!({"id": "evt_3", "type": "payment_intent.succeeded",
        "data": {"object": {"id": "pi_3", "metadata": {"invoice_id": "inv_".repeat(1000)}}}})
    .to_string();
    let (status, _) = deliver(
        &app,
        Some(&signature(WEBHOOK_SECRET, NOW_EPOCH, unknown.as_bytes())),
        unknown.as_bytes(),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(effects(&app, invoice).await, after);
}

// ---- bodies over the limit

/// The outcome of streaming a large body at the server.
#[derive(Debug)]
struct Streamed {
    status: u16,
    /// Body bytes the client had written when the response arrived.
    sent_when_answered: usize,
    answered_after: Duration,
    response: String,
}

/// Streams `total` bytes of body (a JSON array that never ends) to `path` over a raw socket,
/// 64 KiB every 20 ms (50 MB would take 16 s), with a Content-Length or chunked, while reading the response; stops
/// sending once it is answered.
async fn stream_body(
    app: &TestApp,
    path: &str,
    headers: &[(&str, &str)],
    chunked: bool,
    total: usize,
) -> Streamed {
    const CHUNK: usize = 64 * 1024;
    let address = app.address.trim_start_matches("http://").to_owned();
    let stream = tokio::net::TcpStream::connect(&address).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    let mut head =
        format!("POST {path} HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if chunked {
        head.push_str("Transfer-Encoding: chunked\r\n\r\n");
    } else {
        head.push_str(&format!("Content-Length: {total}\r\n\r\n"));
    }
    let sent = Arc::new(AtomicUsize::new(0));
    let answered = Arc::new(AtomicBool::new(false));
    let writer_task = {
        let (sent, answered) = (sent.clone(), answered.clone());
        tokio::spawn(async move {
            if writer.write_all(head.as_bytes()).await.is_err() {
                return;
            }
            let mut chunk = vec![b' '; CHUNK];
            chunk[0] = b'[';
            while sent.load(Ordering::SeqCst) < total && !answered.load(Ordering::SeqCst) {
                let n = CHUNK.min(total - sent.load(Ordering::SeqCst));
                let mut frame = Vec::with_capacity(n + 16);
                if chunked {
                    frame.extend_from_slice(format!("{n:x}\r\n").as_bytes());
                }
                frame.extend_from_slice(&chunk[..n]);
                if chunked {
                    frame.extend_from_slice(b"\r\n");
                }
                if writer.write_all(&frame).await.is_err() {
                    return;
                }
                sent.fetch_add(n, Ordering::SeqCst);
                chunk[0] = b' ';
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    let started = Instant::now();
    let mut response = Vec::new();
    let mut buffer = [0_u8; 4096];
    let head_end = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let n = reader.read(&mut buffer).await.unwrap_or(0);
            assert!(n > 0, "the connection closed without an answer");
            response.extend_from_slice(&buffer[..n]);
            if let Some(end) = response.windows(4).position(|w| w == b"\r\n\r\n") {
                return end + 4;
            }
        }
    })
    .await
    .expect("no answer within 20 s");
    let answered_after = started.elapsed();
    let sent_when_answered = sent.load(Ordering::SeqCst);
    answered.store(true, Ordering::SeqCst);
    let head = String::from_utf8_lossy(&response[..head_end]).into_owned();
    let status: u16 = head.split(' ').nth(1).unwrap().parse().unwrap();
    let length: usize = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())?
        })
        .unwrap_or(0);
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        while response.len() < head_end + length {
            match reader.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => response.extend_from_slice(&buffer[..n]),
            }
        }
    })
    .await;
    writer_task.abort();
    Streamed {
        status,
        sent_when_answered,
        answered_after,
        response: String::from_utf8_lossy(&response[head_end..]).into_owned(),
    }
}

#[tokio::test]
async fn bodies_over_the_limit_are_refused_before_they_are_read_whole() {
    let app = spawn_app_with(|config| {
        config.stripe_webhook_secret = Some(billing_api::Secret::new(WEBHOOK_SECRET));
    })
    .await;
    let limit = app.state.config.body_limit_bytes;
    let (_, usage) = app.create_token("usage", &["usage:write"]).await;
    let usage_auth = format!("Bearer {usage}");
    let admin_auth = format!("Bearer {ADMIN_TOKEN}");
    const TOTAL: usize = 50 * 1024 * 1024;
    // (route, headers, the status it must answer)
    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, u16);
    let cases: [Case; 5] = [
        (
            "/v1/usage",
            vec![("Authorization", usage_auth.as_str())],
            413,
        ),
        (
            "/v1/tokens",
            vec![("Authorization", admin_auth.as_str())],
            413,
        ),
        (
            "/v1/tokens",
            vec![
                ("Authorization", admin_auth.as_str()),
                ("Idempotency-Key", "big"),
            ],
            413,
        ),
        // Open, so the one anyone can reach: refused all the same.
        (
            "/v1/webhooks/stripe",
            vec![("Stripe-Signature", "t=1,v1=00")],
            413,
        ),
        // No token: refused before the body is looked at.
        ("/v1/usage", vec![], 401),
    ];
    for (path, headers, expected) in &cases {
        for chunked in [false, true] {
            let what = format!("{path} {headers:?} chunked={chunked}");
            let streamed = stream_body(&app, path, headers, chunked, TOTAL).await;
            assert_eq!(streamed.status, *expected, "{what}: {streamed:?}");
            eprintln!(
                "{what}: {} after {} bytes sent, {:?}",
                streamed.status, streamed.sent_when_answered, streamed.answered_after
            );
            assert!(
                streamed.sent_when_answered < TOTAL / 2,
                "{what}: answered only after {} bytes",
                streamed.sent_when_answered
            );
            assert!(
                streamed.answered_after < Duration::from_secs(8),
                "{what}: answered after {:?}",
                streamed.answered_after
            );
            let body: Value = serde_json::from_str(&streamed.response).unwrap_or_else(|_| {
                panic!("{what}: not the JSON envelope: {:?}", streamed.response)
            });
            if *expected == 413 {
                assert_eq!(body["error"]["code"], "body_too_large", "{what}");
                assert!(
                    body["error"]["message"]
                        .as_str()
                        .unwrap()
                        .contains(&limit.to_string()),
                    "{what}: {body}"
                );
            }
        }
    }
    // Just under the limit is read (and then judged on its content).
    let mut within = vec![b' '; limit - 2];
    within[0] = b'{';
    within[limit - 3] = b'}';
    let response = app
        .client
        .post(format!("{}/v1/usage", app.address))
        .bearer_auth(&usage)
        .header("content-type", "application/json")
        .body(within)
        .send()
        .await
        .unwrap();
    let response = read(response).await;
    assert_eq!(response.status, 400, "{:?}", response.body);
    assert_eq!(response.error().2.as_deref(), Some("events"));
}
