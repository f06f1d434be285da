//! Stripe's webhook deliveries (`POST /v1/webhooks/stripe`): the `Stripe-Signature` check and
//! the decoding of a `payment_intent.*` event into the gateway-neutral
//! [`PaymentEvent`] that `billing_app::webhooks::handle_payment_event` decides on. Pure: the
//! caller gives the time and the secret.

use billing_app::AppError;
use billing_app::webhooks::PaymentEvent;
use billing_core::payment::AttemptOutcome;
use billing_core::{FieldError, Timestamp};
use chrono::TimeZone;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;

use crate::outcome::ErrorDetail;

/// How far a signature's timestamp may be from the billing clock (API.md: 300 s).
pub const SIGNATURE_TOLERANCE_SECONDS: i64 = 300;

#[derive(Debug, Deserialize)]
struct Event {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    data: EventData,
}

#[derive(Debug, Deserialize)]
struct EventData {
    object: PaymentIntent,
}

#[derive(Debug, Deserialize)]
struct PaymentIntent {
    id: String,
    #[serde(default)]
    metadata: std::collections::HashMap<String, String>,
    #[serde(default)]
    last_payment_error: Option<ErrorDetail>,
}

fn bad_signature(message: &str) -> AppError {
    FieldError::new("Stripe-Signature", "invalid_signature", message).into()
}

/// Checks `Stripe-Signature: t=…,v1=…` against HMAC-SHA256 of `"{t}.{body}"` with `secret`,
/// in constant time, within the tolerance of `now`. Refusals are 400s naming the header.
pub fn verify_signature(
    secret: &str,
    header: Option<&str>,
    body: &[u8],
    now: Timestamp,
) -> Result<(), AppError> {
    let header = header.ok_or_else(|| bad_signature("the Stripe-Signature header is missing"))?;
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", value)) => timestamp = value.parse::<i64>().ok(),
            Some(("v1", value)) => signatures.push(value),
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or_else(|| bad_signature("the signature has no timestamp"))?;
    let signed_at = chrono::Utc
        .timestamp_opt(timestamp, 0)
        .single()
        .ok_or_else(|| bad_signature("the signature timestamp is not a time"))?;
    if (now - signed_at).num_seconds().abs() > SIGNATURE_TOLERANCE_SECONDS {
        return Err(bad_signature("the signature is too old or from the future"));
    }
    let expected = mac(secret, timestamp, body)?;
    let valid = signatures.iter().any(|signature| {
        hex::decode(signature).is_ok_and(|bytes| expected.clone().verify_slice(&bytes).is_ok())
    });
    if valid {
        Ok(())
    } else {
        Err(bad_signature("no signature matches"))
    }
}

fn mac(secret: &str, timestamp: i64, body: &[u8]) -> Result<Hmac<Sha256>, AppError> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
        .map_err(|error| AppError::internal("webhook secret unusable", error))?;
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    Ok(mac)
}

/// The `Stripe-Signature` header Stripe sends with `body` at `timestamp` (one `v1` signature):
/// what the tests, the soak and any local tool sign their deliveries with.
pub fn signature_header(secret: &str, timestamp: i64, body: &[u8]) -> String {
    // HMAC takes a key of any length, so this cannot fail; an empty header would not verify.
    let signature = mac(secret, timestamp, body)
        .map(|mac| hex::encode(mac.finalize().into_bytes()))
        .unwrap_or_default();
    format!("t={timestamp},v1={signature}")
}

