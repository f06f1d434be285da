use chrono::{DateTime, Duration, Utc};
use reqwest::Method;
use serde_json::json;

use crate::helpers::{ADMIN_TOKEN, spawn_app, spawn_app_with};

fn instant(value: &serde_json::Value) -> DateTime<Utc> {
    value.as_str().unwrap().parse().unwrap()
}

#[tokio::test]
async fn the_test_clock_moves_forward_and_refuses_to_go_back() {
    let app = spawn_app().await;
    let start = instant(&app.get("/v1/test-clock", ADMIN_TOKEN).await.body["now"]);
    let later = start + Duration::days(31);
    let moved = app
        .post(
            "/v1/test-clock",
            ADMIN_TOKEN,
            &json!({"now": later.to_rfc3339()}),
        )
        .await;
    assert_eq!(moved.status, 200, "{:?}", moved.body);
    assert_eq!(instant(&moved.body["now"]), later);
    assert_eq!(
        instant(&app.get("/v1/test-clock", ADMIN_TOKEN).await.body["now"]),
        later
    );
    let back = app
        .post(
            "/v1/test-clock",
            ADMIN_TOKEN,
            &json!({"now": start.to_rfc3339()}),
        )
        .await;
    assert_eq!(back.status, 409);
    assert_eq!(back.error().0, "conflict");
    assert_eq!(back.error().1, "clock_moved_backwards");
}

#[tokio::test]
async fn a_test_clock_value_that_is_not_rfc_3339_is_400() {
    let app = spawn_app().await;
    let response = app
        .post("/v1/test-clock", ADMIN_TOKEN, &json!({"now": "tomorrow"}))
        .await;
    assert_eq!(response.status, 400);
    assert_eq!(response.error().2.as_deref(), Some("now"));
}

#[tokio::test]
async fn a_disabled_test_clock_is_404() {
    let app = spawn_app_with(|config| config.test_clock_enabled = false).await;
    for method in [Method::GET, Method::POST] {
        let response = app
            .request(
                method,
                "/v1/test-clock",
                Some(ADMIN_TOKEN),
                Some(&json!({"now": "2030-01-01T00:00:00Z"})),
                &[],
            )
            .await;
        assert_eq!(response.status, 404);
        assert_eq!(response.error().0, "not_found");
    }
}
