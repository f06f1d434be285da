//! Invoices and payments: lists, pay now, void, credit and debit notes, and the payment
//! attempt the payment run shares with "pay now".

use billing_core::audit::AuditAction;
use billing_core::invoice::{CreditNote, Invoice, InvoiceStatus};
use billing_core::payment::{
    AttemptOutcome, Payment, PaymentStatus, PendingAttempt, SubscriptionEffect,
    attempt_idempotency_key,
};
use billing_core::{FieldError, Timestamp};
use billing_ledger::{Change, InvoiceFilter, Listing, PageRequest, Versioned};
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::context::{Actor, App};
use crate::error::AppError;
use crate::ids;
use crate::ports::{ChargeOutcome, ChargeRequest};
use crate::support::{
    Attempt, NumberBlock, audit, finalize_invoice, retry_races, write_user_if_changed,
};

#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NoteRequest {
    // Bounds of billing_core::invoice's validate_note (MAX_AMOUNT_CENTS, MAX_REASON_LEN).
    #[cfg_attr(
        feature = "openapi",
        schema(minimum = 1, maximum = 1_000_000_000_000_i64)
    )]
    pub amount_cents: i64,
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 500, pattern = "[^ \\t\\n\\r\\f\\v]")
    )]
    pub reason: String,
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InvoiceWithPayment {
    pub invoice: Invoice,
    pub payment: Payment,
}

pub fn parse_status(status: Option<&str>) -> Result<Option<InvoiceStatus>, AppError> {
    status
        .map(|s| {
            InvoiceStatus::parse(s).ok_or_else(|| {
                FieldError::new(
                    "status",
                    "invalid_value",
                    "must be open, paid, void or uncollectible",
                )
                .into()
            })
        })
        .transpose()
}

async fn read_invoice(app: &App, id: &str) -> Result<Versioned<Invoice>, AppError> {
    app.ledger
        .invoice(id)
        .await?
        .ok_or_else(|| AppError::not_found("invoice", id))
}

async fn read_user(app: &App, id: &str) -> Result<Versioned<billing_core::user::User>, AppError> {
    app.ledger
        .user(id)
        .await?
        .ok_or_else(|| AppError::not_found("user", id))
}

pub async fn list_invoices(
    app: &App,
    filter: &InvoiceFilter,
    page: &PageRequest,
) -> Result<Listing<Invoice>, AppError> {
    Ok(app.ledger.invoices(filter, page).await?)
}

pub async fn get_invoice(app: &App, id: &str) -> Result<Invoice, AppError> {
    app.ledger
        .invoice(id)
        .await?
        .map(|i| i.value)
        .ok_or_else(|| AppError::not_found("invoice", id))
}

pub async fn list_payments(
    app: &App,
    invoice_id: Option<&str>,
    user_id: Option<&str>,
    page: &PageRequest,
) -> Result<Listing<Payment>, AppError> {
    Ok(app.ledger.payments(invoice_id, user_id, page).await?)
}

pub async fn void_invoice(app: &App, id: &str, actor: &Actor) -> Result<Invoice, AppError> {
    retry_races(|| async {
        let read = read_invoice(app, id).await?;
        let now = app.clock.now().await?;
        let mut invoice = read.value.clone();
        let action = invoice.void(now)?;
        let mut change = Change::new();
        change.update_invoice(&read, &invoice)?;
        audit(&mut change, action, id, actor, now, serde_json::json!({}))?;
        // Voiding stops its collection: a subscription past due on it alone is active again.
        if let Some(subscription_id) = &invoice.subscription_id {
            settle_subscription(
                app,
                &mut change,
                subscription_id,
                SubscriptionEffect::Recover,
                id,
                now,
                actor,
            )
            .await?;
        }
        app.ledger.commit(change).await?;
        Ok(invoice)
    })
    .await
}

