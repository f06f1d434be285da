//! Payments, the dunning schedule, and the simulated gateway's rules.

use chrono::Duration;

use crate::backoff::Backoff;
use serde::{Deserialize, Serialize};

use crate::audit::AuditAction;
use crate::error::Result;
use crate::invoice::{Invoice, InvoiceStatus};
use crate::money::Cents;
use crate::period::Timestamp;

/// When an open invoice is (re)tried: the first attempt at finalization, then at finalization
/// plus each offset. After the last attempt fails the invoice is uncollectible.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DunningSchedule {
    retry_offsets: Vec<Duration>,
}

/// Upper bound on configured retries: dunning that never ends is a configuration mistake.
pub const MAX_RETRIES: usize = 20;

impl Default for DunningSchedule {
    /// BILLING.md: retries at finalization + 1 day, + 3 days, + 5 days.
    fn default() -> Self {
        Self {
            retry_offsets: vec![Duration::days(1), Duration::days(3), Duration::days(5)],
        }
    }
}

impl DunningSchedule {
    /// Offsets must be positive, strictly increasing and at most [`MAX_RETRIES`].
    pub fn new(retry_offsets: Vec<Duration>) -> Option<Self> {
        let increasing = retry_offsets.windows(2).all(|w| w[0] < w[1]);
        let positive = retry_offsets.iter().all(|d| *d > Duration::zero());
        (increasing && positive && retry_offsets.len() <= MAX_RETRIES)
            .then_some(Self { retry_offsets })
    }

    /// Attempts in all: the first one plus the retries (4 by default).
    pub fn max_attempts(&self) -> u32 {
        u32::try_from(self.retry_offsets.len())
            .unwrap_or(u32::MAX)
            .saturating_add(1)
    }

    /// When attempt number `failed_attempts + 1` is due, or `None` when none is left.
    pub fn next_attempt_at(
        &self,
        finalized_at: Timestamp,
        failed_attempts: u32,
    ) -> Option<Timestamp> {
        if failed_attempts == 0 {
            return Some(finalized_at);
        }
        let offset = self.retry_offsets.get(failed_attempts as usize - 1)?;
        finalized_at.checked_add_signed(*offset)
    }
}

/// How one payment attempt ended, as far as billing cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptOutcome {
    Succeeded,
    /// A decline, or transient errors that outlasted the in-attempt retries.
    Failed {
        failure_code: String,
    },
}

/// What a recorded attempt does to the subscription the invoice belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubscriptionEffect {
    None,
    /// A payment failed: `active → past_due`.
    PastDue,
    /// The invoice was paid: `past_due → active`.
    Recover,
    /// The last attempt failed: cancel the subscription.
    Cancel,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptEffect {
    pub subscription: SubscriptionEffect,
    /// Invoice audit actions (the payment's own `payment.*` action comes from [`PaymentStatus`]).
    pub actions: Vec<AuditAction>,
}

