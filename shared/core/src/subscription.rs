//! The subscription state machine. Every command is a function of (state, command, now) that
//! returns the new state, the invoice it produces (if any) and the audit actions — or a typed
//! error. Nothing here panics or does I/O; the caller writes the result atomically.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::audit::AuditAction;
use crate::error::{BillingError, FieldError, Result};
use crate::invoice::{BillingReason, InvoiceDraft, InvoiceKind, InvoiceLine, LineKind};
use crate::money::{Cents, cents_from_i128, round_half_away_from_zero};
use crate::period::{Period, Timestamp, add_days, add_months};
use crate::plan::Plan;
use crate::pricing::push_usage_lines;
use crate::text::{push_date, push_date_time};

/// How many periods one call of [`Subscription::renew_due`] closes at most; a caller that
/// gets this many calls again (a subscription asleep for 83 years of months is still finite).
pub const MAX_RENEWALS_PER_CALL: usize = 1_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum SubscriptionStatus {
    Trialing,
    Active,
    PastDue,
    Canceled,
}

impl SubscriptionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Trialing => "trialing",
            Self::Active => "active",
            Self::PastDue => "past_due",
            Self::Canceled => "canceled",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Trialing, Self::Active, Self::PastDue, Self::Canceled]
            .into_iter()
            .find(|s| s.as_str() == text)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Subscription {
    pub id: String,
    pub user_id: String,
    pub plan_code: String,
    pub status: SubscriptionStatus,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub current_period_start: Timestamp,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub current_period_end: Timestamp,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub trial_end: Option<Timestamp>,
    pub cancel_at_period_end: bool,
    pub pending_plan_code: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: Timestamp,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub canceled_at: Option<Timestamp>,
    /// The anchor A that paid periods are computed from (BILLING.md "Billing periods").
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub billing_anchor: Timestamp,
    /// Months from A to the current period's start. Kept in months, not as a period index, so
    /// a scheduled change between monthly and yearly plans keeps A's day of month.
    pub anchor_offset_months: u32,
}

/// The result of a command: the new state, the invoice to finalize (if any), the audit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub subscription: Subscription,
    pub invoice: Option<InvoiceDraft>,
    /// Subscription actions; the invoice's own actions come from finalizing it.
    pub actions: Vec<AuditAction>,
}

impl Transition {
    fn unchanged(subscription: &Subscription) -> Self {
        Self {
            subscription: subscription.clone(),
            invoice: None,
            actions: Vec::new(),
        }
    }
}

/// Where the rules find plans by code.
pub trait PlanCatalog {
    fn plan(&self, code: &str) -> Option<&Plan>;
}

impl PlanCatalog for [Plan] {
    fn plan(&self, code: &str) -> Option<&Plan> {
        self.iter().find(|p| p.code == code)
    }
}

impl PlanCatalog for Vec<Plan> {
    fn plan(&self, code: &str) -> Option<&Plan> {
        self.as_slice().plan(code)
    }
}

impl PlanCatalog for HashMap<String, Plan> {
    fn plan(&self, code: &str) -> Option<&Plan> {
        self.get(code)
    }
}

impl PlanCatalog for BTreeMap<String, Plan> {
    fn plan(&self, code: &str) -> Option<&Plan> {
        self.get(code)
    }
}

/// The usage of each metric over the period being billed (distinct events, summed).
pub trait UsageTotals {
    fn quantity(&self, metric: &str) -> u64;
}

impl UsageTotals for HashMap<String, u64> {
    fn quantity(&self, metric: &str) -> u64 {
        self.get(metric).copied().unwrap_or(0)
    }
}

impl UsageTotals for BTreeMap<String, u64> {
    fn quantity(&self, metric: &str) -> u64 {
        self.get(metric).copied().unwrap_or(0)
    }
}

impl UsageTotals for [(&str, u64)] {
    fn quantity(&self, metric: &str) -> u64 {
        self.iter()
            .filter(|(m, _)| *m == metric)
            .map(|(_, q)| *q)
            .sum()
    }
}

