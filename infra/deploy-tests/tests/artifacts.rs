//! Every built Lambda artifact (`cargo lambda build --release`) started as Lambda starts it,
//! under cargo-lambda's Runtime API emulator, over DynamoDB Local and moto, and invoked with the
//! events AWS sends: an API Gateway HTTP API (v2) request, an SQS batch with a poison message,
//! scheduled events, a DynamoDB stream batch. Each test adds its artifact's cold-start figures
//! to `$BILLING_LAMBDA_DIR/figures.md` (BENCHMARKS.md quotes them).
//!
//! Run by infra/deploy-check.sh, which builds the artifacts, starts the services and runs
//! these one at a time (so cold starts are measured on an otherwise idle machine).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::io::Write;

use aws_sdk_sqs::types::QueueAttributeName;
use billing_deploy_tests::emulator::{Artifact, Figures, RunningFunction, figures_table};
use billing_deploy_tests::{BASELINE_FUNCTION, repo_root, template};
use billing_ledger::Ledger;
use billing_store::{DynamoDbTable, Table};
use serde_json::{Value, json};

/// The memory each artifact is told it has (the template's smallest size).
const MEMORY_MB: u32 = 256;
const ADMIN_TOKEN: &str = "sk_deploy_tests_admin";

fn unique(name: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("deploy-{name}-{}-{nanos}", std::process::id())
}

fn require_services() {
    for variable in [
        "AWS_ENDPOINT_URL_DYNAMODB",
        "AWS_ENDPOINT_URL_SQS",
        "AWS_ENDPOINT_URL_EVENTBRIDGE",
    ] {
        assert!(
            std::env::var(variable).is_ok_and(|v| !v.is_empty()),
            "{variable} is unset: run these through infra/deploy-check.sh, which starts \
             DynamoDB Local and moto"
        );
    }
}

/// A fresh table on DynamoDB Local, created from the store's schema.
async fn table() -> (String, DynamoDbTable) {
    require_services();
    let name = unique("table");
    let table = DynamoDbTable::new(billing_store::client_from_env().await, name.clone());
    table.create_table_if_missing().await.unwrap();
    (name, table)
}

async fn queue(sqs: &aws_sdk_sqs::Client, name: &str) -> (String, String) {
    let url = sqs
        .create_queue()
        .queue_name(unique(name))
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_owned();
    let attributes = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap();
    let arn = attributes.attributes().unwrap()[&QueueAttributeName::QueueArn].clone();
    (url, arn)
}

/// Every message on the queue (waits a little for stragglers).
async fn drain(
    sqs: &aws_sdk_sqs::Client,
    url: &str,
    expected: usize,
) -> Vec<aws_sdk_sqs::types::Message> {
    let mut messages = Vec::new();
    for _ in 0..30 {
        let answer = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .visibility_timeout(600)
            .send()
            .await
            .unwrap();
        if answer.messages().is_empty() && messages.len() >= expected {
            break;
        }
        messages.extend(answer.messages().iter().cloned());
    }
    messages
}

fn fixture(path: &str) -> Value {
    let path = repo_root().join(path);
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// An API Gateway HTTP API (payload format 2.0) request, as API Gateway sends it.
fn http_request(method: &str, path: &str, query: &str, body: Option<Value>) -> Value {
    let route = format!("{method} {path}");
    json!({
        "version": "2.0",
        "routeKey": route,
        "rawPath": path,
        "rawQueryString": query,
        "headers": {
            "accept": "application/json",
            "authorization": format!("Bearer {ADMIN_TOKEN}"),
            "content-type": "application/json",
            "host": "abc123.execute-api.us-east-1.amazonaws.com",
            "user-agent": "deploy-tests",
            "x-forwarded-for": "203.0.113.7",
            "x-forwarded-proto": "https"
        },
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123",
            "domainName": "abc123.execute-api.us-east-1.amazonaws.com",
            "domainPrefix": "abc123",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.7",
                "userAgent": "deploy-tests"
            },
            "requestId": unique("request"),
            "routeKey": route,
            "stage": "$default",
            "time": "24/Nov/2026:12:00:00 +0000",
            "timeEpoch": 1_795_521_600_000_u64
        },
        "body": body.map(|b| b.to_string()),
        "isBase64Encoded": false
    })
}

