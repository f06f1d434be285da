//! Invoices: lines, totals, identity, and the status machine `open → paid | void | uncollectible`.

use serde::{Deserialize, Serialize};

use crate::audit::AuditAction;
use crate::error::{BillingError, FieldError, Result};
use crate::money::{Cents, Currency, MAX_AMOUNT_CENTS, UnitPrice, checked_sum};
use crate::period::{Period, Timestamp};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum LineKind {
    BaseFee,
    Usage,
    UsageLate,
    ProrationCredit,
    Adjustment,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InvoiceLine {
    pub kind: LineKind,
    pub description: String,
    pub amount_cents: Cents,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub period_start: Timestamp,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub period_end: Timestamp,
    /// Usage lines only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantity: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub unit_amount_decimal: Option<UnitPrice>,
    /// 1-based tier number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tier: Option<u32>,
}

impl InvoiceLine {
    /// A line that is not about usage: base fee, proration credit, adjustment.
    pub fn plain(kind: LineKind, description: String, amount_cents: Cents, period: Period) -> Self {
        Self {
            kind,
            description,
            amount_cents,
            period_start: period.start,
            period_end: period.end,
            metric: None,
            quantity: None,
            unit_amount_decimal: None,
            tier: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum BillingReason {
    SubscriptionCreate,
    /// Renewal and trial end.
    SubscriptionCycle,
    /// Plan change now.
    SubscriptionUpdate,
    /// Cancel now.
    SubscriptionCancel,
    /// Usage of an ended subscription's billed periods aggregated after it ended: an invoice
    /// of its own, since the subscription has no next invoice (docs/billing-decisions.md).
    UsageLate,
    /// Debit note.
    Manual,
}

impl BillingReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SubscriptionCreate => "subscription_create",
            Self::SubscriptionCycle => "subscription_cycle",
            Self::SubscriptionUpdate => "subscription_update",
            Self::SubscriptionCancel => "subscription_cancel",
            Self::UsageLate => "usage_late",
            Self::Manual => "manual",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum InvoiceKind {
    Subscription,
    DebitNote,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum InvoiceStatus {
    Open,
    Paid,
    Void,
    Uncollectible,
}

impl InvoiceStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Paid => "paid",
            Self::Void => "void",
            Self::Uncollectible => "uncollectible",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Open, Self::Paid, Self::Void, Self::Uncollectible]
            .into_iter()
            .find(|s| s.as_str() == text)
    }
}

/// What an invoice bills, and so what makes it unique: at most one invoice per key ever.
///
/// `period_start` is the start of the period the invoice closes: for a renewal the period whose
/// usage it bills (its fee was billed in advance by the previous invoice), for a plan change or
/// cancellation the interrupted period, for a creation the first period. Keying by the closed
/// period keeps two plan changes in the same second distinct (the second closes `[T, T)`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InvoiceKey {
    pub subscription_id: String,
    pub billing_reason: BillingReason,
    pub period_start: Timestamp,
}

impl InvoiceKey {
    /// A stable string form for storage keys:
    /// `sub_1#subscription_cycle#2027-02-01T00:00:00Z`.
    pub fn storage_key(&self) -> String {
        format!(
            "{}#{}#{}",
            self.subscription_id,
            self.billing_reason.as_str(),
            self.period_start.format("%Y-%m-%dT%H:%M:%SZ")
        )
    }
}

/// An invoice's number, gap-free and sequential: `INV-000001`.
pub fn invoice_number(sequence: u64) -> String {
    format!("INV-{sequence:06}")
}

/// An invoice before it has an id, a number and totals: what the rules decided to bill.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvoiceDraft {
    pub kind: InvoiceKind,
    pub billing_reason: BillingReason,
    pub user_id: String,
    pub subscription_id: Option<String>,
    pub currency: Currency,
    pub period: Period,
    pub lines: Vec<InvoiceLine>,
    pub related_invoice_id: Option<String>,
}

