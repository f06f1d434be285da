use reqwest::Method;
use serde_json::json;

use std::time::Duration;

use billing_app::Actor;

use crate::helpers::{ADMIN_TOKEN, spawn_app, spawn_app_with_token_ttl};

#[tokio::test]
async fn requests_without_a_token_are_refused_with_401() {
    let app = spawn_app().await;
    for (method, path) in [
        (Method::GET, "/v1/audit"),
        (Method::GET, "/v1/tokens"),
        (Method::POST, "/v1/tokens"),
        (Method::POST, "/v1/usage"),
    ] {
        let response = app
            .request(method.clone(), path, None, Some(&json!({})), &[])
            .await;
        assert_eq!(response.status, 401, "{method} {path}");
        assert_eq!(response.error().0, "authentication");
        assert_eq!(response.header("www-authenticate"), Some("Bearer"));
    }
}

#[tokio::test]
async fn an_unknown_token_is_refused_with_401() {
    let app = spawn_app().await;
    let response = app.get("/v1/audit", "sk_not_a_token").await;
    assert_eq!(response.status, 401);
    assert_eq!(response.error().1, "invalid_token");
}

#[tokio::test]
async fn each_scope_reaches_exactly_its_routes() {
    let app = spawn_app().await;
    let (_, admin) = app.create_token("admin", &["admin"]).await;
    let (_, read) = app.create_token("read", &["read"]).await;
    let (_, usage) = app.create_token("usage", &["usage:write"]).await;
    let usage_body = app.usage_body();
    let token_body = json!({"name": "n", "scopes": ["read"]});
    // (method, path, body, expected status for admin, read, usage:write)
    let matrix = [
        (Method::GET, "/v1/audit", None, [200, 200, 403]),
        (Method::GET, "/v1/tokens", None, [200, 403, 403]),
        (Method::GET, "/v1/test-clock", None, [200, 403, 403]),
        (
            Method::POST,
            "/v1/tokens",
            Some(&token_body),
            [201, 403, 403],
        ),
        (
            Method::POST,
            "/v1/usage",
            Some(&usage_body),
            [202, 403, 202],
        ),
        (
            Method::DELETE,
            "/v1/tokens/tok_unknown",
            None,
            [404, 403, 403],
        ),
    ];
    for (method, path, body, expected) in matrix {
        for (token, status) in [&admin, &read, &usage].into_iter().zip(expected) {
            let response = app
                .request(method.clone(), path, Some(token), body, &[])
                .await;
            assert_eq!(
                response.status, status,
                "{method} {path}: {:?}",
                response.body
            );
            if status == 403 {
                assert_eq!(response.error().0, "permission");
                assert_eq!(response.error().1, "insufficient_scope");
            }
        }
    }
}

#[tokio::test]
async fn open_routes_need_no_token() {
    let app = spawn_app().await;
    for path in ["/healthz", "/openapi.json"] {
        let response = app.request(Method::GET, path, None, None, &[]).await;
        assert_eq!(response.status, 200, "{path}");
    }
}

#[tokio::test]
async fn a_revoked_token_is_refused_at_once() {
    let app = spawn_app().await;
    let (id, secret) = app.create_token("soon gone", &["read"]).await;
    // Authenticated once, so it sits in the cache.
    assert_eq!(app.get("/v1/audit", &secret).await.status, 200);
    let revoked = app.delete(&format!("/v1/tokens/{id}"), ADMIN_TOKEN).await;
    assert_eq!(revoked.status, 200);
    assert!(revoked.body["revoked_at"].is_string());
    let refused = app.get("/v1/audit", &secret).await;
    assert_eq!(refused.status, 401);
    // Revoking again changes nothing.
    let again = app.delete(&format!("/v1/tokens/{id}"), ADMIN_TOKEN).await;
    assert_eq!(again.status, 200);
    assert_eq!(again.body["revoked_at"], revoked.body["revoked_at"]);
}

#[tokio::test]
async fn revoking_an_unknown_token_is_404() {
    let app = spawn_app().await;
    let response = app.delete("/v1/tokens/tok_nope", ADMIN_TOKEN).await;
    assert_eq!(response.status, 404);
    assert_eq!(response.error().0, "not_found");
}

#[tokio::test]
async fn a_new_token_shows_its_secret_once_and_is_audited() {
    let app = spawn_app().await;
    let (id, secret) = app.create_token("ci", &["read", "usage:write"]).await;
    assert!(secret.starts_with("sk_"));
    let listed = app.get("/v1/tokens", ADMIN_TOKEN).await;
    let listed_token = &listed.body["data"][0];
    assert_eq!(listed_token["id"], id.as_str());
    assert_eq!(listed_token["scopes"], json!(["read", "usage:write"]));
    assert!(listed_token.get("token").is_none());
    assert!(!listed.body.to_string().contains(&secret));

    let audit = app.get("/v1/audit?action=token.created", ADMIN_TOKEN).await;
    assert_eq!(audit.status, 200);
    let entry = &audit.body["data"][0];
    assert_eq!(entry["entity_id"], id.as_str());
    assert_eq!(entry["actor"], "token:bootstrap");
    assert!(!audit.body.to_string().contains(&secret));
    let by_entity = app
        .get(&format!("/v1/audit?entity_id={id}"), ADMIN_TOKEN)
        .await;
    assert_eq!(by_entity.body["data"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn token_requests_are_validated_field_by_field() {
    let app = spawn_app().await;
    let response = app
        .post(
            "/v1/tokens",
            ADMIN_TOKEN,
            &json!({"name": "x", "scopes": ["read", "write"]}),
        )
        .await;
    assert_eq!(response.status, 400);
    assert_eq!(
        response.error(),
        (
            "invalid_request".into(),
            "unknown_scope".into(),
            Some("scopes[1]".into())
        )
    );
    let unknown_action = app
        .get("/v1/audit?action=token.exploded", ADMIN_TOKEN)
        .await;
    assert_eq!(unknown_action.status, 400);
    assert_eq!(unknown_action.error().2.as_deref(), Some("action"));
}

#[tokio::test]
async fn a_token_revoked_elsewhere_is_refused_once_its_cache_entry_expires() {
    let app = spawn_app_with_token_ttl(Duration::from_millis(300)).await;
    let (id, secret) = app.create_token("revoked elsewhere", &["read"]).await;
    assert_eq!(app.get("/v1/audit", &secret).await.status, 200);
    // Another instance revokes it: this process's cache is not told.
    billing_app::tokens::revoke(&app.state.app, &Actor::system("test"), &id)
        .await
        .unwrap();
    assert_eq!(app.get("/v1/audit", &secret).await.status, 200);
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(app.get("/v1/audit", &secret).await.status, 401);
}