/// No usage at all.
pub struct NoUsage;

impl UsageTotals for NoUsage {
    fn quantity(&self, _: &str) -> u64 {
        0
    }
}

/// The unused part of a fixed fee when a period `[S, E)` is cut short at `at`:
/// `round(fee × (E − at) / (E − S))`, half away from zero, counted in seconds.
/// Never more than the fee, never negative.
pub fn proration_credit_cents(fee_cents: Cents, period: Period, at: Timestamp) -> Result<Cents> {
    let total = i128::from(period.seconds());
    let unused = i128::from((period.end - at).num_seconds()).clamp(0, total.max(0));
    if total <= 0 || fee_cents == 0 {
        return Ok(0);
    }
    cents_from_i128(
        round_half_away_from_zero(i128::from(fee_cents) * unused, total),
        "proration credit",
    )
}

fn base_fee_line(plan: &Plan, period: Period) -> InvoiceLine {
    let mut description = String::with_capacity(plan.name.len() + 40);
    description.push_str(&plan.name);
    description.push_str(" — ");
    description.push_str(plan.interval.adjective());
    description.push_str(" fee, ");
    push_date(&mut description, period.start);
    description.push_str(" to ");
    push_date(&mut description, period.end);
    InvoiceLine::plain(LineKind::BaseFee, description, plan.amount_cents, period)
}

fn proration_line(plan: &Plan, period: Period, at: Timestamp) -> Result<Option<InvoiceLine>> {
    let credit = proration_credit_cents(plan.amount_cents, period, at)?;
    // A credit that rounds to 0¢ (or a free plan) is no line: there is nothing to give back.
    Ok((credit != 0).then(|| {
        InvoiceLine::plain(
            LineKind::ProrationCredit,
            {
                let mut description = format!("Unused time on {} from ", plan.name);
                push_date_time(&mut description, at);
                description.push_str(" to ");
                push_date_time(&mut description, period.end);
                description
            },
            -credit,
            Period::new(at, period.end),
        )
    }))
}

/// Usage lines of every charge of `plan` over `period`, in the plan's charge order, with room
/// for the fee and credit lines that follow them on the same invoice.
fn plan_usage_lines(
    plan: &Plan,
    usage: &(impl UsageTotals + ?Sized),
    period: Period,
) -> Result<Vec<InvoiceLine>> {
    let tiers: usize = plan.usage_charges.iter().map(|c| c.tiers.len()).sum();
    let mut lines = Vec::with_capacity(tiers + 2);
    for charge in &plan.usage_charges {
        push_usage_lines(&mut lines, charge, usage.quantity(&charge.metric), period)?;
    }
    Ok(lines)
}

impl Subscription {
    /// Creates a subscription at `now` (BILLING.md "Create"): trialing with no invoice when the
    /// trial has days, otherwise active with an invoice for the first period's fee.
    pub fn create(
        id: String,
        user_id: String,
        plan: &Plan,
        trial_days_override: Option<u32>,
        now: Timestamp,
    ) -> Result<Transition> {
        if plan.archived {
            return Err(BillingError::PlanArchived {
                plan_code: plan.code.clone(),
            });
        }
        let trial_days = trial_days_override.unwrap_or(plan.trial_days);
        let mut subscription = Subscription {
            id,
            user_id,
            plan_code: plan.code.clone(),
            status: SubscriptionStatus::Active,
            current_period_start: now,
            current_period_end: now,
            trial_end: None,
            cancel_at_period_end: false,
            pending_plan_code: None,
            created_at: now,
            canceled_at: None,
            billing_anchor: now,
            anchor_offset_months: 0,
        };
        let actions = vec![AuditAction::SubscriptionCreated];
        if trial_days > 0 {
            let trial_end = add_days(now, trial_days)?;
            subscription.status = SubscriptionStatus::Trialing;
            subscription.current_period_end = trial_end;
            subscription.trial_end = Some(trial_end);
            return Ok(Transition {
                subscription,
                invoice: None,
                actions,
            });
        }
        let period = Period::new(now, add_months(now, plan.interval.months())?);
        subscription.current_period_end = period.end;
        let invoice = subscription.draft(
            BillingReason::SubscriptionCreate,
            plan,
            period,
            vec![base_fee_line(plan, period)],
        );
        Ok(Transition {
            subscription,
            invoice: Some(invoice),
            actions,
        })
    }