impl InvoiceDraft {
    /// The identity that makes a second invoice for the same thing impossible.
    /// Debit notes have none: they are made by a request, deduplicated by its Idempotency-Key.
    pub fn key(&self) -> Option<InvoiceKey> {
        match (self.billing_reason, &self.subscription_id) {
            (BillingReason::Manual, _) | (_, None) => None,
            (billing_reason, Some(subscription_id)) => Some(InvoiceKey {
                subscription_id: subscription_id.clone(),
                billing_reason,
                period_start: self.period.start,
            }),
        }
    }

    pub fn subtotal_cents(&self) -> Result<Cents> {
        checked_sum(
            self.lines.iter().map(|l| l.amount_cents),
            "invoice subtotal",
        )
    }

    /// Finalizes the draft: totals, credit taken from the user's balance, and `paid` at once
    /// when nothing is due. Returns the invoice, the user's new credit balance and the audit.
    pub fn finalize(
        self,
        ids: InvoiceIds,
        credit_balance_cents: Cents,
        now: Timestamp,
    ) -> Result<Finalized> {
        let totals = Totals::compute(self.subtotal_cents()?, credit_balance_cents)?;
        let nothing_due = totals.amount_due_cents == 0;
        let mut actions = vec![AuditAction::InvoiceFinalized];
        if nothing_due {
            actions.push(AuditAction::InvoicePaid);
        }
        let invoice = Invoice {
            id: ids.id,
            number: ids.number,
            user_id: self.user_id,
            subscription_id: self.subscription_id,
            kind: self.kind,
            billing_reason: self.billing_reason,
            status: if nothing_due {
                InvoiceStatus::Paid
            } else {
                InvoiceStatus::Open
            },
            currency: self.currency,
            period_start: self.period.start,
            period_end: self.period.end,
            lines: self.lines,
            subtotal_cents: totals.subtotal_cents,
            credit_applied_cents: totals.credit_applied_cents,
            amount_due_cents: totals.amount_due_cents,
            attempt_count: 0,
            // The first attempt is due at finalization (BILLING.md "Payments and retries").
            next_payment_attempt: if nothing_due { None } else { Some(now) },
            related_invoice_id: self.related_invoice_id,
            created_at: now,
            paid_at: if nothing_due { Some(now) } else { None },
            voided_at: None,
        };
        Ok(Finalized {
            invoice,
            credit_balance_cents: totals.credit_balance_after_cents,
            actions,
        })
    }
}

/// The id and number the storage layer assigns when it writes the invoice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvoiceIds {
    pub id: String,
    pub number: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finalized {
    pub invoice: Invoice,
    pub credit_balance_cents: Cents,
    pub actions: Vec<AuditAction>,
}

/// Invoice totals (BILLING.md "Invoices").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Totals {
    pub subtotal_cents: Cents,
    /// `min(balance, max(subtotal, 0))`.
    pub credit_applied_cents: Cents,
    /// `max(subtotal − credit_applied, 0)`.
    pub amount_due_cents: Cents,
    /// The balance less what was applied, plus `−subtotal` when the subtotal is negative.
    pub credit_balance_after_cents: Cents,
}

impl Totals {
    pub fn compute(subtotal_cents: Cents, credit_balance_cents: Cents) -> Result<Self> {
        let balance = credit_balance_cents.max(0);
        let credit_applied_cents = balance.min(subtotal_cents.max(0));
        let amount_due_cents = (subtotal_cents - credit_applied_cents).max(0);
        let refund = if subtotal_cents < 0 {
            -subtotal_cents
        } else {
            0
        };
        let credit_balance_after_cents = (balance - credit_applied_cents)
            .checked_add(refund)
            .ok_or(BillingError::AmountOverflow {
                what: "credit balance",
            })?;
        Ok(Self {
            subtotal_cents,
            credit_applied_cents,
            amount_due_cents,
            credit_balance_after_cents,
        })
    }
}

/// A finalized invoice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Invoice {
    pub id: String,
    pub number: String,
    pub user_id: String,
    pub subscription_id: Option<String>,
    pub kind: InvoiceKind,
    pub billing_reason: BillingReason,
    pub status: InvoiceStatus,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub currency: Currency,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub period_start: Timestamp,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub period_end: Timestamp,
    pub lines: Vec<InvoiceLine>,
    pub subtotal_cents: Cents,
    pub credit_applied_cents: Cents,
    pub amount_due_cents: Cents,
    pub attempt_count: u32,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub next_payment_attempt: Option<Timestamp>,
    pub related_invoice_id: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: Timestamp,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub paid_at: Option<Timestamp>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub voided_at: Option<Timestamp>,
}

