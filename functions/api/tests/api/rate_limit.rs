use crate::helpers::spawn_app_with;

#[tokio::test]
async fn usage_over_the_rate_is_429_with_retry_after_per_token() {
    let app = spawn_app_with(|config| config.usage_rate_limit_per_second = 1).await;
    let (_, usage) = app.create_token("producer", &["usage:write"]).await;
    let (_, other) = app.create_token("other producer", &["usage:write"]).await;
    let body = app.usage_body();
    // Burst = 2 × the rate.
    for _ in 0..2 {
        assert_eq!(app.post("/v1/usage", &usage, &body).await.status, 202);
    }
    let limited = app.post("/v1/usage", &usage, &body).await;
    assert_eq!(limited.status, 429);
    assert_eq!(limited.error().0, "rate_limited");
    let retry_after: u64 = limited.header("retry-after").unwrap().parse().unwrap();
    assert!(retry_after >= 1);
    // Another token has its own allowance; other routes are not limited.
    assert_eq!(app.post("/v1/usage", &other, &body).await.status, 202);
    assert_eq!(
        app.get("/v1/tokens", crate::helpers::ADMIN_TOKEN)
            .await
            .status,
        200
    );
}
