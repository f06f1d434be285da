//! Issue 16.5: a stored value that does not decode is a 5xx without internals, never a guess.

use billing_api::auth::BOOTSTRAP_TOKEN_ID;
use billing_ledger::keys;
use billing_store::Condition;
use serde_json::json;

use crate::helpers::{ADMIN_TOKEN, spawn_app};

#[tokio::test]
async fn a_stored_response_missing_its_body_is_a_500_envelope_not_an_empty_replay() {
    let app = spawn_app().await;
    let body = json!({"email": "corrupt@example.com"});
    let first = app
        .post_with_key("/v1/users", ADMIN_TOKEN, "corrupt-1", &body)
        .await;
    assert_eq!(first.status, 201);
    // Someone edits the stored response by hand and loses its body.
    let table = app.state.app.ledger.table().clone();
    let key = keys::idempotency(BOOTSTRAP_TOKEN_ID, "corrupt-1");
    let mut item = table.get(&key).await.unwrap().expect("the stored response");
    assert!(item.remove("response_body").is_some());
    table.put(item, Condition::Always).await.unwrap();

    let replay = app
        .post_with_key("/v1/users", ADMIN_TOKEN, "corrupt-1", &body)
        .await;
    assert_eq!(replay.status, 500, "{:?}", replay.body);
    assert_eq!(replay.error().0, "internal");
    let text = replay.body.to_string();
    for internal in ["IDEM#", "response_body", "idempotency", "decode"] {
        assert!(!text.contains(internal), "{internal} leaked: {text}");
    }
    assert_eq!(replay.header("idempotent-replayed"), None);
}
