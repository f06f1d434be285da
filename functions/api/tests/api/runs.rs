//! Issue 16.9: a run started from the API that does not finish within its time budget answers
//! 202 `{run_id}`, goes on over the runner's work queue (a real SQS API: moto, started by
//! `infra/with-services.sh`), and `GET /v1/invoice-runs/{run_id}` shows its progress.

use std::sync::Arc;
use std::time::Duration;

use billing_app::runs::{RunLimits, ShardWork, run_shard};
use billing_sqs::SqsWorkQueue;
use serde_json::json;

use crate::helpers::{ADMIN_TOKEN, spawn_app, spawn_app_with_run_queues};
use crate::usage_queue::sqs;

/// Every shard message on the queue, read and deleted.
async fn drain(client: &aws_sdk_sqs::Client, queue_url: &str) -> Vec<ShardWork> {
    let mut work = Vec::new();
    loop {
        let answer = client
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .send()
            .await
            .unwrap();
        if answer.messages().is_empty() {
            return work;
        }
        for message in answer.messages() {
            work.push(serde_json::from_str(message.body().unwrap()).unwrap());
            client
                .delete_message()
                .queue_url(queue_url)
                .receipt_handle(message.receipt_handle().unwrap())
                .send()
                .await
                .unwrap();
        }
    }
}

#[tokio::test]
async fn a_run_that_outlasts_the_request_answers_202_and_goes_on_over_the_work_queue() {
    let Some((client, invoice_queue)) = sqs("invoice_runs").await else {
        return;
    };
    let Some((_, payment_queue)) = sqs("payment_runs").await else {
        return;
    };
    // No time at all in the request: every shard goes to the queue.
    let app = spawn_app_with_run_queues(
        Duration::ZERO,
        Arc::new(SqsWorkQueue::new(client.clone(), &invoice_queue)),
        Arc::new(SqsWorkQueue::new(client.clone(), &payment_queue)),
    )
    .await;
    let set_clock = |now: &'static str| {
        let body = json!({ "now": now });
        let app = &app;
        async move { app.post("/v1/test-clock", ADMIN_TOKEN, &body).await.status }
    };
    assert_eq!(set_clock("2027-01-01T00:00:00Z").await, 200);
    let plan = json!({"code": "pro", "name": "Pro", "amount_cents": 2900, "interval": "month"});
    assert_eq!(app.post("/v1/plans", ADMIN_TOKEN, &plan).await.status, 201);
    for i in 0..5 {
        let user = app
            .post(
                "/v1/users",
                ADMIN_TOKEN,
                &json!({"email": format!("run{i}@example.com")}),
            )
            .await;
        let sub = json!({"user_id": user.body["id"], "plan_code": "pro"});
        assert_eq!(
            app.post("/v1/subscriptions", ADMIN_TOKEN, &sub)
                .await
                .status,
            201
        );
    }
    assert_eq!(set_clock("2027-02-01T00:00:00Z").await, 200);

    let started = app.post("/v1/invoice-runs", ADMIN_TOKEN, &json!({})).await;
    assert_eq!(started.status, 202, "{:?}", started.body);
    let run_id = started.body["run_id"].as_str().unwrap().to_owned();
    let path = format!("/v1/invoice-runs/{run_id}");
    let running = app.get(&path, ADMIN_TOKEN).await;
    assert_eq!(running.status, 200);
    assert_eq!(
        (
            &running.body["status"],
            &running.body["shards_done"],
            &running.body["shards_total"]
        ),
        (&json!("running"), &json!(0), &json!(16))
    );
    assert_eq!(running.body["now"], "2027-02-01T00:00:00Z");

    // The invoice runner takes the shard messages; one is delivered twice.
    let work = drain(&client, &invoice_queue).await;
    assert_eq!(work.len(), 16);
    assert!(
        work.iter()
            .all(|w| w.run_id.as_deref() == Some(run_id.as_str()))
    );
    for shard in work.iter().chain(work.first()) {
        run_shard(&app.state.app, shard, RunLimits::default())
            .await
            .unwrap();
    }
    let finished = app.get(&path, ADMIN_TOKEN).await;
    assert_eq!(
        (&finished.body["status"], &finished.body["shards_done"]),
        (&json!("finished"), &json!(16))
    );
    assert_eq!(
        finished.body["invoice"],
        json!({"subscriptions_renewed": 5, "invoices_created": 5})
    );
    let invoices = app.get("/v1/invoices?limit=100", ADMIN_TOKEN).await;
    assert_eq!(invoices.body["data"].as_array().unwrap().len(), 10);

    // A run id is of one kind, and an unknown one is a 404.
    let other_kind = app
        .get(&format!("/v1/payment-runs/{run_id}"), ADMIN_TOKEN)
        .await;
    assert_eq!(other_kind.status, 404);
    assert_eq!(
        app.get("/v1/invoice-runs/run_nope", ADMIN_TOKEN)
            .await
            .status,
        404
    );

    // The payment run the same way.
    let payments = app.post("/v1/payment-runs", ADMIN_TOKEN, &json!({})).await;
    assert_eq!(payments.status, 202);
    assert_eq!(drain(&client, &payment_queue).await.len(), 16);
}

#[tokio::test]
async fn without_a_budget_a_run_finishes_within_the_request() {
    let app = spawn_app().await;
    let run = app.post("/v1/invoice-runs", ADMIN_TOKEN, &json!({})).await;
    assert_eq!(
        (run.status, &run.body),
        (
            200,
            &json!({"subscriptions_renewed": 0, "invoices_created": 0})
        )
    );
}
