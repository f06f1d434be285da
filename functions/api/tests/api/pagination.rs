use std::collections::BTreeSet;

use crate::helpers::{ADMIN_TOKEN, spawn_app};

#[tokio::test]
async fn paging_through_25_tokens_returns_each_once() {
    let app = spawn_app().await;
    let mut created = BTreeSet::new();
    for n in 0..25 {
        created.insert(app.create_token(&format!("t{n}"), &["read"]).await.0);
    }
    let first_default = app.get("/v1/tokens", ADMIN_TOKEN).await;
    assert_eq!(first_default.body["data"].as_array().unwrap().len(), 20);

    let mut seen = BTreeSet::new();
    let mut sizes = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            None => "/v1/tokens?limit=10".to_owned(),
            Some(c) => format!("/v1/tokens?limit=10&cursor={c}"),
        };
        let page = app.get(&path, ADMIN_TOKEN).await;
        assert_eq!(page.status, 200, "{:?}", page.body);
        let data = page.body["data"].as_array().unwrap();
        sizes.push(data.len());
        for token in data {
            assert!(seen.insert(token["id"].as_str().unwrap().to_owned()));
        }
        match page.body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => {
                // Present and null on the last page (a missing key would index as null too).
                assert_eq!(page.body.get("next_cursor"), Some(&serde_json::Value::Null));
                break;
            }
        }
        assert!(sizes.len() < 10, "the pages never end");
    }
    assert_eq!(seen, created);
    assert_eq!(&sizes[..3], &[10, 10, 5]);
}

#[tokio::test]
async fn limits_outside_1_to_100_and_foreign_cursors_are_400() {
    let app = spawn_app().await;
    for path in [
        "/v1/tokens?limit=0",
        "/v1/tokens?limit=101",
        "/v1/audit?limit=x",
    ] {
        let response = app.get(path, ADMIN_TOKEN).await;
        assert_eq!(response.status, 400, "{path}");
        assert_eq!(response.error().2.as_deref(), Some("limit"), "{path}");
    }
    let response = app.get("/v1/tokens?cursor=zz-not-ours", ADMIN_TOKEN).await;
    assert_eq!(response.status, 400);
    assert_eq!(response.error().2.as_deref(), Some("cursor"));
    let unknown = app.get("/v1/tokens?colour=red", ADMIN_TOKEN).await;
    assert_eq!(unknown.status, 400);
    assert_eq!(unknown.error().2.as_deref(), Some("colour"));
}