/// Decodes a verified delivery: a `payment_intent.succeeded` is a success, a
/// `payment_intent.payment_failed` a failure with the decline code (the mapping the charge's
/// answer uses, [`crate::outcome_from_response`]), any other type an event with no outcome.
/// A body that is not a Stripe event about a PaymentIntent is a 400 naming the body.
pub fn decode_event(body: &[u8]) -> Result<PaymentEvent, AppError> {
    let event: Event = serde_json::from_slice(body).map_err(|e| {
        FieldError::new(
            "body",
            "invalid_event",
            format!("not a Stripe payment_intent event: {e}"),
        )
    })?;
    let intent = event.data.object;
    let outcome = match event.kind.as_str() {
        "payment_intent.succeeded" => Some(AttemptOutcome::Succeeded),
        "payment_intent.payment_failed" => Some(AttemptOutcome::Failed {
            failure_code: ErrorDetail::decline_code(intent.last_payment_error.as_ref()).to_owned(),
        }),
        _ => None,
    };
    Ok(PaymentEvent {
        gateway: crate::GATEWAY_NAME,
        event_id: event.id,
        payment_id: intent.id,
        invoice_id: intent.metadata.get("invoice_id").cloned(),
        outcome,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_signature_is_checked_against_body_secret_and_time() {
        let now: Timestamp = "2027-01-01T00:00:00Z".parse().unwrap();
        let t = now.timestamp();
        let body = br#"{"id":"evt_1"}"#;
        let sign = signature_header;
        verify_signature("whsec", Some(&sign("whsec", t, body)), body, now).unwrap();
        verify_signature(
            "whsec",
            Some(&format!("v1=00,{}", sign("whsec", t - 300, body))),
            body,
            now,
        )
        .unwrap();
        let refused = [
            verify_signature("whsec", None, body, now),
            verify_signature("other", Some(&sign("whsec", t, body)), body, now),
            verify_signature("whsec", Some(&sign("whsec", t, body)), b"{}", now),
            verify_signature("whsec", Some(&sign("whsec", t - 301, body)), body, now),
            verify_signature("whsec", Some(&sign("whsec", t + 301, body)), body, now),
            verify_signature("whsec", Some("t=abc,v1=zz"), body, now),
        ];
        for error in refused {
            let error = error.unwrap_err();
            assert_eq!(
                (error.code(), error.param()),
                ("invalid_signature", Some("Stripe-Signature"))
            );
        }
    }

    fn decoded(kind: &str, error: serde_json::Value) -> PaymentEvent {
        let body = serde_json::json!({
            "id": "evt_1",
            "type": kind,
            "data": {"object": {"id": "pi_1", "metadata": {"invoice_id": "inv_1"},
                                "last_payment_error": error}},
        });
        decode_event(body.to_string().as_bytes()).unwrap()
    }

    fn failure_code(error: serde_json::Value) -> String {
        match decoded("payment_intent.payment_failed", error).outcome {
            Some(AttemptOutcome::Failed { failure_code }) => failure_code,
            other => panic!("not a failure: {other:?}"),
        }
    }

    #[test]
    fn payment_intent_events_decode_to_outcomes_with_the_charges_decline_mapping() {
        let event = decoded("payment_intent.succeeded", serde_json::Value::Null);
        assert_eq!(
            event,
            PaymentEvent {
                gateway: "stripe",
                event_id: "evt_1".into(),
                payment_id: "pi_1".into(),
                invoice_id: Some("inv_1".into()),
                outcome: Some(AttemptOutcome::Succeeded),
            }
        );
        assert_eq!(
            decoded("charge.refunded", serde_json::Value::Null).outcome,
            None
        );
        let both =
            serde_json::json!({"decline_code": "insufficient_funds", "code": "card_declined"});
        assert_eq!(failure_code(both), "insufficient_funds");
        assert_eq!(
            failure_code(serde_json::json!({"code": "expired_card"})),
            "expired_card"
        );
        // An empty decline code is no reason: the error code, else the generic decline.
        assert_eq!(
            failure_code(serde_json::json!({"decline_code": "", "code": "expired_card"})),
            "expired_card"
        );
        assert_eq!(
            failure_code(serde_json::json!({"decline_code": ""})),
            "card_declined"
        );
        assert_eq!(failure_code(serde_json::Value::Null), "card_declined");
    }

    #[test]
    fn a_body_that_is_not_a_payment_intent_event_is_refused_naming_the_body() {
        for body in [
            &b"{}"[..],
            b"not json",
            br#"{"id":"e","type":"t","data":{}}"#,
        ] {
            let error = decode_event(body).unwrap_err();
            assert_eq!(
                (error.code(), error.param()),
                ("invalid_event", Some("body"))
            );
        }
    }
}
