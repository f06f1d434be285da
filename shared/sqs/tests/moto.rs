//! The SQS usage queue against a real SQS API (moto's server, `infra/moto.sh`): every event
//! arrives exactly once in a body the aggregator can read, messages stay within SQS's limits,
//! and a queue that does not exist is an error.
//!
//! The endpoint comes from `AWS_ENDPOINT_URL_SQS`; without it the tests are skipped, unless
//! `BILLING_REQUIRE_MOTO=1`, where they fail (the project's test command always runs them).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::QueueAttributeName;
use billing_app::ports::UsageQueue;
use billing_app::usage::UsageMessage;
use billing_core::usage::UsageEvent;
use billing_sqs::{MESSAGE_BYTES_MAX, SqsUsageQueue, client_from_env, send_json_batch};

/// A client and a fresh queue of its own for `case`, or `None` (skipped) without moto.
async fn queue(case: &str) -> Option<(Client, String)> {
    let endpoint = std::env::var("AWS_ENDPOINT_URL_SQS").unwrap_or_default();
    if endpoint.is_empty() {
        let required = std::env::var("BILLING_REQUIRE_MOTO").is_ok_and(|v| v == "1");
        assert!(
            !required,
            "BILLING_REQUIRE_MOTO=1 but AWS_ENDPOINT_URL_SQS is unset: start moto \
             (infra/moto.sh) and point the variable at it"
        );
        eprintln!("skipped sqs::{case}: AWS_ENDPOINT_URL_SQS is unset");
        return None;
    }
    let client = client_from_env().await;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let name = format!("usage-{case}-{}-{nanos}", std::process::id()).replace('_', "-");
    let created = billing_sqs::setup_client_from_env()
        .await
        .create_queue()
        .queue_name(name)
        // SQS's classic limit, which the sender keeps to: the stand-in enforces it too.
        .attributes(
            QueueAttributeName::MaximumMessageSize,
            MESSAGE_BYTES_MAX.to_string(),
        )
        .send()
        .await
        .unwrap_or_else(|error| panic!("cannot create a queue at {endpoint}: {error:?}"));
    Some((client, created.queue_url().unwrap().to_owned()))
}

/// Receives until `expected` events arrived, then once more to see that nothing else does.
/// Returns the bodies.
async fn receive_all(client: &Client, queue_url: &str, expected: usize) -> Vec<String> {
    let mut bodies = Vec::new();
    let mut events = 0;
    for _ in 0..200 {
        let answer = client
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(if events < expected { 1 } else { 2 })
            .visibility_timeout(600)
            .send()
            .await
            .unwrap();
        let messages = answer.messages();
        if messages.is_empty() && events >= expected {
            return bodies;
        }
        for message in messages {
            let body = message.body().unwrap().to_owned();
            if let Ok(usage) = serde_json::from_str::<UsageMessage>(&body) {
                events += usage.events.len();
            }
            bodies.push(body);
        }
    }
    panic!("the queue did not settle: {events} of {expected} events received");
}

/// Every event of `sent` in exactly one message, every message a usage message within the size
/// limit. Returns how many messages carried them.
fn assert_exactly_once(sent: &[UsageEvent], bodies: &[String]) -> usize {
    let mut seen: BTreeMap<String, (usize, UsageEvent)> = BTreeMap::new();
    for body in bodies {
        assert!(
            body.len() <= MESSAGE_BYTES_MAX,
            "a message of {} bytes",
            body.len()
        );
        let message: UsageMessage =
            serde_json::from_str(body).expect("every body is a UsageMessage");
        for event in message.events {
            seen.entry(event.id.clone()).or_insert((0, event.clone())).0 += 1;
        }
    }
    assert_eq!(seen.len(), sent.len(), "distinct events received");
    for event in sent {
        let (count, received) = &seen[&event.id];
        assert_eq!(*count, 1, "event {} arrived {count} times", event.id);
        assert_eq!(received, event);
    }
    bodies.len()
}

fn event(id: String, n: u64) -> UsageEvent {
    UsageEvent {
        id,
        user_id: format!("usr_{}", n % 7),
        metric: "api_calls".to_owned(),
        quantity: n,
        timestamp: "2027-01-10T00:00:00Z".parse().unwrap(),
    }
}