/// Longest reason accepted on a credit or debit note.
pub const MAX_REASON_LEN: usize = 500;

/// A credit note: money given back to the user's credit balance against a paid invoice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreditNote {
    pub id: String,
    pub invoice_id: String,
    pub amount_cents: Cents,
    pub reason: String,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: Timestamp,
}

impl Invoice {
    pub fn key(&self) -> Option<InvoiceKey> {
        match (self.billing_reason, &self.subscription_id) {
            (BillingReason::Manual, _) | (_, None) => None,
            (billing_reason, Some(subscription_id)) => Some(InvoiceKey {
                subscription_id: subscription_id.clone(),
                billing_reason,
                period_start: self.period_start,
            }),
        }
    }

    pub fn period(&self) -> Period {
        Period::new(self.period_start, self.period_end)
    }

    fn ensure_open(&self) -> Result<()> {
        if self.status == InvoiceStatus::Open {
            Ok(())
        } else {
            Err(BillingError::InvoiceNotOpen {
                status: self.status.as_str(),
            })
        }
    }

    fn ensure_paid(&self) -> Result<()> {
        if self.status == InvoiceStatus::Paid {
            Ok(())
        } else {
            Err(BillingError::InvoiceNotPaid {
                status: self.status.as_str(),
            })
        }
    }

    /// `open → void`: stops collection. Any other status is refused.
    pub fn void(&mut self, now: Timestamp) -> Result<AuditAction> {
        self.ensure_open()?;
        self.status = InvoiceStatus::Void;
        self.voided_at = Some(now);
        self.next_payment_attempt = None;
        Ok(AuditAction::InvoiceVoided)
    }

    /// `open → paid`, once. A second success is refused, so it can never be recorded twice.
    pub fn mark_paid(&mut self, now: Timestamp) -> Result<AuditAction> {
        self.ensure_open()?;
        self.status = InvoiceStatus::Paid;
        self.paid_at = Some(now);
        self.next_payment_attempt = None;
        Ok(AuditAction::InvoicePaid)
    }

    /// `open → uncollectible` after the last failed attempt.
    pub fn mark_uncollectible(&mut self) -> Result<AuditAction> {
        self.ensure_open()?;
        self.status = InvoiceStatus::Uncollectible;
        self.next_payment_attempt = None;
        Ok(AuditAction::InvoiceUncollectible)
    }

    /// What credit notes on this invoice may add up to: what the user actually paid for it,
    /// in money and in credit.
    pub fn credit_note_cap_cents(&self) -> Cents {
        self.amount_due_cents + self.credit_applied_cents
    }

    /// Checks a new credit note of `amount_cents` against the cap, given the sum of the
    /// invoice's existing credit notes.
    pub fn check_credit_note(
        &self,
        already_credited_cents: Cents,
        amount_cents: i64,
        reason: &str,
    ) -> Result<()> {
        self.ensure_paid()?;
        validate_note(amount_cents, reason)?;
        let cap_cents = self.credit_note_cap_cents();
        let requested_total_cents = already_credited_cents.saturating_add(amount_cents);
        if requested_total_cents > cap_cents {
            return Err(BillingError::CreditNoteOverCap {
                cap_cents,
                requested_total_cents,
            });
        }
        Ok(())
    }

    /// A debit note: a new open invoice with one `adjustment` line naming this (paid) invoice.
    pub fn debit_note(&self, amount_cents: i64, reason: &str) -> Result<InvoiceDraft> {
        self.ensure_paid()?;
        validate_note(amount_cents, reason)?;
        let description = format!("Adjustment to {}: {}", self.number, reason.trim());
        Ok(InvoiceDraft {
            kind: InvoiceKind::DebitNote,
            billing_reason: BillingReason::Manual,
            user_id: self.user_id.clone(),
            subscription_id: self.subscription_id.clone(),
            currency: self.currency,
            period: self.period(),
            lines: vec![InvoiceLine::plain(
                LineKind::Adjustment,
                description,
                amount_cents,
                self.period(),
            )],
            related_invoice_id: Some(self.id.clone()),
        })
    }
}

