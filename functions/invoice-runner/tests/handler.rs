//! The invoice runner on real Lambda payloads (an EventBridge scheduled event, SQS batches of
//! its work queue) and, for the fan-out, a real SQS API (moto, started by
//! `infra/with-services.sh`; skipped without it unless `BILLING_REQUIRE_MOTO=1`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_sqs::Client;
use billing_app::clock::TestClock;
use billing_app::ports::WorkQueue;
use billing_app::runs::{RunKind, ShardWork};
use billing_app::{Actor, App, plans, subscriptions, users};
use billing_core::plan::PlanDraft;
use billing_lambda::runs::{RunEvent, RunOutput, Runner};
use billing_ledger::Ledger;
use billing_ledger::keys::{DUE_SHARDS, shard_of};
use billing_sqs::SqsWorkQueue;
use billing_store::testing::{self as fixtures, Fixture};
use serde_json::{Value, json};

/// This function's runner, as `main` serves it.
fn runner(app: App, work_queue: Option<Arc<dyn billing_app::ports::WorkQueue>>) -> Runner {
    Runner::new(app, billing_invoice_runner::RUN, work_queue)
}

const SCHEDULED: &str = include_str!("fixtures/scheduled-event.json");

fn february() -> billing_core::Timestamp {
    "2027-02-01T00:00:00Z".parse().unwrap()
}

/// An app whose billing clock says February 1st, with `count` monthly subscriptions created on
/// January 1st (so all of them are due); returns their ids.
async fn due_subscriptions(count: usize) -> (Fixture, App, Vec<String>) {
    let fixture = fixtures::embedded("invoice_runner").await.unwrap();
    let ledger = Ledger::new(fixture.table.clone());
    let app = App::local(ledger.clone(), Arc::new(TestClock::new(ledger.clone())));
    let actor = Actor("test".into());
    let january = "2027-01-01T00:00:00Z".parse().unwrap();
    ledger.set_test_clock(None, january).await.unwrap();
    let plan = PlanDraft {
        code: "pro".into(),
        name: "Pro".into(),
        amount_cents: 2900,
        interval: "month".into(),
        ..PlanDraft::default()
    };
    plans::create_plan(&app, plan, &actor).await.unwrap();
    let mut ids = Vec::new();
    for i in 0..count {
        let user = users::create_user(
            &app,
            users::CreateUser {
                email: format!("r{i}@example.com"),
                name: None,
                payment_method: None,
            },
            &actor,
        )
        .await
        .unwrap();
        let request = subscriptions::CreateSubscription {
            user_id: user.id,
            plan_code: "pro".into(),
            trial_days: None,
        };
        let created = subscriptions::create_subscription(&app, request, &actor)
            .await
            .unwrap();
        ids.push(created.subscription.id);
    }
    ledger
        .set_test_clock(Some(january), "2027-02-01T00:00:00Z".parse().unwrap())
        .await
        .unwrap();
    (fixture, app, ids)
}

fn later() -> Instant {
    Instant::now() + Duration::from_secs(600)
}

fn event(json: &str) -> RunEvent {
    serde_json::from_str(json).unwrap()
}

/// An SQS batch as Lambda delivers it, carrying `messages` (id, body), shaped like the fixture.
fn sqs_batch(messages: &[(String, String)]) -> RunEvent {
    let fixture: Value = serde_json::from_str(include_str!("fixtures/sqs-work.json")).unwrap();
    let template = fixture["Records"][0].clone();
    let records: Vec<Value> = messages
        .iter()
        .map(|(id, body)| {
            let mut record = template.clone();
            record["messageId"] = json!(id);
            record["body"] = json!(body);
            record
        })
        .collect();
    serde_json::from_value(json!({ "Records": records })).unwrap()
}

async fn renewed(app: &App, ids: &[String]) -> usize {
    let mut count = 0;
    for id in ids {
        let subscription = subscriptions::get_subscription(app, id).await.unwrap();
        if subscription.current_period_start == february() {
            count += 1;
        }
    }
    count
}