/// A credit note on a paid invoice: the amount goes to the user's credit balance. The invoice
/// is rewritten (its version bumped) in the same change, so two concurrent notes cannot both
/// pass the cap.
pub async fn create_credit_note(
    app: &App,
    id: &str,
    request: NoteRequest,
    actor: &Actor,
) -> Result<CreditNote, AppError> {
    retry_races(|| async {
        let read = read_invoice(app, id).await?;
        let already: i64 = app
            .ledger
            .credit_notes(id)
            .await
            .map_err(AppError::from)?
            .iter()
            .map(|n| n.amount_cents)
            .sum();
        read.value
            .check_credit_note(already, request.amount_cents, &request.reason)?;
        let now = app.clock.now().await?;
        let note = CreditNote {
            id: ids::new_id(ids::CREDIT_NOTE),
            invoice_id: id.to_owned(),
            amount_cents: request.amount_cents,
            reason: request.reason.trim().to_owned(),
            created_at: now,
        };
        let user_read = read_user(app, &read.value.user_id).await?;
        let mut user = user_read.value.clone();
        user.credit_balance_cents = user.credit_balance_cents.saturating_add(note.amount_cents);
        let mut change = Change::new();
        change.update_invoice(&read, &read.value)?;
        change.create_credit_note(&note)?;
        change.update_user(&user, user_read.version)?;
        audit(
            &mut change,
            AuditAction::CreditNoteCreated,
            &note.id,
            actor,
            now,
            serde_json::json!({"invoice_id": id, "amount_cents": note.amount_cents}),
        )?;
        app.ledger.commit(change).await?;
        Ok(note)
    })
    .await
}

/// A debit note on a paid invoice: a new open invoice with one adjustment line naming it.
pub async fn create_debit_note(
    app: &App,
    id: &str,
    request: NoteRequest,
    actor: &Actor,
) -> Result<Invoice, AppError> {
    retry_races(|| async {
        let original = read_invoice(app, id).await?.value;
        let draft = original.debit_note(request.amount_cents, &request.reason)?;
        let now = app.clock.now().await?;
        let user_read = read_user(app, &original.user_id).await?;
        let mut user = user_read.value.clone();
        let mut change = Change::new();
        let mut numbers = NumberBlock::take(app).await?;
        let invoice = finalize_invoice(&mut change, draft, &mut user, &mut numbers, now, actor)?;
        numbers.commit_into(&mut change);
        write_user_if_changed(&mut change, &user_read, &user)?;
        audit(
            &mut change,
            AuditAction::DebitNoteCreated,
            &invoice.id,
            actor,
            now,
            serde_json::json!({"related_invoice_id": id, "amount_cents": request.amount_cents}),
        )?;
        app.ledger.commit(change).await?;
        app.metrics.invoices_created(1);
        Ok(invoice)
    })
    .await
}

/// Charges an open invoice now (`POST /v1/invoices/{id}/pay`). A decline is returned as
/// [`AppError::PaymentDeclined`] carrying the recorded payment.
pub async fn pay_invoice(
    app: &App,
    id: &str,
    actor: &Actor,
) -> Result<InvoiceWithPayment, AppError> {
    let now = app.clock.now().await?;
    let result = attempt_payment(app, id, now, actor).await?;
    if result.payment.status == PaymentStatus::Failed {
        return Err(AppError::PaymentDeclined {
            code: result
                .payment
                .failure_code
                .clone()
                .unwrap_or_else(|| "card_declined".into()),
            payment: Box::new(result.payment),
        });
    }
    Ok(result)
}

/// One payment attempt on an open invoice: under the invoice's lease (so concurrent attempts
/// never charge twice), transient gateway errors retried inside the attempt with backoff, the
/// outcome recorded with its effect on the invoice and the subscription in one change.
pub async fn attempt_payment(
    app: &App,
    id: &str,
    now: Timestamp,
    actor: &Actor,
) -> Result<InvoiceWithPayment, AppError> {
    let holder = ids::new_id("lease");
    let epoch = billing_ledger::now_epoch_seconds();
    if !app
        .ledger
        .acquire_payment_lease(id, &holder, epoch, app.payment_lease_seconds)
        .await?
    {
        return Err(AppError::conflict(
            "payment_in_progress",
            "another payment attempt on this invoice is in flight",
            None,
        ));
    }
    let result = attempt_under_lease(app, id, now, actor).await;
    // The attempt's outcome is already recorded (or refused): a lease that cannot be released
    // now simply expires after `payment_lease_seconds`. Answering the error instead would tell
    // the caller a successful charge failed, and invite a retry that finds it paid.
    if let Err(error) = app.ledger.release_payment_lease(id, &holder).await {
        tracing::warn!(invoice_id = %id, %error, "the payment lease was not released; it expires on its own");
    }
    result
}