fn validate_note(amount_cents: i64, reason: &str) -> Result<()> {
    if !(1..=MAX_AMOUNT_CENTS).contains(&amount_cents) {
        return Err(FieldError::new(
            "amount_cents",
            "out_of_range",
            format!("must be between 1 and {MAX_AMOUNT_CENTS} cents"),
        )
        .into());
    }
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > MAX_REASON_LEN {
        return Err(FieldError::new(
            "reason",
            "invalid_length",
            format!("must be 1 to {MAX_REASON_LEN} characters"),
        )
        .into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    fn draft(amounts: &[i64]) -> InvoiceDraft {
        let period = Period::new(at("2027-01-01T00:00:00Z"), at("2027-02-01T00:00:00Z"));
        InvoiceDraft {
            kind: InvoiceKind::Subscription,
            billing_reason: BillingReason::SubscriptionCycle,
            user_id: "usr_1".into(),
            subscription_id: Some("sub_1".into()),
            currency: Currency::USD,
            period,
            lines: amounts
                .iter()
                .map(|a| InvoiceLine::plain(LineKind::BaseFee, "fee".into(), *a, period))
                .collect(),
            related_invoice_id: None,
        }
    }

    fn ids() -> InvoiceIds {
        InvoiceIds {
            id: "inv_1".into(),
            number: invoice_number(1),
        }
    }

    fn finalize(amounts: &[i64], balance: i64) -> Finalized {
        draft(amounts)
            .finalize(ids(), balance, at("2027-02-01T00:00:00Z"))
            .unwrap()
    }

    #[test]
    fn statuses_parse_from_their_wire_names() {
        for status in [
            InvoiceStatus::Open,
            InvoiceStatus::Paid,
            InvoiceStatus::Void,
            InvoiceStatus::Uncollectible,
        ] {
            assert_eq!(InvoiceStatus::parse(status.as_str()), Some(status));
        }
        assert_eq!(InvoiceStatus::parse("lost"), None);
    }

    #[test]
    fn numbers_are_zero_padded() {
        assert_eq!(invoice_number(1), "INV-000001");
        assert_eq!(invoice_number(1_234_567), "INV-1234567");
    }

    #[test]
    fn credit_is_applied_up_to_the_subtotal() {
        let done = finalize(&[2900, -677], 1000);
        assert_eq!(done.invoice.subtotal_cents, 2223);
        assert_eq!(done.invoice.credit_applied_cents, 1000);
        assert_eq!(done.invoice.amount_due_cents, 1223);
        assert_eq!(done.credit_balance_cents, 0);
        assert_eq!(done.invoice.status, InvoiceStatus::Open);
        assert_eq!(
            done.invoice.next_payment_attempt,
            Some(at("2027-02-01T00:00:00Z"))
        );
        assert_eq!(done.actions, [AuditAction::InvoiceFinalized]);
    }

    #[test]
    fn a_negative_subtotal_goes_to_the_credit_balance_and_the_invoice_is_paid() {
        let done = finalize(&[1000, -2900], 50);
        assert_eq!(done.invoice.subtotal_cents, -1900);
        assert_eq!(done.invoice.credit_applied_cents, 0);
        assert_eq!(done.invoice.amount_due_cents, 0);
        assert_eq!(done.credit_balance_cents, 1950);
        assert_eq!(done.invoice.status, InvoiceStatus::Paid);
        assert_eq!(done.invoice.next_payment_attempt, None);
        assert_eq!(
            done.actions,
            [AuditAction::InvoiceFinalized, AuditAction::InvoicePaid]
        );
    }

    #[test]
    fn a_zero_cent_invoice_is_paid_at_once() {
        let done = finalize(&[0], 0);
        assert_eq!(done.invoice.status, InvoiceStatus::Paid);
        assert_eq!(done.invoice.paid_at, Some(at("2027-02-01T00:00:00Z")));
    }

    #[test]
    fn credit_covering_everything_leaves_nothing_due() {
        let done = finalize(&[500], 800);
        assert_eq!(done.invoice.credit_applied_cents, 500);
        assert_eq!(done.invoice.amount_due_cents, 0);
        assert_eq!(done.credit_balance_cents, 300);
        assert_eq!(done.invoice.status, InvoiceStatus::Paid);
    }

    #[test]
    fn only_open_invoices_can_be_voided_paid_or_written_off() {
        let mut invoice = finalize(&[100], 0).invoice;
        invoice.void(at("2027-02-02T00:00:00Z")).unwrap();
        assert_eq!(invoice.status, InvoiceStatus::Void);
        assert_eq!(
            invoice.void(at("2027-02-02T00:00:00Z")).unwrap_err().code(),
            "invoice_not_open"
        );
        assert_eq!(
            invoice
                .mark_paid(at("2027-02-02T00:00:00Z"))
                .unwrap_err()
                .code(),
            "invoice_not_open"
        );
        assert_eq!(
            invoice.mark_uncollectible().unwrap_err().code(),
            "invoice_not_open"
        );
        let mut paid = finalize(&[100], 0).invoice;
        paid.mark_paid(at("2027-02-02T00:00:00Z")).unwrap();
        assert_eq!(
            paid.mark_paid(at("2027-02-03T00:00:00Z"))
                .unwrap_err()
                .code(),
            "invoice_not_open"
        );
        assert_eq!(paid.paid_at, Some(at("2027-02-02T00:00:00Z")));
    }

    #[test]
    fn credit_notes_are_capped_at_what_was_paid_in_money_and_credit() {
        let mut invoice = finalize(&[2000], 500).invoice; // 500 credit + 1500 due
        assert_eq!(
            invoice.check_credit_note(0, 100, "x").unwrap_err().code(),
            "invoice_not_paid"
        );
        invoice.mark_paid(at("2027-02-02T00:00:00Z")).unwrap();
        assert_eq!(invoice.credit_note_cap_cents(), 2000);
        invoice.check_credit_note(0, 2000, "refund").unwrap();
        invoice.check_credit_note(1500, 500, "refund").unwrap();
        assert_eq!(
            invoice.check_credit_note(1500, 501, "refund").unwrap_err(),
            BillingError::CreditNoteOverCap {
                cap_cents: 2000,
                requested_total_cents: 2001
            }
        );
        assert_eq!(
            invoice
                .check_credit_note(0, 0, "refund")
                .unwrap_err()
                .param(),
            Some("amount_cents")
        );
        assert_eq!(
            invoice.check_credit_note(0, 1, " ").unwrap_err().param(),
            Some("reason")
        );
    }

    #[test]
    fn a_debit_note_is_an_open_invoice_with_one_adjustment_line_naming_the_original() {
        let mut original = finalize(&[1000], 0).invoice;
        assert!(original.debit_note(250, "extra seats").is_err());
        original.mark_paid(at("2027-02-02T00:00:00Z")).unwrap();
        let note = original.debit_note(250, "extra seats").unwrap();
        assert_eq!(note.kind, InvoiceKind::DebitNote);
        assert_eq!(note.billing_reason, BillingReason::Manual);
        assert_eq!(note.related_invoice_id.as_deref(), Some("inv_1"));
        assert_eq!(note.lines.len(), 1);
        assert_eq!(note.lines[0].kind, LineKind::Adjustment);
        assert_eq!(note.lines[0].amount_cents, 250);
        assert!(note.lines[0].description.contains("INV-000001"));
        assert_eq!(note.key(), None);
        let done = note.finalize(ids(), 0, at("2027-02-03T00:00:00Z")).unwrap();
        assert_eq!(done.invoice.status, InvoiceStatus::Open);
        assert_eq!(done.invoice.amount_due_cents, 250);
    }

    #[test]
    fn the_invoice_key_names_subscription_reason_and_period_start() {
        let key = draft(&[1]).key().unwrap();
        assert_eq!(
            key.storage_key(),
            "sub_1#subscription_cycle#2027-01-01T00:00:00Z"
        );
    }
}