    pub fn current_period(&self) -> Period {
        Period::new(self.current_period_start, self.current_period_end)
    }

    /// Not canceled: it bills, and it claims its plan's metrics.
    pub fn is_live(&self) -> bool {
        self.status != SubscriptionStatus::Canceled
    }

    /// The current period has ended and the invoice run must renew it.
    pub fn is_due(&self, now: Timestamp) -> bool {
        self.is_live() && self.current_period_end <= now
    }

    /// Usage at `timestamp` can still be billed: it is not before the current period
    /// (whose predecessors are already invoiced). API.md answers `period_closed` otherwise.
    pub fn accepts_usage_at(&self, timestamp: Timestamp) -> bool {
        timestamp >= self.current_period_start
    }

    /// Closes the current period, which must have ended (`E ≤ now`), and opens the next one.
    /// `usage` is the usage of the closing period `[S, E)`.
    pub fn renew(
        &self,
        plans: &(impl PlanCatalog + ?Sized),
        usage: &(impl UsageTotals + ?Sized),
        now: Timestamp,
    ) -> Result<Transition> {
        self.ensure_live("renew")?;
        if self.current_period_end > now {
            return Err(BillingError::NotDue {
                period_end: self.current_period_end.to_rfc3339(),
            });
        }
        self.close_period(plans, usage)
    }

    /// Renews period after period until the subscription is no longer due (a clock that jumped
    /// several periods gives one invoice per period, in order). `usage_of` is asked for the
    /// usage of each closing period, given the state whose current period is closing.
    pub fn renew_due<U: UsageTotals>(
        &self,
        plans: &(impl PlanCatalog + ?Sized),
        mut usage_of: impl FnMut(&Subscription) -> U,
        now: Timestamp,
    ) -> Result<Vec<Transition>> {
        let mut transitions: Vec<Transition> = Vec::new();
        let mut state = self;
        while state.is_due(now) && transitions.len() < MAX_RENEWALS_PER_CALL {
            let usage = usage_of(state);
            let next = state.renew(plans, &usage, now)?;
            transitions.push(next);
            state = match transitions.last() {
                Some(last) => &last.subscription,
                None => break,
            };
        }
        Ok(transitions)
    }

    /// What the next renewal would bill with `usage` so far; nothing is stored.
    pub fn preview_renewal(
        &self,
        plans: &(impl PlanCatalog + ?Sized),
        usage: &(impl UsageTotals + ?Sized),
    ) -> Result<Transition> {
        self.ensure_live("preview the next invoice of")?;
        self.close_period(plans, usage)
    }