async fn attempt_under_lease(
    app: &App,
    id: &str,
    now: Timestamp,
    actor: &Actor,
) -> Result<InvoiceWithPayment, AppError> {
    let read = read_invoice(app, id).await?;
    if read.value.status != InvoiceStatus::Open {
        return Err(billing_core::BillingError::InvoiceNotOpen {
            status: read.value.status.as_str(),
        }
        .into());
    }
    let pending = match app.ledger.pending_attempt(id).await? {
        // An earlier attempt died after (perhaps) charging: ask the gateway again with exactly
        // that request before anything new, so its answer is the same charge's.
        Some(pending) if pending.attempt == read.value.attempt_count + 1 => {
            tracing::warn!(invoice_id = %id, attempt = pending.attempt, started_at = %pending.started_at, "resolving a payment attempt whose outcome was never recorded");
            app.metrics.pending_attempt_resolved();
            pending
        }
        Some(stale) => {
            // Its outcome was recorded (the attempt count moved on) by a path that left the
            // marker behind: nothing to resolve, so a fresh attempt may replace it.
            tracing::warn!(invoice_id = %id, attempt = stale.attempt, "a stale pending-attempt marker was replaced");
            let mut change = Change::new();
            change.clear_pending_attempt(id);
            app.ledger.commit(change).await?;
            new_pending_attempt(app, &read.value, now).await?
        }
        None => new_pending_attempt(app, &read.value, now).await?,
    };
    let request = ChargeRequest {
        invoice_id: pending.invoice_id.clone(),
        user_id: pending.user_id.clone(),
        amount_cents: pending.amount_cents,
        currency: pending.currency.clone(),
        payment_method: pending.payment_method.clone(),
        idempotency_key: pending.idempotency_key.clone(),
    };
    let (outcome, txn) = match charge_with_retries(app, &request).await {
        GatewayAnswer::Decided { outcome, txn } => (outcome, txn),
        GatewayAnswer::Pending { gateway_txn_id } => {
            tracing::info!(invoice_id = %id, %gateway_txn_id, "the gateway has not decided the charge yet");
            return Err(AppError::conflict(
                "payment_pending",
                "the gateway is still processing this invoice's payment; its webhook will record the outcome",
                None,
            ));
        }
    };
    // The gateway has decided: record it, re-reading after a lost race. Another invoice of the
    // same subscription settled at once moves the subscription's version (past due, recovered)
    // and makes this write stale; the outcome is still this attempt's, so it is recorded again
    // on the fresh state, never charged again. (Found by the kill soak: a payment run answered
    // 500 on `Stale { subscription }` when two runs collected one subscription's invoices.)
    let mut first = Some(read);
    let result = retry_races(|| {
        let (outcome, txn, first) = (&outcome, txn.clone(), first.take());
        async move {
            let read = match first {
                Some(read) => read,
                None => read_invoice(app, id).await?,
            };
            let mut change = Change::new();
            let result = record_attempt(
                app,
                &mut change,
                &read,
                outcome,
                app.gateway.name(),
                txn,
                now,
                actor,
            )
            .await?;
            app.ledger.commit(change).await.map_err(|error| {
                if error
                    .has_conflict(|c| matches!(c, billing_ledger::Conflict::PaymentRecorded { .. }))
                {
                    Attempt::Fail(AppError::conflict(
                        "payment_recorded",
                        "this gateway transaction is already recorded",
                        None,
                    ))
                } else {
                    Attempt::from(error)
                }
            })?;
            Ok(result)
        }
    })
    .await?;
    app.metrics
        .payment_recorded(result.payment.status == PaymentStatus::Succeeded);
    Ok(result)
}