/// The status and JSON body of an HTTP API response.
fn http_answer(response: &Value) -> (u64, Value) {
    let status = response["statusCode"].as_u64().expect("a statusCode");
    let body = response["body"].as_str().unwrap_or("null");
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

/// The metrics of the function's EMF documents (one per invocation), summed by name.
fn emf_totals(function: &RunningFunction) -> std::collections::BTreeMap<String, u64> {
    let mut totals = std::collections::BTreeMap::new();
    for line in function.logs() {
        let Ok(document) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        if document.get("_aws").is_none() {
            continue;
        }
        let values = billing_lambda::emf::read_document(&document)
            .unwrap_or_else(|e| panic!("an invalid EMF document ({e}): {line}"));
        for (name, value) in values {
            *totals.entry(name).or_insert(0) += value;
        }
    }
    totals
}

fn record(figures: &Figures) {
    eprintln!("{}", figures_table(std::slice::from_ref(figures)));
    let dir = std::env::var(billing_deploy_tests::emulator::LAMBDA_DIR_VAR).unwrap();
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(std::path::Path::new(&dir).join("figures.md"))
        .unwrap();
    let row = figures_table(std::slice::from_ref(figures));
    // The table's rows only: the header is written once by infra/deploy-check.sh.
    write!(
        file,
        "{}",
        row.lines().skip(2).collect::<Vec<_>>().join("\n") + "\n"
    )
    .unwrap();
}

#[tokio::test]
async fn the_baseline_answers_with_its_event() {
    let artifact = Artifact::find(BASELINE_FUNCTION).unwrap();
    let mut function = RunningFunction::start(&artifact, MEMORY_MB, &[])
        .await
        .unwrap();
    let answer = function.invoke(&json!({"ping": 1})).await.unwrap();
    assert_eq!(answer, json!({"ping": 1}));
    record(&function.figures().unwrap());
    function.stop().await;
}

#[tokio::test]
async fn the_api_answers_health_creates_a_user_queues_usage_and_serves_every_template_route() {
    let (table_name, _table) = table().await;
    let sqs = billing_sqs::setup_client_from_env().await;
    let (usage_queue, _) = queue(&sqs, "usage").await;
    let artifact = Artifact::find("billing-api").unwrap();
    let env = [
        ("BILLING_TABLE", table_name),
        ("BILLING_ADMIN_TOKEN", ADMIN_TOKEN.to_owned()),
        // On, so the test-clock routes are part of the router and of its OpenAPI document.
        ("BILLING_TEST_CLOCK", "true".to_owned()),
        ("BILLING_USAGE_QUEUE_URL", usage_queue.clone()),
        ("BILLING_PAYMENT_GATEWAY", "simulated".to_owned()),
    ];
    let mut api = RunningFunction::start(&artifact, MEMORY_MB, &env)
        .await
        .unwrap();

    let (status, body) = http_answer(
        &api.invoke(&http_request("GET", "/healthz", "", None))
            .await
            .unwrap(),
    );
    assert_eq!((status, &body["status"]), (200, &json!("ok")), "{body}");

    // Every route the router serves is a route of the template, and every template route is
    // served (ANY only where the API answers 405 for the other methods).
    let (status, document) = http_answer(
        &api.invoke(&http_request("GET", "/openapi.json", "", None))
            .await
            .unwrap(),
    );
    assert_eq!(status, 200);
    let mut served = BTreeSet::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            if ["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                served.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    let template = template::load(&repo_root().join("template.yaml")).unwrap();
    let routed = template::http_routes(&template);
    let missing: Vec<_> = served
        .iter()
        .filter(|(method, path)| {
            !routed.contains(&(method.clone(), path.clone()))
                && !routed.contains(&("ANY".to_owned(), path.clone()))
        })
        .collect();
    assert!(
        missing.is_empty(),
        "routes the API serves but template.yaml does not route: {missing:?}"
    );
    for (method, path) in routed.difference(&served) {
        assert!(
            method == "ANY" && served.iter().any(|(_, p)| p == path),
            "template.yaml routes {method} {path}, which the API does not serve"
        );
    }

    let (status, user) = http_answer(
        &api.invoke(&http_request(
            "POST",
            "/v1/users",
            "",
            Some(json!({"email": "ada@example.com", "payment_method": "pm_card_ok"})),
        ))
        .await
        .unwrap(),
    );
    assert_eq!(status, 201, "{user}");
    let user_id = user["id"].as_str().unwrap();

    let usage = json!({"events": [{"id": "evt-deploy-1", "user_id": user_id, "metric": "api_calls", "quantity": 42}]});
    let (status, accepted) = http_answer(
        &api.invoke(&http_request("POST", "/v1/usage", "", Some(usage)))
            .await
            .unwrap(),
    );
    assert_eq!(
        (status, &accepted["accepted"]),
        (202, &json!(1)),
        "{accepted}"
    );
    let messages = drain(&sqs, &usage_queue, 1).await;
    assert_eq!(messages.len(), 1);
    assert!(messages[0].body().unwrap().contains("evt-deploy-1"));

    // A bad request is named, not a 5xx.
    let (status, error) = http_answer(
        &api.invoke(&http_request(
            "POST",
            "/v1/usage",
            "",
            Some(json!({"events": []})),
        ))
        .await
        .unwrap(),
    );
    assert_eq!(status, 400, "{error}");

    // One EMF document per invocation, on stdout as Lambda sends it to CloudWatch.
    let metrics = emf_totals(&api);
    assert_eq!(metrics.get("Requests"), Some(&5), "{metrics:?}");
    assert_eq!(metrics.get("ServerErrors"), Some(&0), "{metrics:?}");
    assert_eq!(metrics.get("UsageEventsIngested"), Some(&1), "{metrics:?}");

    record(&api.figures().unwrap());
    api.stop().await;
}

#[tokio::test]
async fn the_aggregator_counts_a_batch_once_and_reports_only_the_poison_message() {
    let (table_name, table) = table().await;
    let artifact = Artifact::find("usage-aggregator").unwrap();
    let mut aggregator =
        RunningFunction::start(&artifact, MEMORY_MB, &[("BILLING_TABLE", table_name)])
            .await
            .unwrap();
    let batch = fixture("functions/usage-aggregator/tests/fixtures/sqs-batch.json");
    for _ in 0..2 {
        let answer = aggregator.invoke(&batch).await.unwrap();
        assert_eq!(
            answer,
            json!({"batchItemFailures": [{"itemIdentifier": "3c5e7a9b-1d2f-4a6b-8c0d-e1f2a3b4c5d6"}]})
        );
    }
    let ledger = Ledger::new(std::sync::Arc::new(table) as std::sync::Arc<dyn Table>);
    let sum = ledger
        .usage_sum(
            "usr_sqs",
            "api_calls",
            "2027-01-01T00:00:00Z".parse().unwrap(),
            "2027-02-01T00:00:00Z".parse().unwrap(),
        )
        .await
        .unwrap();
    // evt-1 (1000) + evt-2 (250) + evt-4 (7), the batch delivered twice: counted once.
    assert_eq!(sum, 1_257);
    let metrics = emf_totals(&aggregator);
    assert_eq!(metrics.get("Invocations"), Some(&2), "{metrics:?}");
    assert!(
        metrics.get("UsageEventsCounted").is_some_and(|n| *n >= 3),
        "{metrics:?}"
    );
    record(&aggregator.figures().unwrap());
    aggregator.stop().await;
}

#[tokio::test]
async fn the_invoice_runner_fans_a_schedule_out_and_runs_a_shard_from_its_queue() {
    let (table_name, _table) = table().await;
    let sqs = billing_sqs::setup_client_from_env().await;
    let (work_queue, work_queue_arn) = queue(&sqs, "invoice-run").await;
    let artifact = Artifact::find("invoice-runner").unwrap();
    let env = [
        ("BILLING_TABLE", table_name),
        ("BILLING_RUN_QUEUE_URL", work_queue.clone()),
    ];
    let mut runner = RunningFunction::start(&artifact, MEMORY_MB, &env)
        .await
        .unwrap();

    let started = runner
        .invoke(&fixture(
            "functions/invoice-runner/tests/fixtures/scheduled-event.json",
        ))
        .await
        .unwrap();
    let shards = billing_ledger::keys::DUE_SHARDS as usize;
    assert_eq!(started["shards_queued"], json!(shards), "{started}");
    let messages = drain(&sqs, &work_queue, shards).await;
    assert_eq!(messages.len(), shards);

    // One shard message, as the SQS event source mapping delivers it.
    let message = &messages[0];
    let batch = json!({"Records": [{
        "messageId": message.message_id().unwrap(),
        "receiptHandle": message.receipt_handle().unwrap(),
        "body": message.body().unwrap(),
        "attributes": {
            "ApproximateReceiveCount": "1",
            "SentTimestamp": "1795521600000",
            "SenderId": "AROAEXAMPLE:invoice-runner",
            "ApproximateFirstReceiveTimestamp": "1795521600050"
        },
        "messageAttributes": {},
        "md5OfBody": message.md5_of_body().unwrap_or_default(),
        "eventSource": "aws:sqs",
        "eventSourceARN": work_queue_arn,
        "awsRegion": "us-east-1"
    }]});
    let answer = runner.invoke(&batch).await.unwrap();
    assert_eq!(answer, json!({"batchItemFailures": []}));
    assert_eq!(emf_totals(&runner).get("Invocations"), Some(&2));
    record(&runner.figures().unwrap());
    runner.stop().await;
}

#[tokio::test]
async fn the_payment_runner_runs_every_shard_of_a_scheduled_run() {
    let (table_name, _table) = table().await;
    let artifact = Artifact::find("payment-runner").unwrap();
    let env = [
        ("BILLING_TABLE", table_name),
        ("BILLING_PAYMENT_GATEWAY", "simulated".to_owned()),
    ];
    let mut runner = RunningFunction::start(&artifact, MEMORY_MB, &env)
        .await
        .unwrap();
    let answer = runner
        .invoke(&fixture(
            "functions/payment-runner/tests/fixtures/scheduled-event.json",
        ))
        .await
        .unwrap();
    // No work queue: every shard ran in this invocation, nothing was due.
    assert_eq!(answer["shards_queued"], json!(0), "{answer}");
    assert_eq!(
        answer["payment"],
        json!({"attempted": 0, "succeeded": 0, "failed": 0}),
        "{answer}"
    );
    record(&runner.figures().unwrap());
    runner.stop().await;
}

#[tokio::test]
async fn the_publisher_puts_the_outbox_inserts_of_a_stream_batch_on_the_bus() {
    let (table_name, _table) = table().await;
    let events = billing_eventbridge::setup_client_from_env().await;
    let sqs = billing_sqs::setup_client_from_env().await;
    let bus = unique("bus");
    events.create_event_bus().name(&bus).send().await.unwrap();
    let (delivered_queue, delivered_arn) = queue(&sqs, "delivered").await;
    events
        .put_rule()
        .name(&bus)
        .event_bus_name(&bus)
        .event_pattern(json!({"source": ["billing"]}).to_string())
        .send()
        .await
        .unwrap();
    events
        .put_targets()
        .rule(&bus)
        .event_bus_name(&bus)
        .targets(
            aws_sdk_eventbridge::types::Target::builder()
                .id("queue")
                .arn(delivered_arn)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let artifact = Artifact::find("events-publisher").unwrap();
    let env = [
        ("BILLING_TABLE", table_name),
        ("BILLING_EVENT_BUS", bus.clone()),
    ];
    let mut publisher = RunningFunction::start(&artifact, MEMORY_MB, &env)
        .await
        .unwrap();

    let stream = fixture("functions/events-publisher/tests/fixtures/dynamodb-stream.json");
    let outbox_inserts = stream["Records"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| {
            r["eventName"] == "INSERT"
                && r["dynamodb"]["Keys"]["pk"]["S"]
                    .as_str()
                    .is_some_and(|pk| pk.starts_with(billing_ledger::keys::OUTBOX_PREFIX))
        })
        .count();
    assert!(outbox_inserts > 0);
    let answer = publisher.invoke(&stream).await.unwrap();
    assert_eq!(answer, json!({"batchItemFailures": []}));
    let delivered = drain(&sqs, &delivered_queue, outbox_inserts).await;
    assert_eq!(delivered.len(), outbox_inserts);
    let event: Value = serde_json::from_str(delivered[0].body().unwrap()).unwrap();
    assert_eq!(event["source"], "billing");

    // The scheduled sweep: the outbox of this fresh table is empty.
    let swept = publisher
        .invoke(&fixture(
            "functions/events-publisher/tests/fixtures/scheduled-event.json",
        ))
        .await
        .unwrap();
    assert_eq!(swept["published"], json!(0), "{swept}");
    let metrics = emf_totals(&publisher);
    assert_eq!(
        metrics.get("EventsPublished"),
        Some(&(outbox_inserts as u64)),
        "{metrics:?}"
    );
    record(&publisher.figures().unwrap());
    publisher.stop().await;
}