    fn close_period(
        &self,
        plans: &(impl PlanCatalog + ?Sized),
        usage: &(impl UsageTotals + ?Sized),
    ) -> Result<Transition> {
        let plan = lookup(plans, &self.plan_code)?;
        let closing = self.current_period();
        let in_trial = self.status == SubscriptionStatus::Trialing;
        // Usage during a trial is not billed.
        let mut lines = if in_trial {
            Vec::new()
        } else {
            plan_usage_lines(plan, usage, closing)?
        };
        let mut next = self.clone();

        if self.cancel_at_period_end {
            next.status = SubscriptionStatus::Canceled;
            next.canceled_at = Some(closing.end);
            let invoice = (!lines.is_empty())
                .then(|| self.draft(BillingReason::SubscriptionCycle, plan, closing, lines));
            return Ok(Transition {
                subscription: next,
                invoice,
                actions: vec![AuditAction::SubscriptionCanceled],
            });
        }

        let next_plan = match &self.pending_plan_code {
            Some(code) => lookup(plans, code)?,
            None => plan,
        };
        if in_trial {
            // The first paid period starts when the trial ends: the anchor moves there.
            next.billing_anchor = closing.end;
            next.anchor_offset_months = 0;
        } else {
            next.anchor_offset_months = self
                .anchor_offset_months
                .checked_add(plan.interval.months())
                .ok_or(BillingError::DateOutOfRange {
                    what: "billing period",
                })?;
        }
        let end_offset = next
            .anchor_offset_months
            .checked_add(next_plan.interval.months())
            .ok_or(BillingError::DateOutOfRange {
                what: "billing period",
            })?;
        let opening = Period::new(closing.end, add_months(next.billing_anchor, end_offset)?);
        next.current_period_start = opening.start;
        next.current_period_end = opening.end;
        next.plan_code = next_plan.code.clone();
        next.pending_plan_code = None;
        if in_trial {
            next.status = SubscriptionStatus::Active;
        }
        lines.push(base_fee_line(next_plan, opening));

        let mut actions = vec![if in_trial {
            AuditAction::SubscriptionTrialEnded
        } else {
            AuditAction::SubscriptionRenewed
        }];
        if self.pending_plan_code.is_some() {
            actions.push(AuditAction::SubscriptionPlanChanged);
        }
        Ok(Transition {
            invoice: Some(self.draft(BillingReason::SubscriptionCycle, plan, closing, lines)),
            subscription: next,
            actions,
        })
    }

    /// Switches to `new_plan` at `now` (BILLING.md "Plan change now"). `usage` is the usage of
    /// `[S, now)`, billed by the current plan. In a trial only the plan switches.
    pub fn change_plan_now(
        &self,
        current_plan: &Plan,
        new_plan: &Plan,
        usage: &(impl UsageTotals + ?Sized),
        now: Timestamp,
    ) -> Result<Transition> {
        self.ensure_live("change the plan of")?;
        self.ensure_current_plan(current_plan)?;
        self.ensure_within_period(now)?;
        self.ensure_can_move_to(current_plan, new_plan)?;
        let mut next = self.clone();
        next.plan_code = new_plan.code.clone();
        next.pending_plan_code = None;
        let actions = vec![AuditAction::SubscriptionPlanChanged];
        if self.status == SubscriptionStatus::Trialing {
            return Ok(Transition {
                subscription: next,
                invoice: None,
                actions,
            });
        }
        let (used, mut lines) = self.interrupt_period(current_plan, usage, now)?;
        let opening = Period::new(now, add_months(now, new_plan.interval.months())?);
        lines.push(base_fee_line(new_plan, opening));
        next.billing_anchor = now;
        next.anchor_offset_months = 0;
        next.current_period_start = opening.start;
        next.current_period_end = opening.end;
        Ok(Transition {
            invoice: Some(self.draft(BillingReason::SubscriptionUpdate, current_plan, used, lines)),
            subscription: next,
            actions,
        })
    }

    /// Switches to `new_plan` at the next renewal; no proration.
    pub fn schedule_plan_change(
        &self,
        current_plan: &Plan,
        new_plan: &Plan,
        now: Timestamp,
    ) -> Result<Transition> {
        self.ensure_live("change the plan of")?;
        self.ensure_current_plan(current_plan)?;
        self.ensure_within_period(now)?;
        self.ensure_can_move_to(current_plan, new_plan)?;
        let mut next = self.clone();
        next.pending_plan_code = Some(new_plan.code.clone());
        Ok(Transition {
            subscription: next,
            invoice: None,
            actions: vec![AuditAction::SubscriptionPlanChangeScheduled],
        })
    }

