//! Fuzz target of the Stripe webhook (issue 19.3), run with `bolero`: as a normal test it
//! replays `tests/stripe/__fuzz__/fuzz__stripe_webhook/corpus` and tries random inputs for a few seconds;
//! `cargo bolero test -p billing-stripe --test stripe fuzz::stripe_webhook` fuzzes it for real.
//!
//! The input is a `Stripe-Signature` header (its first line) and a body (the rest). Properties:
//! verification never panics and refuses what the secret did not sign; a body that verifies
//! (the input's body, signed) is decoded and handled by the app, or refused as a 400, never a
//! panic or a 5xx, and a second delivery of a handled event changes nothing.
#![allow(clippy::unwrap_used)]

use crate::common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use billing_app::webhooks::{WebhookOutcome, handle_payment_event};
use billing_app::{App, AppError, ErrorKind};
use billing_ledger::Ledger;
use billing_store::EmbeddedTable;
use billing_stripe::webhook::{decode_event, signature_header, verify_signature};

const SECRET: &str = "whsec_fuzz";
const TEST_TIME: Duration = Duration::from_secs(3);

fn sign(timestamp: i64, body: &[u8]) -> String {
    signature_header(SECRET, timestamp, body)
}

/// What the endpoint does with a verified delivery: decode it, then let the app decide.
async fn handle_stripe_event(app: &App, body: &[u8]) -> Result<WebhookOutcome, AppError> {
    handle_payment_event(app, &decode_event(body)?).await
}

fn is_clean_refusal(error: &AppError) -> bool {
    error.kind() == ErrorKind::InvalidRequest
}

#[test]
fn stripe_webhook() {
    static INPUTS: AtomicU64 = AtomicU64::new(0);
    static HANDLED: AtomicU64 = AtomicU64::new(0);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let app = runtime.block_on(async {
        let ledger = Ledger::new(Arc::new(EmbeddedTable::open(dir.path()).unwrap()));
        let app = common::app_on(ledger);
        common::set_clock(&app, "2027-01-01T00:00:00Z").await;
        app
    });
    let now = common::at("2027-01-01T00:00:00Z");
    // A failing input panics and ends the run: nothing observes the state after it.
    let rig = std::panic::AssertUnwindSafe((&runtime, &app));
    bolero::check!()
        .with_test_time(TEST_TIME)
        .for_each(|input: &[u8]| {
            let (runtime, app) = *rig;
            INPUTS.fetch_add(1, Ordering::Relaxed);
            let split = input
                .iter()
                .position(|b| *b == b'\n')
                .unwrap_or(input.len());
            let (header, body) = (&input[..split], input.get(split + 1..).unwrap_or(&[]));
            let header = String::from_utf8_lossy(header);
            // Whatever the header says, it cannot carry a signature of this secret.
            let refused = verify_signature(SECRET, Some(&header), body, now);
            assert!(
                refused.as_ref().is_err_and(is_clean_refusal),
                "{header:?} verified: {refused:?}"
            );
            // The same body, signed: it verifies, and is then handled or refused cleanly.
            let signature = sign(now.timestamp(), body);
            verify_signature(SECRET, Some(&signature), body, now).unwrap();
            runtime.block_on(async {
                match handle_stripe_event(app, body).await {
                    Ok(_) => {
                        HANDLED.fetch_add(1, Ordering::Relaxed);
                        let again = handle_stripe_event(app, body).await;
                        assert_eq!(
                            again.as_ref().ok(),
                            Some(&WebhookOutcome::Redelivered),
                            "{:?}: {again:?}",
                            String::from_utf8_lossy(body)
                        );
                    }
                    Err(error) => assert!(
                        is_clean_refusal(&error),
                        "{:?} answered {:?}: {error}",
                        String::from_utf8_lossy(body),
                        error.kind()
                    ),
                }
            });
        });
    eprintln!(
        "fuzz stripe_webhook: {} inputs ({} events handled), 0 findings",
        INPUTS.load(Ordering::Relaxed),
        HANDLED.load(Ordering::Relaxed)
    );
}

type EventInput = (u8, u8, u8, String, Option<(u8, String)>);

/// Deliveries built from typed fields, naming open invoices of real subscriptions, so the
/// payment path runs: handled or refused cleanly, and a second delivery changes nothing.
#[test]
fn stripe_webhook_events() {
    static INPUTS: AtomicU64 = AtomicU64::new(0);
    static HANDLED: AtomicU64 = AtomicU64::new(0);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (app, invoices) = runtime.block_on(async {
        let ledger = Ledger::new(Arc::new(EmbeddedTable::open(dir.path()).unwrap()));
        let app = common::app_on(ledger);
        common::set_clock(&app, "2027-01-01T00:00:00Z").await;
        common::plan(&app, "pro", 2900, false).await;
        let mut invoices = Vec::new();
        for n in 0..4 {
            let user = common::user(&app, &format!("w{n}@example.com"), "pm_card_declined").await;
            let subscription = common::subscribe(&app, &user, "pro").await.subscription;
            let invoice = common::invoices_of(&app, &subscription.id).await;
            invoices.push(invoice[0].id.clone());
        }
        (app, invoices)
    });
    let now = common::at("2027-01-01T00:00:00Z");
    let rig = std::panic::AssertUnwindSafe((&runtime, &app, &invoices));
    bolero::check!()
        .with_test_time(TEST_TIME)
        .with_type::<EventInput>()
        .for_each(|(id, kind, invoice, intent, error)| {
            let (runtime, app, invoices) = *rig;
            INPUTS.fetch_add(1, Ordering::Relaxed);
            let kind = [
                "payment_intent.succeeded",
                "payment_intent.payment_failed",
                "charge.refunded",
                "",
            ][usize::from(*kind % 4)];
            let invoice_id = match invoice % 6 {
                0..=3 => invoices[usize::from(invoice % 4)].clone(),
                4 => intent.clone(),
                _ => format!("inv_{}", "0".repeat(usize::from(*invoice))),
            };
            let mut object = serde_json::json!({
                "id": if id % 3 == 0 { intent.clone() } else { format!("pi_{id}") },
                "metadata": {"invoice_id": invoice_id},
            });
            if let Some((code, text)) = error {
                object["last_payment_error"] = match code % 3 {
                    0 => serde_json::json!({"decline_code": text}),
                    1 => serde_json::json!({"code": text}),
                    _ => serde_json::json!({}),
                };
            }
            let body = serde_json::json!({
                "id": format!("evt_{}", id % 32),
                "type": kind,
                "data": {"object": object},
            })
            .to_string();
            let body = body.as_bytes();
            verify_signature(SECRET, Some(&sign(now.timestamp(), body)), body, now).unwrap();
            runtime.block_on(async {
                match handle_stripe_event(app, body).await {
                    Ok(_) => {
                        HANDLED.fetch_add(1, Ordering::Relaxed);
                        let again = handle_stripe_event(app, body).await;
                        assert_eq!(again.ok(), Some(WebhookOutcome::Redelivered));
                    }
                    Err(error) => assert!(
                        is_clean_refusal(&error),
                        "{:?} answered {:?}: {error}",
                        String::from_utf8_lossy(body),
                        error.kind()
                    ),
                }
            });
        });
    eprintln!(
        "fuzz stripe_webhook_events: {} inputs ({} events handled), 0 findings",
        INPUTS.load(Ordering::Relaxed),
        HANDLED.load(Ordering::Relaxed)
    );
}