/// Writes the next attempt on `invoice` as pending, before the gateway is called: the request
/// it will send, so a crash after the call can be resolved by sending it again.
async fn new_pending_attempt(
    app: &App,
    invoice: &Invoice,
    now: Timestamp,
) -> Result<PendingAttempt, AppError> {
    let user = read_user(app, &invoice.user_id).await?.value;
    let attempt = invoice.attempt_count + 1;
    let pending = PendingAttempt {
        invoice_id: invoice.id.clone(),
        user_id: invoice.user_id.clone(),
        attempt,
        idempotency_key: attempt_idempotency_key(&invoice.id, attempt),
        amount_cents: invoice.amount_due_cents,
        currency: invoice.currency.to_string(),
        payment_method: user.payment_method,
        started_at: now,
    };
    if !app.ledger.record_pending_attempt(&pending).await? {
        // Only a holder of the invoice's lease writes the marker, so this one appeared after
        // our read: another attempt is in flight.
        return Err(AppError::conflict(
            "payment_in_progress",
            "another payment attempt on this invoice is in flight",
            None,
        ));
    }
    Ok(pending)
}

/// Adds one attempt's outcome on the open invoice `read` to `change`: the payment (unique per
/// gateway transaction), the invoice's new state, the subscription's (past due, recovered or
/// canceled) and their audit entries. Shared by the payment run, "pay now" and the gateway's
/// webhooks.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn record_attempt(
    app: &App,
    change: &mut Change,
    read: &Versioned<Invoice>,
    outcome: &AttemptOutcome,
    gateway: &str,
    gateway_txn_id: Option<String>,
    now: Timestamp,
    actor: &Actor,
) -> Result<InvoiceWithPayment, AppError> {
    let id = read.value.id.as_str();
    let attempt = read.value.attempt_count + 1;
    let payment = Payment {
        id: ids::new_id(ids::PAYMENT),
        invoice_id: id.to_owned(),
        user_id: read.value.user_id.clone(),
        amount_cents: read.value.amount_due_cents,
        status: if *outcome == AttemptOutcome::Succeeded {
            PaymentStatus::Succeeded
        } else {
            PaymentStatus::Failed
        },
        gateway: gateway.to_owned(),
        gateway_txn_id,
        failure_code: match outcome {
            AttemptOutcome::Failed { failure_code } => Some(failure_code.clone()),
            AttemptOutcome::Succeeded => None,
        },
        attempt,
        created_at: now,
    };
    let mut invoice = read.value.clone();
    let effect = invoice.record_attempt(outcome, now, &app.dunning)?;
    change.clear_pending_attempt(id);
    change.create_payment(&payment).map_err(AppError::from)?;
    change
        .update_invoice(read, &invoice)
        .map_err(AppError::from)?;
    let write =
        |change: &mut Change, action: AuditAction, entity: &str, data: serde_json::Value| {
            audit(change, action, entity, actor, now, data).map_err(crate::support::fail)
        };
    write(
        change,
        payment.status.audit_action(),
        &payment.id,
        serde_json::json!({"invoice_id": id, "amount_cents": payment.amount_cents, "failure_code": payment.failure_code, "attempt": attempt}),
    )?;
    for action in &effect.actions {
        write(
            change,
            *action,
            id,
            serde_json::json!({"attempt_count": invoice.attempt_count}),
        )?;
    }
    if let Some(subscription_id) = &invoice.subscription_id {
        settle_subscription(
            app,
            change,
            subscription_id,
            effect.subscription,
            id,
            now,
            actor,
        )
        .await?;
    }
    Ok(InvoiceWithPayment { invoice, payment })
}

/// Applies what an invoice's outcome does to its subscription (past due, recovered, canceled)
/// in `change`. Recovery (`past_due → active`) happens only when no other invoice of the
/// subscription is still failing: paying one of two failing invoices leaves it past due.
pub(crate) async fn settle_subscription(
    app: &App,
    change: &mut Change,
    subscription_id: &str,
    effect: SubscriptionEffect,
    settled_invoice_id: &str,
    now: Timestamp,
    actor: &Actor,
) -> Result<(), AppError> {
    if effect == SubscriptionEffect::None {
        return Ok(());
    }
    let Some(sub_read) = app.ledger.subscription(subscription_id).await? else {
        return Ok(());
    };
    let Some(transition) = subscription_transition(&sub_read.value, effect, now) else {
        return Ok(());
    };
    if transition.actions.is_empty()
        || (effect == SubscriptionEffect::Recover
            && another_invoice_failing(app, subscription_id, settled_invoice_id).await?)
    {
        return Ok(());
    }
    let plan = app
        .ledger
        .plan(&sub_read.value.plan_code)
        .await?
        .ok_or_else(|| AppError::not_found("plan", &sub_read.value.plan_code))?
        .value;
    change
        .update_subscription(&sub_read, &transition.subscription, &plan, &plan, now)
        .map_err(AppError::from)?;
    for action in &transition.actions {
        audit(
            change,
            *action,
            subscription_id,
            actor,
            now,
            serde_json::json!({"invoice_id": settled_invoice_id}),
        )
        .map_err(crate::support::fail)?;
    }
    Ok(())
}