impl Invoice {
    /// Records the outcome of payment attempt number `attempt_count + 1` on an open invoice.
    pub fn record_attempt(
        &mut self,
        outcome: &AttemptOutcome,
        now: Timestamp,
        schedule: &DunningSchedule,
    ) -> Result<AttemptEffect> {
        if self.status != InvoiceStatus::Open {
            return Err(crate::BillingError::InvoiceNotOpen {
                status: self.status.as_str(),
            });
        }
        self.attempt_count = self.attempt_count.saturating_add(1);
        match outcome {
            AttemptOutcome::Succeeded => {
                let paid = self.mark_paid(now)?;
                Ok(AttemptEffect {
                    subscription: SubscriptionEffect::Recover,
                    actions: vec![paid],
                })
            }
            AttemptOutcome::Failed { .. } if self.attempt_count >= schedule.max_attempts() => {
                let written_off = self.mark_uncollectible()?;
                Ok(AttemptEffect {
                    subscription: SubscriptionEffect::Cancel,
                    actions: vec![written_off],
                })
            }
            AttemptOutcome::Failed { .. } => {
                // A retry already overdue (say, after manual attempts) is due now, not in the past.
                self.next_payment_attempt = schedule
                    .next_attempt_at(self.created_at, self.attempt_count)
                    .map(|at| at.max(now));
                Ok(AttemptEffect {
                    subscription: SubscriptionEffect::PastDue,
                    actions: Vec::new(),
                })
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum PaymentStatus {
    Succeeded,
    Failed,
}

impl PaymentStatus {
    pub fn audit_action(self) -> AuditAction {
        match self {
            Self::Succeeded => AuditAction::PaymentSucceeded,
            Self::Failed => AuditAction::PaymentFailed,
        }
    }
}

/// One recorded charge attempt. Unique per `(invoice_id, gateway_txn_id)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Payment {
    pub id: String,
    pub invoice_id: String,
    pub user_id: String,
    pub amount_cents: Cents,
    pub status: PaymentStatus,
    pub gateway: String,
    pub gateway_txn_id: Option<String>,
    pub failure_code: Option<String>,
    /// 1-based attempt number on the invoice.
    pub attempt: u32,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: Timestamp,
}

/// A payment attempt whose outcome is not recorded yet: written before the gateway is called,
/// removed in the same write that records the outcome. One left behind means the process died
/// or timed out after (perhaps) charging; the next attempt on the invoice must first ask the
/// gateway again with exactly this request, because a new request (a new payment method, a
/// new attempt number) is how other billing systems have charged twice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingAttempt {
    pub invoice_id: String,
    pub user_id: String,
    pub attempt: u32,
    pub idempotency_key: String,
    pub amount_cents: Cents,
    pub currency: String,
    pub payment_method: Option<String>,
    pub started_at: Timestamp,
}

/// The idempotency key sent to the gateway for an attempt: the same attempt asked twice (a
/// retry after a timeout, a crash, a second runner) is the same charge at the gateway.
pub fn attempt_idempotency_key(invoice_id: &str, attempt: u32) -> String {
    format!("{invoice_id}-attempt-{attempt}")
}

/// Retries of transient gateway errors inside one attempt: at most `max_calls` calls, waiting
/// by the workspace's one [`Backoff`] between them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransientRetry {
    /// Gateway calls per attempt, the first included (BILLING.md: at most 3).
    pub max_calls: u32,
    pub backoff: Backoff,
}

/// Gateway calls per attempt, the first included (BILLING.md: at most 3).
pub const GATEWAY_CALLS_PER_ATTEMPT_MAX: u32 = 3;
/// Between a charge's calls: 100 ms before the second, doubling, never more than 2 s.
pub const GATEWAY_RETRY_BACKOFF: Backoff = Backoff::new(100, 2_000);

impl Default for TransientRetry {
    fn default() -> Self {
        Self {
            max_calls: GATEWAY_CALLS_PER_ATTEMPT_MAX,
            backoff: GATEWAY_RETRY_BACKOFF,
        }
    }
}

impl TransientRetry {
    /// How long to wait before call number `failed_calls + 1`, or `None` when the attempt has
    /// used all its calls and counts as failed. `random` is any uniformly random number
    /// ([`Backoff::delay_ms`]).
    pub fn delay_before_next_call_ms(&self, failed_calls: u32, random: u64) -> Option<u64> {
        if failed_calls == 0 || failed_calls >= self.max_calls {
            return None;
        }
        Some(self.backoff.delay_ms(failed_calls, random))
    }
}

/// The simulated gateway's answer to one call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SimulatedCharge {
    Succeeded,
    Declined {
        code: &'static str,
    },
    /// Timeout / 5xx / rate limit: worth retrying inside the attempt.
    TransientError,
}

