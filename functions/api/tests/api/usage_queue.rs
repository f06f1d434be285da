//! `POST /v1/usage` on the SQS usage queue, against a real SQS API (moto, started by
//! `infra/with-services.sh`; skipped without it unless `BILLING_REQUIRE_MOTO=1`): 202 only once
//! SQS holds every accepted event; a queue that refuses makes the whole request fail, with
//! nothing of SQS's answer in the body.

use std::sync::Arc;

use aws_sdk_sqs::Client;
use billing_app::usage::UsageMessage;
use billing_sqs::SqsUsageQueue;
use serde_json::json;

use crate::helpers::{ADMIN_TOKEN, spawn_app_with_usage_queue};

pub async fn sqs(case: &str) -> Option<(Client, String)> {
    if std::env::var("AWS_ENDPOINT_URL_SQS")
        .unwrap_or_default()
        .is_empty()
    {
        let required = std::env::var("BILLING_REQUIRE_MOTO").is_ok_and(|v| v == "1");
        assert!(
            !required,
            "BILLING_REQUIRE_MOTO=1 but AWS_ENDPOINT_URL_SQS is unset: run through infra/with-services.sh"
        );
        eprintln!("skipped {case}: AWS_ENDPOINT_URL_SQS is unset");
        return None;
    }
    let client = billing_sqs::client_from_env().await;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let created = billing_sqs::setup_client_from_env()
        .await
        .create_queue()
        .queue_name(format!("api-usage-{case}-{nanos}").replace('_', "-"))
        .send()
        .await
        .unwrap();
    Some((client, created.queue_url().unwrap().to_owned()))
}

#[tokio::test]
async fn accepted_usage_is_on_the_queue_when_the_api_answers_202() {
    let Some((client, queue_url)) = sqs("accepted").await else {
        return;
    };
    let app =
        spawn_app_with_usage_queue(Arc::new(SqsUsageQueue::new(client.clone(), &queue_url))).await;
    let events: Vec<_> = (0..250)
        .map(|i| json!({"id": format!("e{i}"), "user_id": app.user_id, "metric": "api_calls", "quantity": i + 1}))
        .collect();
    let response = app
        .post("/v1/usage", ADMIN_TOKEN, &json!({ "events": events }))
        .await;
    assert_eq!(
        (response.status, &response.body),
        (202, &json!({"accepted": 250}))
    );

    // Already on the queue: no waiting needed, every event exactly once.
    let mut ids = Vec::new();
    loop {
        let answer = client
            .receive_message()
            .queue_url(&queue_url)
            .max_number_of_messages(10)
            .send()
            .await
            .unwrap();
        if answer.messages().is_empty() {
            break;
        }
        for message in answer.messages() {
            let usage: UsageMessage = serde_json::from_str(message.body().unwrap()).unwrap();
            ids.extend(usage.events.into_iter().map(|e| e.id));
            client
                .delete_message()
                .queue_url(&queue_url)
                .receipt_handle(message.receipt_handle().unwrap())
                .send()
                .await
                .unwrap();
        }
    }
    ids.sort_by_key(|id| id[1..].parse::<u32>().unwrap());
    assert_eq!(ids, (0..250).map(|i| format!("e{i}")).collect::<Vec<_>>());
}

#[tokio::test]
async fn a_queue_that_refuses_fails_the_whole_request_without_leaking_why() {
    let Some((client, queue_url)) = sqs("refused").await else {
        return;
    };
    let missing = format!("{queue_url}-does-not-exist");
    let app = spawn_app_with_usage_queue(Arc::new(SqsUsageQueue::new(client, &missing))).await;
    let response = app.post("/v1/usage", ADMIN_TOKEN, &app.usage_body()).await;
    assert!(response.status >= 500, "{response:?}");
    let text = response.body.to_string();
    assert!(
        !text.contains("does-not-exist")
            && !text.contains("NonExistentQueue")
            && !text.contains("127.0.0.1"),
        "{text}"
    );
    assert!(response.body["error"]["type"].is_string(), "{text}");
}