/// A fresh queue on moto, or `None` (skipped) without it.
async fn work_queue(case: &str) -> Option<(Client, String)> {
    if std::env::var("AWS_ENDPOINT_URL_SQS")
        .unwrap_or_default()
        .is_empty()
    {
        let required = std::env::var("BILLING_REQUIRE_MOTO").is_ok_and(|v| v == "1");
        assert!(
            !required,
            "BILLING_REQUIRE_MOTO=1 but AWS_ENDPOINT_URL_SQS is unset: run through \
             infra/with-services.sh"
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
        .queue_name(format!("runs-{case}-{nanos}").replace('_', "-"))
        .send()
        .await
        .unwrap();
    Some((client, created.queue_url().unwrap().to_owned()))
}

/// Every message on the queue (id, body), received and deleted.
async fn drain(client: &Client, queue_url: &str, expected: usize) -> Vec<(String, String)> {
    let mut received = Vec::new();
    for _ in 0..50 {
        let answer = client
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        for message in answer.messages() {
            received.push((
                message.message_id().unwrap().to_owned(),
                message.body().unwrap().to_owned(),
            ));
            client
                .delete_message()
                .queue_url(queue_url)
                .receipt_handle(message.receipt_handle().unwrap())
                .send()
                .await
                .unwrap();
        }
        if received.len() >= expected && answer.messages().is_empty() {
            break;
        }
    }
    received
}

#[tokio::test]
async fn without_a_work_queue_the_schedule_renews_every_due_subscription_once() {
    let (_fixture, app, ids) = due_subscriptions(3).await;
    let runner = runner(app.clone(), None);
    let RunOutput::Started {
        report,
        shards_queued,
    } = runner.handle(event(SCHEDULED), later()).await.unwrap()
    else {
        panic!("a schedule starts a run");
    };
    let invoices = report.invoice.unwrap();
    assert_eq!(
        (
            invoices.subscriptions_renewed,
            invoices.invoices_created,
            shards_queued
        ),
        (3, 3, 0)
    );
    assert_eq!(renewed(&app, &ids).await, 3);
    let RunOutput::Started { report, .. } = runner.handle(event(SCHEDULED), later()).await.unwrap()
    else {
        panic!("a schedule starts a run");
    };
    assert_eq!(
        report.invoice.unwrap().invoices_created,
        0,
        "the schedule firing twice bills nothing twice"
    );
}

#[tokio::test]
async fn an_unreadable_work_message_is_reported_alone() {
    let (_fixture, app, _) = due_subscriptions(0).await;
    let runner = runner(app, None);
    let RunOutput::Work(response) = runner
        .handle(event(include_str!("fixtures/sqs-work.json")), later())
        .await
        .unwrap()
    else {
        panic!("a queue batch is work");
    };
    let failed: Vec<&str> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    assert_eq!(failed, ["0d9c8b7a-6f5e-4d3c-2b1a-0f9e8d7c6b5a"]);
}

#[tokio::test]
async fn the_schedule_fans_the_shards_out_and_each_shard_message_renews_its_shard() {
    let Some((client, queue_url)) = work_queue("fan_out").await else {
        return;
    };
    let (_fixture, app, ids) = due_subscriptions(40).await;
    let queue: Arc<dyn WorkQueue> = Arc::new(SqsWorkQueue::new(client.clone(), &queue_url));
    let runner = runner(app.clone(), Some(queue));
    let RunOutput::Started { shards_queued, .. } =
        runner.handle(event(SCHEDULED), later()).await.unwrap()
    else {
        panic!("a schedule starts a run");
    };
    assert_eq!(shards_queued, DUE_SHARDS as usize);
    assert_eq!(renewed(&app, &ids).await, 0, "the schedule only fans out");

    let messages = drain(&client, &queue_url, DUE_SHARDS as usize).await;
    let mut shards: Vec<u32> = messages
        .iter()
        .map(|(_, body)| {
            let work: ShardWork = serde_json::from_str(body).unwrap();
            assert_eq!(work.run, RunKind::Invoice);
            assert_eq!(work.now, february());
            work.shard
        })
        .collect();
    shards.sort_unstable();
    assert_eq!(shards, (0..DUE_SHARDS).collect::<Vec<_>>());

    // One shard's message renews exactly the subscriptions of that shard.
    let (first, rest) = messages.split_at(1);
    let first_shard: ShardWork = serde_json::from_str(&first[0].1).unwrap();
    let RunOutput::Work(response) = runner.handle(sqs_batch(first), later()).await.unwrap() else {
        panic!("a queue batch is work");
    };
    assert!(response.batch_item_failures.is_empty());
    let in_first: Vec<String> = ids
        .iter()
        .filter(|id| shard_of(id) == first_shard.shard)
        .cloned()
        .collect();
    assert_eq!(renewed(&app, &ids).await, in_first.len());
    assert_eq!(renewed(&app, &in_first).await, in_first.len());

    // The rest, delivered twice as SQS may, renews everything else once.
    let RunOutput::Work(response) = runner.handle(sqs_batch(rest), later()).await.unwrap() else {
        panic!("a queue batch is work");
    };
    assert!(response.batch_item_failures.is_empty());
    runner.handle(sqs_batch(rest), later()).await.unwrap();
    assert_eq!(renewed(&app, &ids).await, ids.len());
    let invoices = billing_app::invoices::list_invoices(
        &app,
        &billing_ledger::InvoiceFilter::default(),
        &billing_ledger::PageRequest::first(100),
    )
    .await
    .unwrap();
    assert_eq!(
        invoices.data.len(),
        80,
        "one first invoice and one renewal each"
    );
    assert!(
        drain(&client, &queue_url, 0).await.is_empty(),
        "nothing re-queued"
    );
}

#[tokio::test]
async fn a_shard_unfinished_at_the_deadline_goes_back_to_the_queue() {
    let Some((client, queue_url)) = work_queue("continuation").await else {
        return;
    };
    let (_fixture, app, ids) = due_subscriptions(5).await;
    let queue: Arc<dyn WorkQueue> = Arc::new(SqsWorkQueue::new(client.clone(), &queue_url));
    let runner = runner(app.clone(), Some(queue));
    let shard = shard_of(&ids[0]);
    let work = ShardWork {
        run: RunKind::Invoice,
        shard,
        now: february(),
        run_id: None,
    };
    let message = ("m-1".to_owned(), serde_json::to_string(&work).unwrap());
    // An invocation with no time left: the shard is handed on, not dropped.
    let RunOutput::Work(response) = runner
        .handle(sqs_batch(&[message]), Instant::now())
        .await
        .unwrap()
    else {
        panic!("a queue batch is work");
    };
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(renewed(&app, &ids[..1]).await, 0);
    let continued = drain(&client, &queue_url, 1).await;
    assert_eq!(continued.len(), 1);
    let again: ShardWork = serde_json::from_str(&continued[0].1).unwrap();
    assert_eq!(again, work);
    // The continuation, with time to spare, finishes the shard.
    runner.handle(sqs_batch(&continued), later()).await.unwrap();
    assert_eq!(renewed(&app, &ids[..1]).await, 1);
}

/// The Lambda's wiring (`main.rs`): the app reports to the function's EMF metrics and each
/// invocation is instrumented, so its document holds the invoices that run created.
#[tokio::test]
async fn each_invocation_writes_one_emf_document_with_the_invoices_it_created() {
    let (_fixture, app, _ids) = due_subscriptions(3).await;
    let (metrics, captured) = billing_lambda::emf::Captured::metrics("invoice-runner");
    let runner = runner(app.with_metrics(metrics.clone()), None);
    for _ in 0..2 {
        billing_lambda::emf::instrument(&metrics, runner.handle(event(SCHEDULED), later()))
            .await
            .unwrap();
    }
    let documents = captured.documents().unwrap();
    assert_eq!(documents.len(), 2, "one document per invocation");
    let first = billing_lambda::emf::read_document(&documents[0]).unwrap();
    assert_eq!(
        (
            first["Invocations"],
            first["Errors"],
            first["InvoicesCreated"]
        ),
        (1, 0, 3)
    );
    let second = billing_lambda::emf::read_document(&documents[1]).unwrap();
    assert!(
        !second.contains_key("InvoicesCreated"),
        "the second run creates nothing: {second:?}"
    );
}

/// A failed invocation counts as an error: here a schedule whose fan-out the work queue
/// refuses, so the handler returns `Err`.
#[tokio::test]
async fn a_failed_invocation_counts_as_an_emf_error() {
    let (_fixture, app, _ids) = due_subscriptions(0).await;
    let (metrics, captured) = billing_lambda::emf::Captured::metrics("invoice-runner");
    let runner = runner(
        app.with_metrics(metrics.clone()),
        Some(Arc::new(RefusingQueue)),
    );
    let result =
        billing_lambda::emf::instrument(&metrics, runner.handle(event(SCHEDULED), later())).await;
    assert!(result.is_err());
    let values = billing_lambda::emf::read_document(&captured.documents().unwrap()[0]).unwrap();
    assert_eq!((values["Invocations"], values["Errors"]), (1, 1));
}

struct RefusingQueue;

#[async_trait::async_trait]
impl WorkQueue for RefusingQueue {
    async fn send(&self, _work: &[ShardWork]) -> Result<(), billing_app::AppError> {
        Err(billing_app::AppError::Unavailable("refused".into()))
    }
}