/// Whether an open invoice of `subscription_id` other than `except` has a failed attempt.
async fn another_invoice_failing(
    app: &App,
    subscription_id: &str,
    except: &str,
) -> Result<bool, AppError> {
    let filter = InvoiceFilter {
        subscription_id: Some(subscription_id.to_owned()),
        status: Some(InvoiceStatus::Open),
        ..InvoiceFilter::default()
    };
    let mut page = PageRequest::first(billing_ledger::PAGE_LIMIT_MAX);
    loop {
        let listing = app.ledger.invoices(&filter, &page).await?;
        if listing
            .data
            .iter()
            .any(|invoice| invoice.id != except && invoice.attempt_count > 0)
        {
            return Ok(true);
        }
        match listing.next_cursor {
            Some(cursor) => page.cursor = Some(cursor),
            None => return Ok(false),
        }
    }
}

/// What a payment outcome does to the invoice's subscription.
fn subscription_transition(
    subscription: &billing_core::subscription::Subscription,
    effect: SubscriptionEffect,
    now: Timestamp,
) -> Option<billing_core::subscription::Transition> {
    match effect {
        SubscriptionEffect::None => None,
        SubscriptionEffect::PastDue => Some(subscription.mark_past_due()),
        SubscriptionEffect::Recover => Some(subscription.recover()),
        SubscriptionEffect::Cancel => Some(subscription.cancel_for_nonpayment(now)),
    }
}

/// What the gateway said about one attempt, after the retries inside it.
enum GatewayAnswer {
    Decided {
        outcome: AttemptOutcome,
        txn: Option<String>,
    },
    Pending {
        gateway_txn_id: String,
    },
}

/// Calls the gateway, retrying transient errors inside the attempt (BILLING.md: at most 3
/// calls, exponential backoff with jitter); transient errors that outlast them fail the attempt.
async fn charge_with_retries(app: &App, request: &ChargeRequest) -> GatewayAnswer {
    let mut failed_calls = 0;
    loop {
        match app.gateway.charge(request).await {
            ChargeOutcome::Succeeded { gateway_txn_id } => {
                return GatewayAnswer::Decided {
                    outcome: AttemptOutcome::Succeeded,
                    txn: Some(gateway_txn_id),
                };
            }
            ChargeOutcome::Declined {
                code,
                gateway_txn_id,
            } => {
                return GatewayAnswer::Decided {
                    outcome: AttemptOutcome::Failed { failure_code: code },
                    txn: gateway_txn_id,
                };
            }
            ChargeOutcome::Pending { gateway_txn_id } => {
                return GatewayAnswer::Pending { gateway_txn_id };
            }
            ChargeOutcome::Transient { message } => {
                failed_calls += 1;
                let random: u64 = rand::rng().random();
                match app
                    .transient_retry
                    .delay_before_next_call_ms(failed_calls, random)
                {
                    Some(delay_ms) => {
                        app.metrics.gateway_retry();
                        tracing::warn!(invoice_id = %request.invoice_id, %message, delay_ms, "transient gateway error; retrying");
                        tokio::time::sleep(std::time::Duration::from_millis(delay_ms)).await;
                    }
                    None => {
                        return GatewayAnswer::Decided {
                            outcome: AttemptOutcome::Failed {
                                failure_code: "gateway_unavailable".into(),
                            },
                            txn: None,
                        };
                    }
                }
            }
        }
    }
}
