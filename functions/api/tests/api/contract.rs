//! The HTTP contract held for every operation of `/openapi.json`, read from the real router:
//! path and query values no store can key are a 400 naming them (on both stores); secrets are
//! shown once and never stored or logged; bodies are optional or refused where they should be.

use std::io::Write;
use std::sync::{Arc, Mutex};

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{
    ADMIN_TOKEN, Backend, TestApp, TestResponse, spawn_app, spawn_app_on_backend, spawn_app_with,
};

/// Every `(method, path template, operation)` of the document.
fn operations(document: &Value) -> Vec<(Method, String, Value)> {
    let mut operations = Vec::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for (name, method) in [
            ("get", Method::GET),
            ("post", Method::POST),
            ("put", Method::PUT),
            ("patch", Method::PATCH),
            ("delete", Method::DELETE),
        ] {
            if let Some(operation) = item.get(name) {
                operations.push((method, path.clone(), operation.clone()));
            }
        }
    }
    operations
}

/// `path` with `{name}` replaced by `value` and every other parameter by a harmless id.
fn fill(path: &str, name: &str, value: &str) -> String {
    path.split('/')
        .map(
            |segment| match segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(param) if param == name => value.to_owned(),
                Some(_) => "x_1".to_owned(),
                None => segment.to_owned(),
            },
        )
        .collect::<Vec<_>>()
        .join("/")
}

/// The values no parameter may have, percent-encoded as a client sends them, and whether the
/// answer must name the parameter (a non-ASCII id is fine as a value: it is just not found).
fn bad_values() -> Vec<(&'static str, String, bool)> {
    vec![
        ("oversized", "a".repeat(5_000), true),
        ("NUL", "a%00b".to_owned(), true),
        ("lone surrogate", "%ED%A0%80".to_owned(), true),
        // Fine as text (a filter finds nothing), refused by name as an id.
        ("non-ASCII", "%C3%A9t%C3%A9-%E6%BC%A2".to_owned(), false),
    ]
}

/// Query parameters that are text to search for, where a non-ASCII value is a fine query.
const FREE_TEXT: [(&str, &str); 1] = [("/v1/users", "name")];