    /// Forgets the plan change scheduled for the period end, for a renewal that cannot apply
    /// it (the plan or one of its metrics was taken by another live subscription of the user
    /// since it was scheduled): the subscription renews on its current plan instead of never.
    pub fn drop_scheduled_plan_change(&self) -> Transition {
        if self.pending_plan_code.is_none() {
            return Transition::unchanged(self);
        }
        let mut next = self.clone();
        next.pending_plan_code = None;
        Transition {
            subscription: next,
            invoice: None,
            actions: vec![AuditAction::SubscriptionPlanChangeDropped],
        }
    }

    /// The invoice of its own that bills late usage of this subscription once it has ended
    /// (canceled: it has no next invoice to carry it). Its lines are the `usage_late` lines,
    /// each with its own period; the invoice's period is the instant it is made, as Stripe
    /// gives invoices outside a cycle, which also makes it one invoice per (subscription,
    /// instant): late usage arriving later gets the next one.
    pub fn late_usage_invoice(
        &self,
        plan: &Plan,
        lines: Vec<InvoiceLine>,
        now: Timestamp,
    ) -> Result<Option<InvoiceDraft>> {
        if self.is_live() {
            return Err(BillingError::IllegalTransition {
                status: self.status.as_str(),
                action: "bill late usage on an invoice of its own for",
            });
        }
        Ok((!lines.is_empty())
            .then(|| self.draft(BillingReason::UsageLate, plan, Period::new(now, now), lines)))
    }

    /// Cancels at the end of the current period. Asking twice changes nothing the second time.
    pub fn cancel_at_period_end(&self, now: Timestamp) -> Result<Transition> {
        self.ensure_live("cancel")?;
        self.ensure_within_period(now)?;
        if self.cancel_at_period_end {
            return Ok(Transition::unchanged(self));
        }
        let mut next = self.clone();
        next.cancel_at_period_end = true;
        Ok(Transition {
            subscription: next,
            invoice: None,
            actions: vec![AuditAction::SubscriptionCancelScheduled],
        })
    }

    /// Cancels at `now`: a final invoice with the usage of `[S, now)` and a credit for the
    /// unused fee (none of either in a trial; no invoice when that leaves no lines).
    pub fn cancel_now(
        &self,
        current_plan: &Plan,
        usage: &(impl UsageTotals + ?Sized),
        now: Timestamp,
    ) -> Result<Transition> {
        self.ensure_live("cancel")?;
        self.ensure_current_plan(current_plan)?;
        self.ensure_within_period(now)?;
        let mut next = self.clone();
        next.status = SubscriptionStatus::Canceled;
        next.canceled_at = Some(now);
        next.cancel_at_period_end = false;
        next.pending_plan_code = None;
        let actions = vec![AuditAction::SubscriptionCanceled];
        if self.status == SubscriptionStatus::Trialing {
            return Ok(Transition {
                subscription: next,
                invoice: None,
                actions,
            });
        }
        let (used, lines) = self.interrupt_period(current_plan, usage, now)?;
        let invoice = (!lines.is_empty())
            .then(|| self.draft(BillingReason::SubscriptionCancel, current_plan, used, lines));
        Ok(Transition {
            subscription: next,
            invoice,
            actions,
        })
    }

    /// Cuts the current (paid) period short at `now`: the used part `[S, now)` and its lines,
    /// the usage of `[S, now)` priced by `current_plan` and a credit for the unused fee. The
    /// credit uses the interrupted period and its plan's fee: a monthly → yearly change credits
    /// the unused month, a yearly → monthly change the unused year.
    fn interrupt_period(
        &self,
        current_plan: &Plan,
        usage: &(impl UsageTotals + ?Sized),
        now: Timestamp,
    ) -> Result<(Period, Vec<InvoiceLine>)> {
        let interrupted = self.current_period();
        let used = Period::new(interrupted.start, now);
        let mut lines = plan_usage_lines(current_plan, usage, used)?;
        lines.extend(proration_line(current_plan, interrupted, now)?);
        Ok((used, lines))
    }

    /// A payment of one of its invoices failed: `active → past_due`. Otherwise unchanged.
    pub fn mark_past_due(&self) -> Transition {
        self.with_status_if(
            SubscriptionStatus::Active,
            SubscriptionStatus::PastDue,
            AuditAction::SubscriptionPastDue,
        )
    }

