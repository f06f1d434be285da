//! The gateway against stripe-mock, Stripe's own API mock: it validates every request against
//! Stripe's OpenAPI description (a misnamed parameter or a bad value is a 400) and answers fixed
//! objects. Start it with `infra/stripe-mock.sh`, then set `STRIPE_API_BASE` and
//! `STRIPE_API_KEY=sk_test_123`. Without `STRIPE_API_BASE` these tests are skipped — unless
//! `BILLING_REQUIRE_STRIPE_MOCK=1`, where they fail, so the project's test command always really
//! runs them. The tests that must not reach Stripe at all run everywhere.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use billing_app::ports::{ChargeOutcome, ChargeRequest, PaymentGateway};
use billing_stripe::{
    DEFAULT_API_BASE, StripeConfig, StripeGateway, outcome_from_response, payment_intent_params,
};

/// stripe-mock's configuration from the environment, or `None` (skip) when it is not running.
fn stripe_mock(case: &str) -> Option<StripeConfig> {
    let base = std::env::var("STRIPE_API_BASE").unwrap_or_default();
    if base.trim().is_empty() {
        let required = std::env::var("BILLING_REQUIRE_STRIPE_MOCK").is_ok_and(|v| v == "1");
        assert!(
            !required,
            "BILLING_REQUIRE_STRIPE_MOCK=1 but STRIPE_API_BASE is unset: start stripe-mock \
             (`$(infra/stripe-mock.sh) -http-addr 127.0.0.1:PORT`) and set \
             STRIPE_API_BASE=http://127.0.0.1:PORT STRIPE_API_KEY=sk_test_123"
        );
        eprintln!(
            "skipped stripe_mock::{case}: STRIPE_API_BASE is unset (no stripe-mock to talk to)"
        );
        return None;
    }
    let config = StripeConfig::from_env().expect("STRIPE_API_KEY is set next to STRIPE_API_BASE");
    // These tests assert stripe-mock's fixed answers; they are not meant to create real
    // PaymentIntents.
    assert_ne!(
        config.api_base.trim_end_matches('/'),
        DEFAULT_API_BASE,
        "STRIPE_API_BASE must point at stripe-mock, not at Stripe"
    );
    Some(config)
}

fn request(payment_method: Option<&str>) -> ChargeRequest {
    ChargeRequest {
        invoice_id: "inv_0123456789".into(),
        user_id: "usr_0123456789".into(),
        amount_cents: 2900,
        currency: "USD".into(),
        payment_method: payment_method.map(str::to_owned),
        idempotency_key: "inv_0123456789-attempt-1".into(),
    }
}

/// A local address where nothing listens: any call to it is refused at once.
fn refusing_base() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}

#[test]
fn the_gateway_is_named_stripe() {
    let gateway = StripeGateway::new(StripeConfig::new("sk_test_123")).unwrap();
    assert_eq!(gateway.name(), "stripe");
}

#[tokio::test]
async fn a_user_without_a_payment_method_declines_without_calling_stripe() {
    let mut config = StripeConfig::new("sk_test_123");
    config.api_base = refusing_base();
    let gateway = StripeGateway::new(config).unwrap();

    // The control: a charge that does call Stripe at this base gets no answer.
    let called = gateway.charge(&request(Some("pm_card_visa"))).await;
    assert!(
        matches!(called, ChargeOutcome::Transient { .. }),
        "the base refuses connections: {called:?}"
    );

    // So a decision here was made without a call.
    for payment_method in [None, Some(""), Some("  ")] {
        assert_eq!(
            gateway.charge(&request(payment_method)).await,
            ChargeOutcome::Declined {
                code: "no_payment_method".into(),
                gateway_txn_id: None,
            },
            "{payment_method:?}"
        );
    }
}

