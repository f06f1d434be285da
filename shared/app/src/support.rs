//! What every use case shares: audit entries, retrying a lost optimistic race, and finalizing
//! invoices into a change (numbers, credit balance, audit).

use std::future::Future;

use billing_core::audit::AuditAction;
use billing_core::backoff::Backoff;
use billing_core::invoice::{Invoice, InvoiceDraft, InvoiceIds, invoice_number};
use billing_core::user::User;
use billing_core::{BillingError, Timestamp};
use billing_ledger::{AuditEntry, Change, Conflict, LedgerError, NumberingTurn, Versioned, keys};

use crate::context::{Actor, App};
use crate::error::AppError;
use crate::ids;

/// How often a use case re-reads and retries after losing an optimistic race (a concurrent
/// writer changed what it read, or took the next invoice number first).
pub const RACE_RETRIES_MAX: u32 = 30;

/// The pause between two tries after lost races (after the first, which only yields): 2 ms
/// doubling, never more than 100 ms. Writers that collide once back off with full jitter, so
/// they do not collide again in lockstep (the invoice-number counter is one item every
/// invoice-creating change updates).
pub const RACE_BACKOFF: Backoff = Backoff::new(2, 100);

/// The outcome of one try of a use case: done, refused, or lost a race (try again).
#[derive(Debug)]
pub(crate) enum Attempt {
    Race,
    Fail(AppError),
}

impl From<AppError> for Attempt {
    fn from(value: AppError) -> Self {
        Self::Fail(value)
    }
}

impl From<BillingError> for Attempt {
    fn from(value: BillingError) -> Self {
        Self::Fail(value.into())
    }
}

impl From<billing_core::FieldError> for Attempt {
    fn from(value: billing_core::FieldError) -> Self {
        Self::Fail(value.into())
    }
}

impl From<LedgerError> for Attempt {
    /// Stale versions, taken invoice numbers and an invoice another writer created first are
    /// lost races (re-reading shows the new state); any other conflict a use case did not map
    /// itself is a bug, reported as internal.
    fn from(value: LedgerError) -> Self {
        let conflicts = value.conflicts();
        let race = !conflicts.is_empty()
            && conflicts.iter().all(|c| {
                matches!(
                    c,
                    Conflict::Stale { .. }
                        | Conflict::InvoiceNumberTaken
                        | Conflict::InvoiceExists { .. }
                )
            });
        let transient = value.is_transient();
        if race || transient {
            Self::Race
        } else {
            Self::Fail(value.into())
        }
    }
}

/// The error of an attempt outside a retry loop: a race is reported as contention.
pub(crate) fn fail(attempt: Attempt) -> AppError {
    match attempt {
        Attempt::Fail(error) => error,
        Attempt::Race => AppError::conflict(
            "too_much_contention",
            "the resource changed while it was written; retry",
            None,
        ),
    }
}

/// Runs `attempt` until it is done or refused, re-running it after a lost race.
pub(crate) async fn retry_races<T, F, Fut>(mut attempt: F) -> Result<T, AppError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Attempt>>,
{
    for lost in 0..RACE_RETRIES_MAX {
        match attempt().await {
            Ok(value) => return Ok(value),
            Err(Attempt::Fail(error)) => return Err(error),
            Err(Attempt::Race) if lost == 0 => tokio::task::yield_now().await,
            Err(Attempt::Race) => {
                let pause = RACE_BACKOFF.delay(lost, rand::random());
                tokio::time::sleep(pause).await;
            }
        }
    }
    Err(AppError::conflict(
        "too_much_contention",
        "the resource is changing too fast; retry",
        None,
    ))
}

pub(crate) fn audit(
    change: &mut Change,
    action: AuditAction,
    entity_id: &str,
    actor: &Actor,
    at: Timestamp,
    data: serde_json::Value,
) -> Result<(), Attempt> {
    let entry = AuditEntry {
        id: ids::new_ordered_id(ids::AUDIT),
        at,
        actor: actor.0.clone(),
        action,
        entity_type: action.entity_type(),
        entity_id: entity_id.to_owned(),
        data,
    };
    change.audit(&entry).map_err(Attempt::from)
}

/// Invoice numbers taken by one change: a block after the counter's last value, taken during
/// this process's turn on the counter (held until the change commits).
pub(crate) struct NumberBlock {
    turn: NumberingTurn,
    taken: u64,
}

impl NumberBlock {
    pub(crate) async fn take(app: &App) -> Result<Self, AppError> {
        Ok(Self {
            turn: app.ledger.numbering_turn().await?,
            taken: 0,
        })
    }

    fn next(&mut self) -> u64 {
        self.taken += 1;
        self.turn.last_number + self.taken
    }

    /// Adds the counter update to `change` (once, for the whole block), with the turn.
    pub(crate) fn commit_into(self, change: &mut Change) {
        if self.taken > 0 {
            change.take_invoice_numbers(self.turn, self.taken);
        }
    }
}

/// Finalizes `draft` into `change`: its id (derived from its key when it has one), the next
/// number, the user's credit balance applied or increased, the invoice and its audit entries.
pub(crate) fn finalize_invoice(
    change: &mut Change,
    draft: InvoiceDraft,
    user: &mut User,
    numbers: &mut NumberBlock,
    now: Timestamp,
    actor: &Actor,
) -> Result<Invoice, Attempt> {
    let id = match draft.key() {
        Some(key) => keys::invoice_id_for(&key),
        None => ids::new_id(ids::INVOICE),
    };
    let number = invoice_number(numbers.next());
    let finalized = draft.finalize(InvoiceIds { id, number }, user.credit_balance_cents, now)?;
    user.credit_balance_cents = finalized.credit_balance_cents;
    change.create_invoice(&finalized.invoice)?;
    for action in &finalized.actions {
        audit(
            change,
            *action,
            &finalized.invoice.id,
            actor,
            now,
            serde_json::json!({
                "number": finalized.invoice.number,
                "subscription_id": finalized.invoice.subscription_id,
                "amount_due_cents": finalized.invoice.amount_due_cents,
                "subtotal_cents": finalized.invoice.subtotal_cents,
            }),
        )?;
    }
    Ok(finalized.invoice)
}

/// Writes the user back when finalizing changed its credit balance.
pub(crate) fn write_user_if_changed(
    change: &mut Change,
    read: &Versioned<User>,
    after: &User,
) -> Result<(), Attempt> {
    if after != &read.value {
        change.update_user(after, read.version)?;
    }
    Ok(())
}
