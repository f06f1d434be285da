use reqwest::Method;
use serde_json::json;

use std::sync::Arc;

use crate::helpers::{ADMIN_TOKEN, UnreachableTable, spawn_app, spawn_app_on, spawn_app_with};

#[tokio::test]
async fn health_reports_the_store() {
    let app = spawn_app().await;
    let response = app.request(Method::GET, "/healthz", None, None, &[]).await;
    assert_eq!(response.status, 200);
    assert_eq!(
        response.body,
        json!({"status": "ok", "checks": {"store": "ok"}})
    );
    assert!(response.header("x-request-id").is_some());
}

#[tokio::test]
async fn health_is_503_when_the_store_is_unreachable() {
    let app = spawn_app_on(Arc::new(UnreachableTable)).await;
    let response = app.request(Method::GET, "/healthz", None, None, &[]).await;
    assert_eq!(response.status, 503);
    assert_eq!(response.body["checks"]["store"], "unavailable");
}

#[tokio::test]
async fn an_unreachable_store_is_a_503_without_detail() {
    let app = spawn_app_on(Arc::new(UnreachableTable)).await;
    // Looking the token up already needs the store.
    let response = app.get("/v1/audit", "sk_some_api_token").await;
    assert_eq!(response.status, 503);
    assert_eq!(response.error().1, "store_unavailable");
    assert!(!response.body.to_string().contains("connection refused"));
}

#[tokio::test]
async fn a_panicking_handler_answers_500_in_the_envelope() {
    let app = spawn_app().await;
    let response = app.get("/v1/test-only/panic", ADMIN_TOKEN).await;
    assert_eq!(response.status, 500);
    assert_eq!(response.error().0, "internal");
    assert!(!response.body.to_string().contains("secret detail"));
}

#[tokio::test]
async fn an_optional_body_may_be_absent_but_not_wrong() {
    let app = spawn_app().await;
    let absent = app
        .request(
            Method::POST,
            "/v1/test-only/optional",
            Some(ADMIN_TOKEN),
            None,
            &[],
        )
        .await;
    assert_eq!((absent.status, &absent.body), (200, &json!({"flag": true})));
    let given = app
        .post(
            "/v1/test-only/optional",
            ADMIN_TOKEN,
            &json!({"flag": false}),
        )
        .await;
    assert_eq!(given.body, json!({"flag": false}));
    let wrong = app
        .post("/v1/test-only/optional", ADMIN_TOKEN, &json!({"flag": 1}))
        .await;
    assert_eq!(wrong.status, 400);
    assert_eq!(wrong.error().2.as_deref(), Some("flag"));
}

/// Every route this crate serves, by method and template.
const ROUTES: [(&str, &str); 8] = [
    ("get", "/healthz"),
    ("get", "/openapi.json"),
    ("post", "/v1/tokens"),
    ("get", "/v1/tokens"),
    ("delete", "/v1/tokens/{id}"),
    ("get", "/v1/audit"),
    ("get", "/v1/test-clock"),
    ("post", "/v1/test-clock"),
];

#[tokio::test]
async fn the_openapi_document_lists_every_route() {
    let app = spawn_app().await;
    let response = app
        .request(Method::GET, "/openapi.json", None, None, &[])
        .await;
    assert_eq!(response.status, 200);
    let document = response.body;
    assert!(document["openapi"].as_str().unwrap().starts_with("3.1"));
    for (method, path) in ROUTES {
        assert!(
            document["paths"][path][method].is_object(),
            "{method} {path} is not documented"
        );
    }
    // The conventions are documented on every operation, from the rules the server applies.
    let create_token = &document["paths"]["/v1/tokens"]["post"];
    assert_eq!(create_token["security"], json!([{"bearer": ["admin"]}]));
    for status in ["401", "403", "409", "413", "415", "422"] {
        assert!(create_token["responses"][status].is_object(), "{status}");
    }
    assert!(
        create_token["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "Idempotency-Key" && p["in"] == "header")
    );
    assert_eq!(
        document["paths"]["/v1/audit"]["get"]["security"],
        json!([{"bearer": ["read"]}])
    );
    assert!(document["paths"]["/v1/usage"]["post"]["responses"]["429"].is_object());
    let health = &document["paths"]["/healthz"]["get"];
    assert_eq!(health["security"], json!([{}]));
    assert!(health["responses"]["401"].is_null());
    // And every documented operation is served: none falls through to the 404 fallback.
    for (path, item) in document["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let concrete = path.replace("{id}", "x");
            let response = app
                .request(
                    method.clone(),
                    &concrete,
                    Some(ADMIN_TOKEN),
                    Some(&json!({})),
                    &[],
                )
                .await;
            assert_ne!(
                response.error().1,
                "route_not_found",
                "{method} {path} is documented but not served"
            );
        }
    }
}

#[tokio::test]
async fn a_disabled_test_clock_is_not_documented() {
    let app = spawn_app_with(|config| config.test_clock_enabled = false).await;
    let document = app
        .request(Method::GET, "/openapi.json", None, None, &[])
        .await
        .body;
    assert!(document["paths"]["/v1/test-clock"].is_null());
    assert!(document["paths"]["/v1/tokens"].is_object());
}