/// The simulated gateway's rules (BILLING.md "Payments and retries"), by payment method:
/// `pm_card_ok` succeeds; `pm_card_declined` declines with `card_declined`; `pm_card_flaky`
/// fails transiently on the first call of each attempt, then succeeds; no method declines with
/// `no_payment_method`. Any other method declines with `invalid_payment_method`: the simulated
/// gateway knows no other cards. `call_in_attempt` is 1-based.
pub fn simulated_charge(payment_method: Option<&str>, call_in_attempt: u32) -> SimulatedCharge {
    match payment_method {
        Some("pm_card_ok") => SimulatedCharge::Succeeded,
        Some("pm_card_declined") => SimulatedCharge::Declined {
            code: "card_declined",
        },
        Some("pm_card_flaky") if call_in_attempt <= 1 => SimulatedCharge::TransientError,
        Some("pm_card_flaky") => SimulatedCharge::Succeeded,
        None => SimulatedCharge::Declined {
            code: "no_payment_method",
        },
        Some(_) => SimulatedCharge::Declined {
            code: "invalid_payment_method",
        },
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::invoice::{
        BillingReason, InvoiceDraft, InvoiceIds, InvoiceKind, InvoiceLine, LineKind,
    };
    use crate::money::Currency;
    use crate::period::Period;

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    fn open_invoice() -> Invoice {
        let period = Period::new(at("2027-01-01T00:00:00Z"), at("2027-02-01T00:00:00Z"));
        InvoiceDraft {
            kind: InvoiceKind::Subscription,
            billing_reason: BillingReason::SubscriptionCycle,
            user_id: "usr_1".into(),
            subscription_id: Some("sub_1".into()),
            currency: Currency::USD,
            period,
            lines: vec![InvoiceLine::plain(
                LineKind::BaseFee,
                "fee".into(),
                1000,
                period,
            )],
            related_invoice_id: None,
        }
        .finalize(
            InvoiceIds {
                id: "inv_1".into(),
                number: "INV-000001".into(),
            },
            0,
            at("2027-02-01T00:00:00Z"),
        )
        .unwrap()
        .invoice
    }

    fn declined() -> AttemptOutcome {
        AttemptOutcome::Failed {
            failure_code: "card_declined".into(),
        }
    }

    #[test]
    fn the_default_schedule_retries_after_1_3_and_5_days() {
        let schedule = DunningSchedule::default();
        let finalized = at("2027-02-01T00:00:00Z");
        assert_eq!(schedule.max_attempts(), 4);
        assert_eq!(schedule.next_attempt_at(finalized, 0), Some(finalized));
        assert_eq!(
            schedule.next_attempt_at(finalized, 1),
            Some(at("2027-02-02T00:00:00Z"))
        );
        assert_eq!(
            schedule.next_attempt_at(finalized, 2),
            Some(at("2027-02-04T00:00:00Z"))
        );
        assert_eq!(
            schedule.next_attempt_at(finalized, 3),
            Some(at("2027-02-06T00:00:00Z"))
        );
        assert_eq!(schedule.next_attempt_at(finalized, 4), None);
    }

    #[test]
    fn four_declines_make_the_invoice_uncollectible_and_cancel_the_subscription() {
        let schedule = DunningSchedule::default();
        let mut invoice = open_invoice();
        let mut effects = Vec::new();
        for day in ["01", "02", "04", "06"] {
            let now = at(&format!("2027-02-{day}T00:00:00Z"));
            effects.push(invoice.record_attempt(&declined(), now, &schedule).unwrap());
        }
        assert_eq!(
            effects.iter().map(|e| e.subscription).collect::<Vec<_>>(),
            [
                SubscriptionEffect::PastDue,
                SubscriptionEffect::PastDue,
                SubscriptionEffect::PastDue,
                SubscriptionEffect::Cancel
            ]
        );
        assert_eq!(effects[3].actions, [AuditAction::InvoiceUncollectible]);
        assert_eq!(invoice.status, InvoiceStatus::Uncollectible);
        assert_eq!(invoice.attempt_count, 4);
        assert_eq!(invoice.next_payment_attempt, None);
        assert!(
            invoice
                .record_attempt(&declined(), at("2027-02-07T00:00:00Z"), &schedule)
                .is_err()
        );
    }

    #[test]
    fn a_failed_attempt_schedules_the_next_retry() {
        let schedule = DunningSchedule::default();
        let mut invoice = open_invoice();
        invoice
            .record_attempt(&declined(), at("2027-02-01T00:00:00Z"), &schedule)
            .unwrap();
        assert_eq!(
            invoice.next_payment_attempt,
            Some(at("2027-02-02T00:00:00Z"))
        );
        // An overdue retry (the run was late) is due now, not in the past.
        invoice
            .record_attempt(&declined(), at("2027-02-05T00:00:00Z"), &schedule)
            .unwrap();
        assert_eq!(
            invoice.next_payment_attempt,
            Some(at("2027-02-05T00:00:00Z"))
        );
    }

    #[test]
    fn a_success_after_failures_pays_and_recovers_the_subscription() {
        let schedule = DunningSchedule::default();
        let mut invoice = open_invoice();
        invoice
            .record_attempt(&declined(), at("2027-02-01T00:00:00Z"), &schedule)
            .unwrap();
        let effect = invoice
            .record_attempt(
                &AttemptOutcome::Succeeded,
                at("2027-02-02T00:00:00Z"),
                &schedule,
            )
            .unwrap();
        assert_eq!(effect.subscription, SubscriptionEffect::Recover);
        assert_eq!(effect.actions, [AuditAction::InvoicePaid]);
        assert_eq!(invoice.status, InvoiceStatus::Paid);
        assert_eq!(invoice.attempt_count, 2);
        // Exactly one paid transition: a second success is refused.
        assert_eq!(
            invoice
                .record_attempt(
                    &AttemptOutcome::Succeeded,
                    at("2027-02-02T00:00:01Z"),
                    &schedule
                )
                .unwrap_err()
                .code(),
            "invoice_not_open"
        );
    }

    #[test]
    fn schedules_must_increase() {
        assert!(DunningSchedule::new(vec![Duration::days(2), Duration::days(1)]).is_none());
        assert!(DunningSchedule::new(vec![Duration::zero()]).is_none());
        assert_eq!(DunningSchedule::new(vec![]).unwrap().max_attempts(), 1);
    }

    #[test]
    fn transient_retries_back_off_exponentially_with_jitter_and_stop_after_three_calls() {
        let retry = TransientRetry::default();
        assert_eq!(retry.delay_before_next_call_ms(0, 7), None);
        assert_eq!(
            retry.delay_before_next_call_ms(1, u64::MAX),
            Some(u64::MAX % 101)
        );
        assert!(retry.delay_before_next_call_ms(1, 12_345).unwrap() <= 100);
        assert!(retry.delay_before_next_call_ms(2, 12_345).unwrap() <= 200);
        assert_eq!(retry.delay_before_next_call_ms(2, 200), Some(200));
        assert_eq!(retry.delay_before_next_call_ms(3, 1), None);
    }

    #[test]
    fn the_simulated_gateway_follows_billing_md() {
        assert_eq!(
            simulated_charge(Some("pm_card_ok"), 1),
            SimulatedCharge::Succeeded
        );
        assert_eq!(
            simulated_charge(Some("pm_card_declined"), 1),
            SimulatedCharge::Declined {
                code: "card_declined"
            }
        );
        assert_eq!(
            simulated_charge(Some("pm_card_flaky"), 1),
            SimulatedCharge::TransientError
        );
        assert_eq!(
            simulated_charge(Some("pm_card_flaky"), 2),
            SimulatedCharge::Succeeded
        );
        assert_eq!(
            simulated_charge(None, 1),
            SimulatedCharge::Declined {
                code: "no_payment_method"
            }
        );
        assert_eq!(
            simulated_charge(Some("pm_other"), 1),
            SimulatedCharge::Declined {
                code: "invalid_payment_method"
            }
        );
    }

    #[test]
    fn the_gateway_idempotency_key_is_stable_per_attempt() {
        assert_eq!(
            attempt_idempotency_key("inv_1", 2),
            attempt_idempotency_key("inv_1", 2)
        );
        assert_ne!(
            attempt_idempotency_key("inv_1", 2),
            attempt_idempotency_key("inv_1", 3)
        );
    }
}