    /// Its failing invoice was paid: `past_due → active`. Otherwise unchanged.
    pub fn recover(&self) -> Transition {
        self.with_status_if(
            SubscriptionStatus::PastDue,
            SubscriptionStatus::Active,
            AuditAction::SubscriptionRecovered,
        )
    }

    /// The last dunning attempt failed: canceled at `now`, no final invoice. Idempotent.
    pub fn cancel_for_nonpayment(&self, now: Timestamp) -> Transition {
        if !self.is_live() {
            return Transition::unchanged(self);
        }
        let mut next = self.clone();
        next.status = SubscriptionStatus::Canceled;
        next.canceled_at = Some(now);
        next.pending_plan_code = None;
        Transition {
            subscription: next,
            invoice: None,
            actions: vec![AuditAction::SubscriptionCanceled],
        }
    }

    fn with_status_if(
        &self,
        from: SubscriptionStatus,
        to: SubscriptionStatus,
        action: AuditAction,
    ) -> Transition {
        if self.status != from {
            return Transition::unchanged(self);
        }
        let mut next = self.clone();
        next.status = to;
        Transition {
            subscription: next,
            invoice: None,
            actions: vec![action],
        }
    }

    fn draft(
        &self,
        billing_reason: BillingReason,
        plan: &Plan,
        period: Period,
        lines: Vec<InvoiceLine>,
    ) -> InvoiceDraft {
        InvoiceDraft {
            kind: InvoiceKind::Subscription,
            billing_reason,
            user_id: self.user_id.clone(),
            subscription_id: Some(self.id.clone()),
            currency: plan.currency,
            period,
            lines,
            related_invoice_id: None,
        }
    }

    fn ensure_live(&self, action: &'static str) -> Result<()> {
        if self.is_live() {
            Ok(())
        } else {
            Err(BillingError::IllegalTransition {
                status: self.status.as_str(),
                action,
            })
        }
    }

    /// A command at `now` must fall inside the current period: before it is impossible on a
    /// clock that only moves forward, at or after its end the renewal has to run first.
    fn ensure_within_period(&self, now: Timestamp) -> Result<()> {
        if now < self.current_period_start {
            return Err(BillingError::BeforePeriodStart {
                at: now.to_rfc3339(),
                period_start: self.current_period_start.to_rfc3339(),
            });
        }
        if now >= self.current_period_end {
            return Err(BillingError::RenewalDue {
                period_end: self.current_period_end.to_rfc3339(),
            });
        }
        Ok(())
    }

    fn ensure_current_plan(&self, plan: &Plan) -> Result<()> {
        if plan.code == self.plan_code {
            Ok(())
        } else {
            Err(FieldError::new(
                "plan_code",
                "plan_mismatch",
                format!(
                    "the subscription is on plan {:?}, not {:?}",
                    self.plan_code, plan.code
                ),
            )
            .into())
        }
    }

    fn ensure_can_move_to(&self, current_plan: &Plan, new_plan: &Plan) -> Result<()> {
        if new_plan.code == self.plan_code {
            return Err(BillingError::SamePlan {
                plan_code: new_plan.code.clone(),
            });
        }
        if new_plan.archived {
            return Err(BillingError::PlanArchived {
                plan_code: new_plan.code.clone(),
            });
        }
        if new_plan.currency != current_plan.currency {
            return Err(BillingError::CurrencyMismatch {
                plan_code: new_plan.code.clone(),
                expected: current_plan.currency.to_string(),
                found: new_plan.currency.to_string(),
            });
        }
        Ok(())
    }
}

fn lookup<'a>(plans: &'a (impl PlanCatalog + ?Sized), code: &str) -> Result<&'a Plan> {
    plans.plan(code).ok_or_else(|| BillingError::UnknownPlan {
        plan_code: code.to_owned(),
    })
}
