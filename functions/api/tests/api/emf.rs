//! The API Lambda's EMF layer on the real router: one document per request, with `Requests`,
//! `ServerErrors` for a 5xx (a caught panic's 500 included) and what the use cases counted.

use billing_lambda::emf::{Captured, read_document};
use serde_json::json;

use crate::helpers::{ADMIN_TOKEN, spawn_app_with_emf};

#[tokio::test]
async fn each_request_writes_one_emf_document_and_a_5xx_is_a_server_error() {
    let (metrics, captured) = Captured::metrics("billing-api");
    let app = spawn_app_with_emf(metrics).await;

    let events = json!({"events": [
        {"id": "e1", "user_id": app.user_id, "metric": "api_calls", "quantity": 3},
        {"id": "e2", "user_id": app.user_id, "metric": "api_calls", "quantity": 4},
    ]});
    assert_eq!(
        app.post("/v1/usage", ADMIN_TOKEN, &events).await.status,
        202
    );
    assert_eq!(
        app.get("/v1/test-only/panic", ADMIN_TOKEN).await.status,
        500
    );
    assert_eq!(app.get("/v1/no-such-route", ADMIN_TOKEN).await.status, 404);

    let documents = captured.documents().unwrap();
    assert_eq!(documents.len(), 3, "one document per request");
    let read: Vec<_> = documents
        .iter()
        .map(|document| {
            assert_eq!(document["Function"], "billing-api");
            read_document(document).unwrap()
        })
        .collect();
    let summary: Vec<(u64, u64, u64, Option<u64>)> = read
        .iter()
        .map(|values| {
            assert!(values.contains_key("Latency"), "{values:?}");
            (
                values["Invocations"],
                values["Requests"],
                values["ServerErrors"],
                values.get("UsageEventsIngested").copied(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [(1, 1, 0, Some(2)), (1, 1, 1, None), (1, 1, 0, None)]
    );
}