#[tokio::test]
async fn a_thousand_events_arrive_exactly_once_as_usage_messages() {
    let Some((client, queue_url)) = queue("thousand").await else {
        return;
    };
    let events: Vec<UsageEvent> = (0..1_000).map(|n| event(format!("evt-{n}"), n)).collect();
    let usage_queue = SqsUsageQueue::new(client.clone(), &queue_url);
    usage_queue.enqueue(events.clone()).await.unwrap();
    let bodies = receive_all(&client, &queue_url, events.len()).await;
    assert_eq!(assert_exactly_once(&events, &bodies), 1);
}

#[tokio::test]
async fn events_too_large_for_one_message_are_split_over_several_messages_and_calls() {
    let Some((client, queue_url)) = queue("large").await else {
        return;
    };
    // Ids of the largest allowed size (255 bytes) made of characters JSON escapes: each
    // serializes to ~500 bytes, so 2,500 of them fill several 256 KiB messages, and as each
    // message is nearly the size of a whole call, several calls.
    let events: Vec<UsageEvent> = (0..2_500)
        .map(|n| {
            let id = format!("{n:05}-{}", "\"\\".repeat(124));
            assert_eq!(id.len(), 254);
            event(id, n)
        })
        .collect();
    let report = SqsUsageQueue::new(client.clone(), &queue_url)
        .send(&events)
        .await
        .unwrap();
    assert!(
        report.messages >= 4 && report.calls >= 4,
        "{report:?} for ~1.3 MB of events"
    );
    let bodies = receive_all(&client, &queue_url, events.len()).await;
    assert_eq!(assert_exactly_once(&events, &bodies), report.messages);
}

#[tokio::test]
async fn json_bodies_are_sent_ten_per_call() {
    let Some((client, queue_url)) = queue("json").await else {
        return;
    };
    let bodies: Vec<serde_json::Value> = (0..25)
        .map(|n| serde_json::json!({"subscription_id": format!("sub_{n}")}))
        .collect();
    let report = send_json_batch(&client, &queue_url, &bodies).await.unwrap();
    assert_eq!((report.messages, report.calls), (25, 3));
    let mut received: Vec<serde_json::Value> = Vec::new();
    for _ in 0..50 {
        let answer = client
            .receive_message()
            .queue_url(&queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .visibility_timeout(600)
            .send()
            .await
            .unwrap();
        for message in answer.messages() {
            received.push(serde_json::from_str(message.body().unwrap()).unwrap());
        }
        if received.len() >= bodies.len() {
            break;
        }
    }
    let key = |v: &serde_json::Value| v["subscription_id"].as_str().unwrap().to_owned();
    let mut received: Vec<String> = received.iter().map(key).collect();
    let mut sent: Vec<String> = bodies.iter().map(key).collect();
    received.sort();
    sent.sort();
    assert_eq!(received, sent);
}

#[tokio::test]
async fn a_queue_that_does_not_exist_is_an_error_with_nothing_accepted() {
    let Some((client, queue_url)) = queue("missing").await else {
        return;
    };
    let missing = format!("{}-does-not-exist", queue_url);
    let events: Vec<UsageEvent> = (0..3).map(|n| event(format!("evt-{n}"), n)).collect();
    let usage_queue = SqsUsageQueue::new(client, missing);
    match usage_queue.send(&events).await {
        Err(billing_sqs::SqsError::Undelivered(billing_aws::Undelivered::Refused {
            accepted: 0,
            ..
        })) => {}
        other => panic!("expected a refusal with nothing accepted, got {other:?}"),
    }
    let error = usage_queue.enqueue(events).await.unwrap_err();
    // A 5xx for the client, whose message says nothing of SQS.
    assert!(matches!(
        error.kind(),
        billing_app::ErrorKind::Internal | billing_app::ErrorKind::Unavailable
    ));
    let public = error.public_message();
    assert!(
        !public.contains("SQS") && !public.contains("does-not-exist"),
        "{public}"
    );
}
