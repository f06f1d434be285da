//! Payment webhooks: a gateway tells later what became of a payment (Stripe's
//! `payment_intent.succeeded` / `payment_intent.payment_failed`, verified and decoded by
//! `billing_stripe::webhook`). What it means is decided here: the invoice named by the event
//! is completed with that outcome, and a redelivered event changes nothing.

use billing_core::invoice::InvoiceStatus;
use billing_core::payment::AttemptOutcome;
use billing_ledger::{Change, Conflict};

use crate::context::{Actor, App};
use crate::error::AppError;
use crate::invoices::record_attempt;

/// Longest event or invoice id a delivery may name. Stripe's event ids are about 30
/// characters and ours `inv_` and 24 more; a longer one cannot be a key of the table (whose
/// keys stop at 2048 bytes), so it is refused (an event) or matches no invoice, rather than
/// failing the store with a 5xx that makes the gateway deliver it again forever.
pub const ID_BYTES_MAX: usize = 255;

/// What the endpoint answers: whether this delivery changed anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookOutcome {
    Processed,
    /// The event id was processed before: nothing changes.
    Redelivered,
}

/// A gateway's event about a payment, in no gateway's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentEvent {
    /// The gateway's name (`stripe`): the payment's gateway and the audit actor `webhook:{name}`.
    pub gateway: &'static str,
    /// The gateway's id of the event: a redelivery carries the same one.
    pub event_id: String,
    /// The gateway's id of the payment (the recorded payment's `gateway_txn_id`).
    pub payment_id: String,
    /// The invoice the charge was for, as the charge request named it.
    pub invoice_id: Option<String>,
    /// `None`: an event about something else, remembered and otherwise ignored.
    pub outcome: Option<AttemptOutcome>,
}

/// Handles one verified, decoded delivery.
pub async fn handle_payment_event(
    app: &App,
    event: &PaymentEvent,
) -> Result<WebhookOutcome, AppError> {
    // The payment's id becomes the payment's gateway id, a key too.
    let ids = [&event.event_id, &event.payment_id];
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
    if app.ledger.webhook_processed(&event.event_id).await? {
        return Ok(WebhookOutcome::Redelivered);
    }
    let actor = Actor(format!("webhook:{}", event.gateway));
    let now = app.clock.now().await?;
    let invoice_id = event
        .invoice_id
        .as_ref()
        .filter(|id| id.len() <= ID_BYTES_MAX);
    let mut change = Change::new();
    change
        .mark_webhook_processed(&event.event_id, now)
        .map_err(AppError::from)?;
    if let (Some(outcome), Some(invoice_id)) = (&event.outcome, invoice_id)
        && let Some(read) = app.ledger.invoice(invoice_id).await?
        && read.value.status == InvoiceStatus::Open
    {
        record_attempt(
            app,
            &mut change,
            &read,
            outcome,
            event.gateway,
            Some(event.payment_id.clone()),
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
                .mark_webhook_processed(&event.event_id, now)
                .map_err(AppError::from)?;
            match app.ledger.commit(change).await {
                Ok(()) => Ok(WebhookOutcome::Processed),
                Err(error)
                    if error
                        .has_conflict(|c| matches!(c, Conflict::WebhookEventProcessed { .. })) =>
                {
                    Ok(WebhookOutcome::Redelivered)
                }
                // Not recorded: a 5xx makes the gateway deliver the event again.
                Err(error) => Err(error.into()),
            }
        }
        Err(error) => Err(error.into()),
    }
}