#[tokio::test]
async fn stripe_mock_accepts_the_charge_and_its_answer_is_mapped() {
    let Some(config) = stripe_mock("stripe_mock_accepts_the_charge_and_its_answer_is_mapped")
    else {
        return;
    };
    let gateway = StripeGateway::new(config).unwrap();
    let outcome = gateway.charge(&request(Some("pm_card_visa"))).await;
    // stripe-mock answers every valid create with its fixture PaymentIntent: status
    // `requires_payment_method`, a `last_payment_error` without code or decline code. That is a
    // generic decline on a real PaymentIntent id; a refused request would have had no id.
    match outcome {
        ChargeOutcome::Declined {
            code,
            gateway_txn_id: Some(txn),
        } => {
            assert_eq!(code, "card_declined");
            assert!(txn.starts_with("pi_"), "{txn}");
        }
        other => panic!("stripe-mock's PaymentIntent was not mapped as expected: {other:?}"),
    }
}

#[tokio::test]
async fn stripe_mock_answers_the_mapping_expects() {
    let Some(config) = stripe_mock("stripe_mock_answers_the_mapping_expects") else {
        return;
    };
    // The same request by hand, to read stripe-mock's raw answer: the mapping's input.
    let params = payment_intent_params(&request(Some("pm_card_visa")));
    let response = reqwest::Client::new()
        .post(format!(
            "{}/v1/payment_intents",
            config.api_base.trim_end_matches('/')
        ))
        .bearer_auth(&config.api_key)
        .form(&params)
        .send()
        .await
        .expect("stripe-mock answers");
    let status = response.status().as_u16();
    let body = response.text().await.unwrap();
    assert_eq!(status, 200, "{body}");
    let intent: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(intent["object"], "payment_intent");
    assert_eq!(intent["status"], "requires_payment_method");
    let id = intent["id"].as_str().unwrap();
    assert_eq!(
        outcome_from_response(status, &body),
        ChargeOutcome::Declined {
            code: "card_declined".into(),
            gateway_txn_id: Some(id.to_owned()),
        }
    );
}

#[tokio::test]
async fn a_malformed_request_is_reported_as_an_invalid_request_not_a_charge() {
    let Some(config) =
        stripe_mock("a_malformed_request_is_reported_as_an_invalid_request_not_a_charge")
    else {
        return;
    };
    let gateway = StripeGateway::new(config).unwrap();
    let good = payment_intent_params(&request(Some("pm_card_visa")));

    // A misnamed parameter, and a value outside the parameter's enum: what a typo in
    // `payment_intent_params` would send.
    let misnamed: Vec<(String, String)> = good
        .iter()
        .map(|(name, value)| {
            let name = if name == "off_session" {
                "offsession".to_owned()
            } else {
                name.clone()
            };
            (name, value.clone())
        })
        .collect();
    let bad_value: Vec<(String, String)> = good
        .iter()
        .map(|(name, value)| {
            let value = if name == "automatic_payment_methods[allow_redirects]" {
                "sometimes".to_owned()
            } else {
                value.clone()
            };
            (name.clone(), value)
        })
        .collect();

    for params in [misnamed, bad_value] {
        assert_eq!(
            gateway
                .create_payment_intent("inv_0123456789-attempt-1", &params)
                .await,
            ChargeOutcome::Declined {
                code: "invalid_request_error".into(),
                gateway_txn_id: None,
            },
            "{params:?}"
        );
    }
}

#[tokio::test]
async fn a_key_stripe_does_not_accept_is_an_authentication_error() {
    let Some(mut config) = stripe_mock("a_key_stripe_does_not_accept_is_an_authentication_error")
    else {
        return;
    };
    // stripe-mock accepts any key that looks like a test secret key, and nothing else.
    config.api_key = "not_a_stripe_key".into();
    let gateway = StripeGateway::new(config).unwrap();
    assert_eq!(
        gateway.charge(&request(Some("pm_card_visa"))).await,
        ChargeOutcome::Declined {
            code: "authentication_error".into(),
            gateway_txn_id: None,
        }
    );
}
