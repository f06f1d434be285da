use reqwest::Method;
use serde_json::json;

use crate::helpers::{ADMIN_TOKEN, spawn_app, spawn_app_with};

#[tokio::test]
async fn errors_come_in_the_envelope() {
    let app = spawn_app().await;
    let response = app.get("/v1/nothing-here", ADMIN_TOKEN).await;
    assert_eq!(response.status, 404);
    assert_eq!(response.header("content-type"), Some("application/json"));
    let error = response.body["error"].as_object().unwrap();
    let mut keys: Vec<_> = error.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["code", "message", "param", "type"]);
    assert_eq!(response.error().0, "not_found");
    assert!(response.body["error"]["param"].is_null());
}

#[tokio::test]
async fn an_unknown_field_is_a_400_naming_it() {
    let app = spawn_app().await;
    let response = app
        .post(
            "/v1/tokens",
            ADMIN_TOKEN,
            &json!({"name": "x", "scopes": ["read"], "colour": "red"}),
        )
        .await;
    assert_eq!(response.status, 400);
    assert_eq!(
        response.error(),
        (
            "invalid_request".into(),
            "unknown_field".into(),
            Some("colour".into())
        )
    );
}

#[tokio::test]
async fn nested_fields_are_named_by_their_path() {
    let app = spawn_app().await;
    let body = json!({"events": [
        {"id": "a", "user_id": "u", "metric": "m", "quantity": 1},
        {"id": "b", "user_id": "u", "metric": "m", "quantity": "lots"},
    ]});
    let response = app.post("/v1/usage", ADMIN_TOKEN, &body).await;
    assert_eq!(response.status, 400);
    assert_eq!(response.error().2.as_deref(), Some("events[1].quantity"));
    let missing = app
        .post("/v1/usage", ADMIN_TOKEN, &json!({"events": [{"id": "a"}]}))
        .await;
    assert_eq!(missing.error().1, "missing_field");
    assert_eq!(missing.error().2.as_deref(), Some("events[0].user_id"));
}

#[tokio::test]
async fn a_body_that_is_not_declared_json_is_415() {
    let app = spawn_app().await;
    let response = app
        .client
        .post(format!("{}/v1/tokens", app.address))
        .bearer_auth(ADMIN_TOKEN)
        .header("content-type", "text/plain")
        .body(r#"{"name": "x", "scopes": ["read"]}"#)
        .send()
        .await
        .unwrap();
    let response = crate::helpers::read(response).await;
    assert_eq!(response.status, 415);
    assert_eq!(response.error().1, "unsupported_media_type");
}

#[tokio::test]
async fn malformed_json_is_a_400() {
    let app = spawn_app().await;
    let response = app
        .client
        .post(format!("{}/v1/tokens", app.address))
        .bearer_auth(ADMIN_TOKEN)
        .header("content-type", "application/json")
        .body(r#"{"name": "x","#)
        .send()
        .await
        .unwrap();
    let response = crate::helpers::read(response).await;
    assert_eq!(response.status, 400);
    assert_eq!(response.error().1, "invalid_json");
}

#[tokio::test]
async fn bodies_over_the_limit_are_413_with_or_without_an_idempotency_key() {
    let app = spawn_app_with(|config| config.body_limit_bytes = 1024).await;
    let body = json!({"name": "x".repeat(2000), "scopes": ["read"]});
    let plain = app.post("/v1/tokens", ADMIN_TOKEN, &body).await;
    assert_eq!(plain.status, 413);
    assert_eq!(plain.error().1, "body_too_large");
    let keyed = app
        .post_with_key("/v1/tokens", ADMIN_TOKEN, "big-1", &body)
        .await;
    assert_eq!(keyed.status, 413);
}

#[tokio::test]
async fn invoices_cannot_be_patched_put_or_deleted() {
    let app = spawn_app().await;
    for method in [Method::PATCH, Method::PUT, Method::DELETE] {
        let response = app
            .request(
                method.clone(),
                "/v1/invoices/inv_1",
                Some(ADMIN_TOKEN),
                Some(&json!({})),
                &[],
            )
            .await;
        assert_eq!(response.status, 405, "{method}");
        assert_eq!(response.error().1, "method_not_allowed");
        // Like any method a path lacks: `Allow` says what it has, and the document lists only
        // those (an invoice has no PATCH, PUT or DELETE operation).
        assert_eq!(response.header("allow"), Some("GET,HEAD"), "{method}");
    }
    let document = app.get("/openapi.json", ADMIN_TOKEN).await.body;
    let item = document["paths"]["/v1/invoices/{id}"].as_object().unwrap();
    assert_eq!(item.keys().collect::<Vec<_>>(), ["get"]);
}

#[tokio::test]
async fn a_method_a_route_does_not_have_is_405_in_the_envelope() {
    let app = spawn_app().await;
    let response = app
        .request(Method::PUT, "/v1/tokens", Some(ADMIN_TOKEN), None, &[])
        .await;
    assert_eq!(response.status, 405);
    assert_eq!(response.error().0, "invalid_request");
}
