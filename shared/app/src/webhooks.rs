//! Stripe webhooks (`POST /v1/webhooks/stripe`): the signature is checked instead of a token,
//! `payment_intent.succeeded` / `payment_intent.payment_failed` complete the invoice named in
//! `metadata.invoice_id`, and a redelivered event changes nothing.

use billing_core::Timestamp;
use billing_core::invoice::InvoiceStatus;
use billing_core::payment::AttemptOutcome;
use billing_ledger::{Change, Conflict};
use chrono::TimeZone;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;

use crate::context::{Actor, App};
use crate::error::AppError;
use crate::invoices::record_attempt;

/// How far a signature's timestamp may be from the billing clock (API.md: 300 s).
pub const SIGNATURE_TOLERANCE_SECONDS: i64 = 300;

/// Longest event or invoice id a delivery may name. Stripe's event ids are about 30
/// characters and ours `inv_` and 24 more; a longer one cannot be a key of the table (whose
/// keys stop at 2048 bytes), so it is refused (an event) or matches no invoice, rather than
/// failing the store with a 5xx that makes Stripe deliver it again forever.
pub const ID_BYTES_MAX: usize = 255;

/// What the endpoint answers: whether this delivery changed anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookOutcome {
    Processed,
    /// The event id was processed before: nothing changes.
    Redelivered,
}

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
    last_payment_error: Option<PaymentError>,
}

#[derive(Debug, Deserialize)]
struct PaymentError {
    #[serde(default)]
    decline_code: Option<String>,
    #[serde(default)]
    code: Option<String>,
}

fn bad_signature(message: &str) -> AppError {
    billing_core::FieldError::new("Stripe-Signature", "invalid_signature", message).into()
}

/// Checks `Stripe-Signature: t=…,v1=…` against HMAC-SHA256 of `"{t}.{body}"` with `secret`,
/// in constant time, within the tolerance of `now`.
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
    let mut expected = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
        .map_err(|_| AppError::Internal("webhook secret unusable".into()))?;
    expected.update(timestamp.to_string().as_bytes());
    expected.update(b".");
    expected.update(body);
    let valid = signatures.iter().any(|signature| {
        decode_hex(signature).is_some_and(|bytes| expected.clone().verify_slice(&bytes).is_ok())
    });
    if valid {
        Ok(())
    } else {
        Err(bad_signature("no signature matches"))
    }
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Handles one verified delivery.
pub async fn handle_stripe_event(app: &App, body: &[u8]) -> Result<WebhookOutcome, AppError> {
    let event: Event = serde_json::from_slice(body).map_err(|e| {
        billing_core::FieldError::new(
            "body",
            "invalid_event",
            format!("not a Stripe payment_intent event: {e}"),
        )
    })?;
    // The payment intent's id becomes the payment's gateway id, a key too.
    let ids = [&event.id, &event.data.object.id];
    if ids
        .iter()
        .any(|id| id.is_empty() || id.len() > ID_BYTES_MAX)
    {
        return Err(billing_core::FieldError::new(
            "body",
            "invalid_event",
            format!("the event and payment intent ids must be 1 to {ID_BYTES_MAX} bytes"),
        )
        .into());
    }
    if app.ledger.webhook_processed(&event.id).await? {
        return Ok(WebhookOutcome::Redelivered);
    }
    let actor = Actor("webhook:stripe".into());
    let now = app.clock.now().await?;
    let outcome = match event.kind.as_str() {
        "payment_intent.succeeded" => Some(AttemptOutcome::Succeeded),
        "payment_intent.payment_failed" => {
            let error = event.data.object.last_payment_error.as_ref();
            let code = error
                .and_then(|e| e.decline_code.clone().or_else(|| e.code.clone()))
                .unwrap_or_else(|| "card_declined".to_owned());
            Some(AttemptOutcome::Failed { failure_code: code })
        }
        _ => None,
    };
    let invoice_id = event
        .data
        .object
        .metadata
        .get("invoice_id")
        .filter(|id| id.len() <= ID_BYTES_MAX);
    let mut change = Change::new();
    change
        .mark_webhook_processed(&event.id, now)
        .map_err(AppError::from)?;
    if let (Some(outcome), Some(invoice_id)) = (outcome, invoice_id)
        && let Some(read) = app.ledger.invoice(invoice_id).await?
        && read.value.status == InvoiceStatus::Open
    {
        record_attempt(
            app,
            &mut change,
            &read,
            &outcome,
            "stripe",
            Some(event.data.object.id.clone()),
            now,
            &actor,
        )
        .await?;
    }
    match app.ledger.commit(change).await {
        Ok(()) => Ok(WebhookOutcome::Processed),
        Err(error)
            if error.has_conflict(|c| matches!(c, Conflict::WebhookEventProcessed { .. })) =>
        {
            Ok(WebhookOutcome::Redelivered)
        }
        // The charge was recorded by the attempt that made it: only remember the event.
        Err(error) if error.has_conflict(|c| matches!(c, Conflict::PaymentRecorded { .. })) => {
            let mut change = Change::new();
            change
                .mark_webhook_processed(&event.id, now)
                .map_err(AppError::from)?;
            match app.ledger.commit(change).await {
                Ok(()) => Ok(WebhookOutcome::Processed),
                Err(error)
                    if error
                        .has_conflict(|c| matches!(c, Conflict::WebhookEventProcessed { .. })) =>
                {
                    Ok(WebhookOutcome::Redelivered)
                }
                // Not recorded: a 5xx makes Stripe deliver the event again.
                Err(error) => Err(error.into()),
            }
        }
        Err(error) => Err(error.into()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(format!("{timestamp}.").as_bytes());
        mac.update(body);
        let hex: String = mac
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        format!("t={timestamp},v1={hex}")
    }

    #[test]
    fn a_signature_is_checked_against_body_secret_and_time() {
        let now: Timestamp = "2027-01-01T00:00:00Z".parse().unwrap();
        let t = now.timestamp();
        let body = br#"{"id":"evt_1"}"#;
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
}