async fn every_parameter_refuses_what_no_store_can_key(backend: Backend) {
    let Some(app) = spawn_app_on_backend(backend, "bad_params", |_| {}).await else {
        return;
    };
    let document = app.get("/openapi.json", ADMIN_TOKEN).await.body;
    let mut checked = 0;
    for (method, path, operation) in operations(&document) {
        let parameters = operation["parameters"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        for parameter in parameters {
            let name = parameter["name"].as_str().unwrap();
            let place = parameter["in"].as_str().unwrap();
            if place != "path" && place != "query" {
                continue;
            }
            for (what, value, named) in bad_values() {
                let url = if place == "path" {
                    fill(&path, name, &value)
                } else {
                    format!("{}?{name}={value}", fill(&path, "", ""))
                };
                let body = (method == Method::POST || method == Method::PATCH).then(|| json!({}));
                let response = app
                    .request(method.clone(), &url, Some(ADMIN_TOKEN), body.as_ref(), &[])
                    .await;
                let context = format!(
                    "{backend:?} {method} {path} {name} {what}: {:?}",
                    response.body
                );
                // A free-text search (`GET /v1/users?name=`) takes any UTF-8: "José" is a
                // name to look for, and a value no stored name starts with finds nothing.
                if what == "non-ASCII" && FREE_TEXT.contains(&(path.as_str(), name)) {
                    assert_eq!(response.status, 200, "{context}");
                    assert_eq!(response.body["data"], json!([]), "{context}");
                    checked += 1;
                    continue;
                }
                assert!(
                    (400..500).contains(&response.status),
                    "{} {context}",
                    response.status
                );
                assert!(response.body["error"]["code"].is_string(), "{context}");
                if named {
                    assert_eq!(response.status, 400, "{context}");
                    assert_eq!(response.error().2.as_deref(), Some(name), "{context}");
                }
                checked += 1;
            }
        }
    }
    // The document really has parameters of both kinds (ids, filters, limit, cursor).
    assert!(checked > 100, "only {checked} requests were checked");
}

#[tokio::test]
async fn every_parameter_refuses_what_no_store_can_key_on_embedded() {
    every_parameter_refuses_what_no_store_can_key(Backend::Embedded).await;
}

#[tokio::test]
async fn every_parameter_refuses_what_no_store_can_key_on_dynamodb() {
    every_parameter_refuses_what_no_store_can_key(Backend::DynamoDb).await;
}

#[tokio::test]
async fn every_path_and_query_parameter_documents_its_bounds() {
    let app = spawn_app().await;
    let document = app.get("/openapi.json", ADMIN_TOKEN).await.body;
    for (method, path, operation) in operations(&document) {
        for parameter in operation["parameters"]
            .as_array()
            .cloned()
            .unwrap_or_default()
        {
            let schema = &parameter["schema"];
            let is_string = schema["type"] == "string"
                || schema["type"]
                    .as_array()
                    .is_some_and(|t| t.contains(&json!("string")));
            if !is_string || parameter["in"] == "header" {
                continue;
            }
            let context = format!("{method} {path} {parameter}");
            let max = if parameter["name"] == "cursor" {
                2048
            } else {
                255
            };
            assert_eq!(schema["maxLength"], max, "{context}");
            let min = if parameter["name"] == "cursor" { 2 } else { 1 };
            assert_eq!(schema["minLength"], min, "{context}");
            assert!(
                schema["pattern"].is_string() || schema["enum"].is_array(),
                "{context}"
            );
        }
        for parameter in operation["parameters"]
            .as_array()
            .cloned()
            .unwrap_or_default()
        {
            if parameter["name"] == "limit" {
                let schema = &parameter["schema"];
                let bounds = (&schema["type"], &schema["minimum"], &schema["maximum"]);
                assert_eq!(
                    bounds,
                    (&json!("integer"), &json!(1), &json!(100)),
                    "{path}"
                );
            }
        }
        for status in ["400", "503"] {
            let documented = operation["responses"][status].is_object();
            assert!(documented, "{method} {path}: no {status}");
        }
    }
}

// ---- secrets

/// Everything logged while it is alive, at every level, in this (current-thread) test.
#[derive(Clone, Default)]
struct CapturedLogs(Arc<Mutex<Vec<u8>>>);

impl Write for CapturedLogs {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl CapturedLogs {
    fn start() -> (Self, tracing::subscriber::DefaultGuard) {
        let logs = Self::default();
        let writer = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(move || writer.clone())
            .finish();
        let guard = tracing::subscriber::set_default(subscriber);
        (logs, guard)
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

const WEBHOOK_SECRET: &str = "whsec_contract_test_webhook_secret_9f2c";

async fn secrets_are_shown_once_never_stored_nor_logged(backend: Backend) {
    let (logs, _guard) = CapturedLogs::start();
    let Some(app) = spawn_app_on_backend(backend, "secrets", |config| {
        config.stripe_webhook_secret = Some(billing_api::Secret::new(WEBHOOK_SECRET));
    })
    .await
    else {
        return;
    };
    let plain = app
        .post(
            "/v1/tokens",
            ADMIN_TOKEN,
            &json!({"name": "no-key-token", "scopes": ["read"]}),
        )
        .await;
    assert_eq!(plain.status, 201, "{:?}", plain.body);
    let body = json!({"name": "keyed-token", "scopes": ["read"]});
    let first = app
        .post_with_key("/v1/tokens", ADMIN_TOKEN, "token-key-1", &body)
        .await;
    assert_eq!(first.status, 201, "{:?}", first.body);
    let secrets = [
        plain.body["token"].as_str().unwrap().to_owned(),
        first.body["token"].as_str().unwrap().to_owned(),
    ];
    // A replay is the same token, without its secret.
    let replay = app
        .post_with_key("/v1/tokens", ADMIN_TOKEN, "token-key-1", &body)
        .await;
    assert_eq!(replay.status, 201);
    assert_eq!(replay.header("idempotent-replayed"), Some("true"));
    assert_eq!(replay.body["id"], first.body["id"]);
    assert_eq!(replay.body["name"], "keyed-token");
    assert!(replay.body.get("token").is_none(), "{:?}", replay.body);
    // The secrets work, and errors along the way (a 401, a 500, a bad signature) happen.
    assert_eq!(app.get("/v1/plans", &secrets[0]).await.status, 200);
    assert_eq!(app.get("/v1/plans", "sk_wrong").await.status, 401);
    let failed = app
        .post_with_key("/v1/test-only/fail-once", ADMIN_TOKEN, "f", &json!({}))
        .await;
    assert_eq!(failed.status, 500);
    let webhook = app
        .request(
            Method::POST,
            "/v1/webhooks/stripe",
            None,
            Some(&json!({"id": "evt_1"})),
            &[("stripe-signature", "t=1,v1=00")],
        )
        .await;
    assert_eq!(webhook.status, 400);

    let stored = app.stored_text().await;
    assert!(
        stored.contains("keyed-token"),
        "the store was not read: {backend:?}"
    );
    assert!(stored.contains("no-key-token"));
    let logged = logs.text();
    assert!(
        logged.contains("/v1/tokens") || logged.contains("request"),
        "no logs captured"
    );
    let bodies = [
        &plain.body,
        &first.body,
        &replay.body,
        &failed.body,
        &webhook.body,
    ]
    .map(Value::to_string)
    .join("\n");
    for secret in &secrets {
        assert!(
            !stored.contains(secret.as_str()),
            "{backend:?}: a token secret is stored"
        );
        assert!(
            !logged.contains(secret.as_str()),
            "{backend:?}: a token secret is logged"
        );
    }
    for (what, secret) in [
        ("admin token", ADMIN_TOKEN),
        ("webhook secret", WEBHOOK_SECRET),
    ] {
        assert!(
            !stored.contains(secret),
            "{backend:?}: the {what} is stored"
        );
        assert!(
            !logged.contains(secret),
            "{backend:?}: the {what} is logged"
        );
        assert!(
            !bodies.contains(secret),
            "{backend:?}: the {what} is in a response"
        );
    }
}

#[tokio::test]
async fn secrets_are_shown_once_never_stored_nor_logged_on_embedded() {
    secrets_are_shown_once_never_stored_nor_logged(Backend::Embedded).await;
}

#[tokio::test]
async fn secrets_are_shown_once_never_stored_nor_logged_on_dynamodb() {
    secrets_are_shown_once_never_stored_nor_logged(Backend::DynamoDb).await;
}

#[tokio::test]
async fn the_token_operation_says_a_replay_has_no_secret() {
    let app = spawn_app().await;
    let document = app.get("/openapi.json", ADMIN_TOKEN).await.body;
    let operation = &document["paths"]["/v1/tokens"]["post"];
    let text = operation.to_string();
    assert!(text.contains("without `token`"), "{text}");
    let schema = &document["components"]["schemas"]["CreatedTokenView"];
    let required = schema["required"].as_array().unwrap();
    assert!(!required.contains(&json!("token")), "{schema}");
}

// ---- bodies

async fn subscribed(app: &TestApp) -> String {
    let plan = json!({"code": "basic", "name": "Basic", "amount_cents": 1000, "interval": "month"});
    assert_eq!(app.post("/v1/plans", ADMIN_TOKEN, &plan).await.status, 201);
    let user = app
        .post(
            "/v1/users",
            ADMIN_TOKEN,
            &json!({"email": "body@example.com", "payment_method": "pm_card_ok"}),
        )
        .await;
    let user_id = user.body["id"].as_str().unwrap();
    let subscription = app
        .post(
            "/v1/subscriptions",
            ADMIN_TOKEN,
            &json!({"user_id": user_id, "plan_code": "basic"}),
        )
        .await;
    assert_eq!(subscription.status, 201, "{:?}", subscription.body);
    subscription.body["id"].as_str().unwrap().to_owned()
}

/// A POST with `body` (raw) and `content_type`, if any.
async fn post_raw(
    app: &TestApp,
    path: &str,
    content_type: Option<&str>,
    body: &str,
) -> TestResponse {
    let mut request = app
        .client
        .post(format!("{}{path}", app.address))
        .bearer_auth(ADMIN_TOKEN)
        .body(body.to_owned());
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    crate::helpers::read(request.send().await.unwrap()).await
}

#[tokio::test]
async fn cancel_without_a_body_cancels_at_period_end() {
    for content_type in [None, Some("application/json")] {
        let app = spawn_app().await;
        let id = subscribed(&app).await;
        let response = post_raw(
            &app,
            &format!("/v1/subscriptions/{id}/cancel"),
            content_type,
            "",
        )
        .await;
        assert_eq!(
            response.status, 200,
            "{content_type:?}: {:?}",
            response.body
        );
        let subscription = &response.body["subscription"];
        assert_eq!(
            subscription["cancel_at_period_end"], true,
            "{content_type:?}"
        );
        assert_eq!(subscription["status"], "active");
    }
    let app = spawn_app().await;
    let id = subscribed(&app).await;
    let empty = app
        .post(
            &format!("/v1/subscriptions/{id}/cancel"),
            ADMIN_TOKEN,
            &json!({}),
        )
        .await;
    assert_eq!(empty.body["subscription"]["cancel_at_period_end"], true);
    let wrong = app
        .post(
            &format!("/v1/subscriptions/{id}/cancel"),
            ADMIN_TOKEN,
            &json!({"at_period_end": true, "when": 1}),
        )
        .await;
    assert_eq!(
        (wrong.status, wrong.error().2.as_deref()),
        (400, Some("when"))
    );
}

#[tokio::test]
async fn every_optional_body_may_be_absent_and_the_document_says_which() {
    let app = spawn_app().await;
    let document = app.get("/openapi.json", ADMIN_TOKEN).await.body;
    let cancel = &document["paths"]["/v1/subscriptions/{id}/cancel"]["post"]["requestBody"];
    assert_eq!(cancel["required"], json!(false), "{cancel}");
    // An operation with a required body must get one: a request without is a 4xx, never a 5xx.
    for (method, path, operation) in operations(&document) {
        if method != Method::POST || path.contains("test-only") {
            continue;
        }
        let body = &operation["requestBody"];
        assert!(body.is_object(), "POST {path} documents no body");
        let response = post_raw(&app, &fill(&path, "", ""), None, "").await;
        let context = format!("POST {path}: {} {:?}", response.status, response.body);
        assert!(response.status < 500, "{context}");
        if body["required"] != json!(true) {
            // Optional: no body is no input, whatever the Content-Type says (there is none).
            assert_ne!(response.status, 415, "{context}");
            assert_ne!(response.error().1, "invalid_json", "{context}");
        }
    }
}

#[tokio::test]
async fn actions_without_a_body_refuse_fields_by_name() {
    let app = spawn_app_with(|config| {
        config.stripe_webhook_secret = Some(billing_api::Secret::new(WEBHOOK_SECRET));
    })
    .await;
    let id = subscribed(&app).await;
    let invoices = app.get("/v1/invoices", ADMIN_TOKEN).await;
    let invoice = invoices.body["data"][0]["id"].as_str().unwrap().to_owned();
    let actions = [
        format!("/v1/invoices/{invoice}/pay"),
        format!("/v1/invoices/{invoice}/void"),
        "/v1/plans/basic/archive".to_owned(),
        "/v1/invoice-runs".to_owned(),
        "/v1/payment-runs".to_owned(),
    ];
    for path in &actions {
        let refused = app.post(path, ADMIN_TOKEN, &json!({"force": true})).await;
        assert_eq!(refused.status, 400, "{path}: {:?}", refused.body);
        assert_eq!(
            refused.error(),
            (
                "invalid_request".into(),
                "unknown_field".into(),
                Some("force".into())
            ),
            "{path}"
        );
        let not_json = post_raw(&app, path, Some("text/plain"), "force").await;
        assert_eq!(not_json.status, 415, "{path}");
    }
    // Nothing was done by the refused requests: the invoice is still open.
    let open = app
        .get(&format!("/v1/invoices/{invoice}"), ADMIN_TOKEN)
        .await;
    assert_eq!(open.body["status"], "open", "{:?}", open.body);
    // `{}` and no body at all are fine.
    assert_eq!(
        app.post("/v1/invoice-runs", ADMIN_TOKEN, &json!({}))
            .await
            .status,
        200
    );
    assert_eq!(
        post_raw(&app, "/v1/payment-runs", None, "").await.status,
        200
    );
    let paid = app
        .get(&format!("/v1/invoices/{invoice}"), ADMIN_TOKEN)
        .await;
    assert_eq!(paid.body["status"], "paid", "{:?}", paid.body);
    let void = app
        .post(
            &format!("/v1/invoices/{invoice}/void"),
            ADMIN_TOKEN,
            &json!({}),
        )
        .await;
    assert_eq!(
        void.status, 409,
        "a paid invoice cannot be voided: {:?}",
        void.body
    );
    let archived = post_raw(
        &app,
        "/v1/plans/basic/archive",
        Some("application/json"),
        "",
    )
    .await;
    assert_eq!(archived.status, 200, "{:?}", archived.body);
    let _ = id;
}

#[tokio::test]
async fn no_internal_field_is_on_the_wire() {
    let app = spawn_app().await;
    let id = subscribed(&app).await;
    let document = app.get("/openapi.json", ADMIN_TOKEN).await.body;
    let internal = ["billing_anchor", "anchor_offset_months"];
    let schemas = document["components"]["schemas"].to_string();
    let responses = [
        app.get(&format!("/v1/subscriptions/{id}"), ADMIN_TOKEN)
            .await
            .body,
        app.get("/v1/subscriptions", ADMIN_TOKEN).await.body,
        app.post(
            &format!("/v1/subscriptions/{id}/cancel"),
            ADMIN_TOKEN,
            &json!({}),
        )
        .await
        .body,
    ];
    assert_eq!(responses[0]["id"], id.as_str());
    for field in internal {
        assert!(!schemas.contains(field), "{field} is documented");
        for body in &responses {
            assert!(!body.to_string().contains(field), "{field} in {body}");
        }
    }
}

#[tokio::test]
async fn a_body_is_a_json_object_and_a_key_is_printable_ascii() {
    let app = spawn_app().await;
    let user = app.user_id.clone();
    let array = app
        .request(
            Method::PATCH,
            &format!("/v1/users/{user}"),
            Some(ADMIN_TOKEN),
            Some(&json!([null, null])),
            &[],
        )
        .await;
    assert_eq!(
        (array.status, array.error().1.as_str()),
        (400, "invalid_body"),
        "{:?}",
        array.body
    );
    let tab = app
        .request(
            Method::POST,
            "/v1/payment-runs",
            Some(ADMIN_TOKEN),
            None,
            &[("Idempotency-Key", "a\tb")],
        )
        .await;
    assert_eq!(tab.status, 400, "{:?}", tab.body);
    assert_eq!(tab.error().2.as_deref(), Some("Idempotency-Key"));
}
