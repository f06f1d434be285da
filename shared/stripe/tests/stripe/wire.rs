//! What the gateway puts on the wire, and what it makes of no answer, checked against a tiny
//! local HTTP server (stripe-mock neither echoes headers in a way the gateway returns, nor
//! hangs or fails on demand).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use billing_app::ports::{ChargeOutcome, ChargeRequest, PaymentGateway};
use billing_stripe::{STRIPE_API_VERSION, StripeConfig, StripeGateway, payment_intent_params};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const KEY: &str = "sk_test_wire_0123456789";

fn request() -> ChargeRequest {
    ChargeRequest {
        invoice_id: "inv_1".into(),
        user_id: "usr_1".into(),
        amount_cents: 1250,
        currency: "EUR".into(),
        payment_method: Some("pm_card_visa".into()),
        idempotency_key: "inv_1-attempt-3".into(),
    }
}

fn gateway(base: String, timeout: Duration) -> StripeGateway {
    let mut config = StripeConfig::new(KEY);
    config.api_base = base;
    config.timeout = timeout;
    StripeGateway::new(config).unwrap()
}

/// One raw HTTP/1.1 request as the server received it.
struct Received {
    head: String,
    body: String,
}

impl Received {
    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.eq_ignore_ascii_case(name).then_some(value.trim())
        })
    }
}

/// Serves one connection: reads one request and answers `status` with `answer`, then hands the
/// request over.
async fn answer_once(
    status: &'static str,
    answer: &'static str,
) -> (String, tokio::task::JoinHandle<Received>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut raw = Vec::new();
        let mut chunk = [0_u8; 4096];
        let (head, body) = loop {
            let read = socket.read(&mut chunk).await.unwrap();
            assert!(read > 0, "the client closed before a whole request");
            raw.extend_from_slice(&chunk[..read]);
            let text = String::from_utf8_lossy(&raw).into_owned();
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                let length: usize = head
                    .lines()
                    .find_map(|line| {
                        let (key, value) = line.split_once(':')?;
                        key.eq_ignore_ascii_case("content-length")
                            .then(|| value.trim().parse().unwrap())
                    })
                    .unwrap_or(0);
                if body.len() >= length {
                    break (head.to_owned(), body.to_owned());
                }
            }
        };
        let response = format!(
            "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nRequest-Id: req_wire\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{answer}",
            answer.len()
        );
        socket.write_all(response.as_bytes()).await.unwrap();
        socket.shutdown().await.ok();
        Received { head, body }
    });
    (base, server)
}

const SUCCEEDED: &str = r#"{"id": "pi_wire", "object": "payment_intent", "status": "succeeded", "last_payment_error": null}"#;

#[tokio::test]
async fn the_charge_is_an_authenticated_idempotent_form_post() {
    let (base, server) = answer_once("200 OK", SUCCEEDED).await;
    let outcome = gateway(base, Duration::from_secs(10))
        .charge(&request())
        .await;
    assert_eq!(
        outcome,
        ChargeOutcome::Succeeded {
            gateway_txn_id: "pi_wire".into()
        }
    );

    let received = server.await.unwrap();
    assert!(
        received
            .head
            .starts_with("POST /v1/payment_intents HTTP/1.1\r\n"),
        "{}",
        received.head
    );
    assert_eq!(
        received.header("authorization"),
        Some(format!("Bearer {KEY}").as_str())
    );
    assert_eq!(received.header("idempotency-key"), Some("inv_1-attempt-3"));
    assert_eq!(received.header("stripe-version"), Some(STRIPE_API_VERSION));
    assert_eq!(
        received.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    let sent: Vec<(String, String)> = form_urlencoded::parse(received.body.as_bytes())
        .into_owned()
        .collect();
    assert_eq!(sent, payment_intent_params(&request()));
    assert!(sent.contains(&("currency".into(), "eur".into())));
}

#[tokio::test]
async fn a_server_error_is_transient_and_its_message_never_shows_the_key() {
    let (base, server) = answer_once(
        "500 Internal Server Error",
        r#"{"error": {"message": "Sorry, something went wrong (sk_test_wire_0123456789).", "type": "api_error"}}"#,
    )
    .await;
    let outcome = gateway(base, Duration::from_secs(10))
        .charge(&request())
        .await;
    server.await.unwrap();
    match outcome {
        ChargeOutcome::Transient { message } => {
            assert!(message.contains("500"), "{message}");
            assert!(!message.contains(KEY), "{message}");
        }
        other => panic!("a 500 is transient: {other:?}"),
    }
}

#[tokio::test]
async fn no_answer_in_time_is_transient() {
    // Accepts and reads, never answers.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut sink = Vec::new();
        // Ends when the client gives up and closes.
        socket.read_to_end(&mut sink).await.ok();
    });
    let outcome = gateway(base, Duration::from_millis(300))
        .charge(&request())
        .await;
    match outcome {
        ChargeOutcome::Transient { message } => {
            assert!(message.contains("timed out"), "{message}");
            assert!(!message.contains(KEY), "{message}");
        }
        other => panic!("a timeout is transient: {other:?}"),
    }
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .expect("the client closed the connection")
        .unwrap();
}

#[tokio::test]
async fn a_refused_connection_is_transient() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let outcome = gateway(base, Duration::from_secs(10))
        .charge(&request())
        .await;
    match outcome {
        ChargeOutcome::Transient { message } => {
            assert!(message.contains("could not connect"), "{message}");
        }
        other => panic!("a refused connection is transient: {other:?}"),
    }
}

#[tokio::test]
async fn an_idempotency_key_that_cannot_be_sent_is_a_decline_not_a_retry() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let mut request = request();
    request.idempotency_key = "inv_1\nattempt-1".into();
    assert_eq!(
        gateway(base, Duration::from_secs(10))
            .charge(&request)
            .await,
        ChargeOutcome::Declined {
            code: "invalid_idempotency_key".into(),
            gateway_txn_id: None,
        }
    );
}
