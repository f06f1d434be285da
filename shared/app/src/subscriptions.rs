//! Subscriptions: create, change plan, cancel, preview and renew. Each command reads through
//! the ledger, lets `billing-core` decide, and commits the new state, its invoice and its audit
//! in one change. Periods are sealed for aggregation before their usage is read, so usage that
//! arrives later is billed late instead of lost.

use std::collections::BTreeMap;

use billing_core::audit::AuditAction;
use billing_core::invoice::{
    BillingReason, Invoice, InvoiceDraft, InvoiceIds, InvoiceKind, InvoiceLine, InvoiceStatus,
    Totals,
};
use billing_core::plan::{Plan, validate_trial_days};
use billing_core::pricing::late_usage_lines;
use billing_core::subscription::{
    MAX_RENEWALS_PER_CALL, Subscription, SubscriptionStatus, Transition,
};
use billing_core::user::User;
use billing_core::{Currency, Period, Timestamp};
use billing_ledger::{Change, Conflict, LateUsage, Listing, PageRequest, Seal, Versioned};
use serde::{Deserialize, Serialize};

use crate::context::{Actor, App};
use crate::error::AppError;
use crate::ids;
use crate::support::{
    Attempt, NumberBlock, audit, finalize_invoice, retry_races, write_user_if_changed,
};

#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateSubscription {
    pub user_id: String,
    pub plan_code: String,
    #[serde(default)]
    pub trial_days: Option<i64>,
}

#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ChangePlan {
    pub plan_code: String,
    /// `now` (default) or `period_end`.
    #[serde(default)]
    pub effective: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Cancel {
    /// Default true.
    #[serde(default)]
    pub at_period_end: Option<bool>,
}

/// A subscription and the invoice a command produced (if any).
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SubscriptionWithInvoice {
    pub subscription: Subscription,
    pub invoice: Option<Invoice>,
}

/// What `POST /v1/subscriptions/{id}/change-plan` would answer at the billing clock's now,
/// computed by the same command and stored nowhere.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChangePlanPreview {
    pub subscription: Subscription,
    /// Null when the change would create no invoice (e.g. `period_end`).
    pub invoice: Option<ProposedInvoice>,
}

/// An invoice as the change would finalize it, without the `id` and `number` it would only
/// get when committed (the number is the next one free at that moment).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProposedInvoice {
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
    pub subtotal_cents: i64,
    pub credit_applied_cents: i64,
    pub amount_due_cents: i64,
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

impl From<Invoice> for ProposedInvoice {
    fn from(invoice: Invoice) -> Self {
        Self {
            user_id: invoice.user_id,
            subscription_id: invoice.subscription_id,
            kind: invoice.kind,
            billing_reason: invoice.billing_reason,
            status: invoice.status,
            currency: invoice.currency,
            period_start: invoice.period_start,
            period_end: invoice.period_end,
            lines: invoice.lines,
            subtotal_cents: invoice.subtotal_cents,
            credit_applied_cents: invoice.credit_applied_cents,
            amount_due_cents: invoice.amount_due_cents,
            attempt_count: invoice.attempt_count,
            next_payment_attempt: invoice.next_payment_attempt,
            related_invoice_id: invoice.related_invoice_id,
            created_at: invoice.created_at,
            paid_at: invoice.paid_at,
            voided_at: invoice.voided_at,
        }
    }
}

/// The next renewal invoice as it would be with the usage so far; nothing is stored.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InvoicePreview {
    pub subscription_id: String,
    pub user_id: String,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub currency: Currency,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub period_start: Timestamp,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub period_end: Timestamp,
    pub lines: Vec<InvoiceLine>,
    pub subtotal_cents: i64,
    pub credit_applied_cents: i64,
    pub amount_due_cents: i64,
}

async fn read_subscription(app: &App, id: &str) -> Result<Versioned<Subscription>, AppError> {
    app.ledger
        .subscription(id)
        .await?
        .ok_or_else(|| AppError::not_found("subscription", id))
}

async fn read_plan(app: &App, code: &str) -> Result<Plan, AppError> {
    app.ledger
        .plan(code)
        .await?
        .map(|p| p.value)
        .ok_or_else(|| AppError::Missing {
            entity: "plan",
            id: code.to_owned(),
            param: "plan_code",
            code: "resource_missing",
        })
}

async fn read_user(app: &App, id: &str) -> Result<Versioned<User>, AppError> {
    app.ledger.user(id).await?.ok_or_else(|| AppError::Missing {
        entity: "user",
        id: id.to_owned(),
        param: "user_id",
        code: "resource_missing",
    })
}

/// The usage of every metric `plan` prices, by `user_id`, in `period`.
async fn usage_totals(
    app: &App,
    user_id: &str,
    plan: &Plan,
    period: Period,
) -> Result<BTreeMap<String, u64>, AppError> {
    let mut totals = BTreeMap::new();
    for metric in plan.metrics() {
        let quantity = app
            .ledger
            .usage_sum(user_id, metric, period.start, period.end)
            .await?;
        totals.insert(metric.to_owned(), quantity);
    }
    Ok(totals)
}

/// Late usage of the subscription's closed periods as `usage_late` lines, priced as extra
/// quantity on top of what each period billed, under the plan it was billed under.
async fn late_lines(
    app: &App,
    subscription: &Subscription,
) -> Result<(Vec<InvoiceLine>, Vec<LateUsage>), AppError> {
    let pending = app.ledger.late_usage(&subscription.id).await?;
    let mut lines = Vec::new();
    for late in &pending {
        let plan = read_plan(app, &late.plan_code).await?;
        let Some(charge) = plan.charge_for(&late.metric) else {
            continue;
        };
        let period = Period::new(late.period_start, late.period_end);
        let total = app
            .ledger
            .usage_sum(
                &subscription.user_id,
                &late.metric,
                period.start,
                period.end,
            )
            .await?;
        let billed = total.saturating_sub(late.quantity);
        lines.extend(late_usage_lines(charge, billed, late.quantity, period)?);
    }
    Ok((lines, pending))
}

/// A period being closed by a transition: its seal, and the usage version read before its
/// usage (the close fails, and retries, if aggregation added usage since).
struct Closing {
    seal: Seal,
    usage_version: u64,
}

/// Reads the usage of `period` under `plan` for closing it: the usage version first, then the
/// sums (none for a trial, whose usage is never billed).
async fn read_closing(
    app: &App,
    subscription: &Subscription,
    plan: &Plan,
    period: Period,
) -> Result<(Closing, BTreeMap<String, u64>), AppError> {
    let billed = subscription.status != SubscriptionStatus::Trialing;
    let usage_version = app
        .ledger
        .period_usage_version(&subscription.id, period.start)
        .await?;
    let usage = if billed {
        usage_totals(app, &subscription.user_id, plan, period).await?
    } else {
        BTreeMap::new()
    };
    let seal = Seal {
        period_start: period.start,
        period_end: period.end,
        plan_code: plan.code.clone(),
        billed,
    };
    Ok((
        Closing {
            seal,
            usage_version,
        },
        usage,
    ))
}

/// Writes a transition: the subscription (moving its claims), its audit, and its invoice with
/// any late usage, finalized against the user's credit, in `change` (which may already hold
/// checks or entries of the caller's).
#[allow(clippy::too_many_arguments)]
async fn commit_transition(
    app: &App,
    mut change: Change,
    read: &Versioned<Subscription>,
    transition: Transition,
    plan_before: &Plan,
    plan_after: &Plan,
    closing: Option<Closing>,
    now: Timestamp,
    actor: &Actor,
) -> Result<Option<Invoice>, Attempt> {
    if let Some(closing) = &closing {
        change.seal_period(&read.value.id, &closing.seal, closing.usage_version)?;
    }
    change.update_subscription(read, &transition.subscription, plan_before, plan_after, now)?;
    for action in &transition.actions {
        audit(
            &mut change,
            *action,
            &read.value.id,
            actor,
            now,
            serde_json::json!({
                "status": transition.subscription.status,
                "plan_code": transition.subscription.plan_code,
                "current_period_end": transition.subscription.current_period_end,
            }),
        )?;
    }
    let invoice = match transition.invoice {
        Some(draft) => Some(write_invoice(app, &mut change, draft, &read.value, now, actor).await?),
        None => None,
    };
    app.ledger.commit(change).await.map_err(claim_conflict)?;
    if invoice.is_some() {
        app.metrics.invoices_created(1);
    }
    Ok(invoice)
}

/// Adds the late usage waiting for the subscription's next invoice to `draft`; returns what
/// it billed (to clear once the invoice is written).
async fn add_late_lines(
    app: &App,
    draft: &mut InvoiceDraft,
    subscription: &Subscription,
) -> Result<Vec<LateUsage>, AppError> {
    let (late, pending) = late_lines(app, subscription).await?;
    draft.lines.extend(late);
    Ok(pending)
}

/// Adds a subscription invoice (with the late usage waiting for it) to `change`.
async fn write_invoice(
    app: &App,
    change: &mut Change,
    mut draft: InvoiceDraft,
    subscription: &Subscription,
    now: Timestamp,
    actor: &Actor,
) -> Result<Invoice, Attempt> {
    let pending = add_late_lines(app, &mut draft, subscription).await?;
    finalize_into(app, change, draft, subscription, &pending, now, actor).await
}

/// Finalizes `draft`, which bills the late usage `billed`, into `change`.
async fn finalize_into(
    app: &App,
    change: &mut Change,
    draft: InvoiceDraft,
    subscription: &Subscription,
    billed: &[LateUsage],
    now: Timestamp,
    actor: &Actor,
) -> Result<Invoice, Attempt> {
    for late in billed {
        change.clear_late_usage(late);
    }
    let user_read = read_user(app, &subscription.user_id).await?;
    let mut user = user_read.value.clone();
    let mut numbers = NumberBlock::take(app).await?;
    let invoice = finalize_invoice(change, draft, &mut user, &mut numbers, now, actor)?;
    numbers.commit_into(change);
    write_user_if_changed(change, &user_read, &user)?;
    Ok(invoice)
}

/// The code of a refusal because the user already has a live subscription to the plan.
const SUBSCRIPTION_EXISTS: &str = "subscription_exists";

fn claim_conflict(error: billing_ledger::LedgerError) -> Attempt {
    for conflict in error.conflicts() {
        if let Some(refusal) = claim_refusal(conflict) {
            return Attempt::Fail(refusal);
        }
    }
    error.into()
}

/// A claim another live subscription of the user holds, as the refusal a client sees.
fn claim_refusal(conflict: Conflict) -> Option<AppError> {
    match conflict {
        Conflict::PlanAlreadySubscribed { plan_code } => Some(AppError::conflict(
            SUBSCRIPTION_EXISTS,
            format!("the user already has a live subscription to {plan_code}"),
            Some("plan_code"),
        )),
        Conflict::MetricClaimed { metric } => {
            Some(billing_core::BillingError::MetricAlreadyPriced { metric }.into())
        }
        _ => None,
    }
}

pub async fn create_subscription(
    app: &App,
    request: CreateSubscription,
    actor: &Actor,
) -> Result<SubscriptionWithInvoice, AppError> {
    let trial_days = request
        .trial_days
        .map(|d| validate_trial_days(d, "trial_days"))
        .transpose()?;
    let plan = read_plan(app, &request.plan_code).await?;
    read_user(app, &request.user_id).await?;
    let id = ids::new_id(ids::SUBSCRIPTION);
    retry_races(|| async {
        let now = app.clock.now().await?;
        let created = Subscription::create(id.clone(), request.user_id.clone(), &plan, trial_days, now)?;
        let mut change = Change::new();
        change.create_subscription(&created.subscription, &plan)?;
        audit(&mut change, AuditAction::SubscriptionCreated, &id, actor, now, serde_json::json!({
            "user_id": request.user_id, "plan_code": plan.code, "status": created.subscription.status,
        }))?;
        let invoice = match created.invoice {
            Some(draft) => Some(write_invoice(app, &mut change, draft, &created.subscription, now, actor).await?),
            None => None,
        };
        app.ledger.commit(change).await.map_err(claim_conflict)?;
        if invoice.is_some() {
            app.metrics.invoices_created(1);
        }
        Ok(SubscriptionWithInvoice { subscription: created.subscription, invoice })
    })
    .await
}

pub async fn get_subscription(app: &App, id: &str) -> Result<Subscription, AppError> {
    Ok(read_subscription(app, id).await?.value)
}

pub async fn list_subscriptions(
    app: &App,
    user_id: Option<&str>,
    status: Option<&str>,
    page: &PageRequest,
) -> Result<Listing<Subscription>, AppError> {
    let status = status
        .map(|s| {
            SubscriptionStatus::parse(s).ok_or_else(|| {
                billing_core::FieldError::new(
                    "status",
                    "invalid_value",
                    "must be trialing, active, past_due or canceled",
                )
            })
        })
        .transpose()?;
    Ok(app.ledger.subscriptions(user_id, status, page).await?)
}

/// `effective`: `now` (default) or `period_end`; true for `period_end`.
fn at_period_end(effective: Option<&str>) -> Result<bool, AppError> {
    match effective {
        None | Some("now") => Ok(false),
        Some("period_end") => Ok(true),
        Some(_) => Err(billing_core::FieldError::new(
            "effective",
            "invalid_value",
            "must be \"now\" or \"period_end\"",
        )
        .into()),
    }
}

/// A plan change decided at `now` and not yet written: what [`change_plan`] commits and
/// [`preview_change_plan`] shows.
struct PlannedChange {
    read: Versioned<Subscription>,
    current: Plan,
    /// The plan the subscription's claims move to.
    after: Plan,
    transition: Transition,
    closing: Option<Closing>,
    now: Timestamp,
}

async fn plan_change(
    app: &App,
    id: &str,
    new_plan: &Plan,
    at_period_end: bool,
) -> Result<PlannedChange, AppError> {
    let read = read_subscription(app, id).await?;
    let current = read_plan(app, &read.value.plan_code).await?;
    let now = app.clock.now().await?;
    if at_period_end {
        let transition = read.value.schedule_plan_change(&current, new_plan, now)?;
        return Ok(PlannedChange {
            read,
            after: current.clone(),
            current,
            transition,
            closing: None,
            now,
        });
    }
    // A trial's period continues through a plan change; a paid one closes at `now`.
    let (closing, usage) = if read.value.status == SubscriptionStatus::Trialing {
        (None, BTreeMap::new())
    } else {
        let used = Period::new(read.value.current_period_start, now);
        let (closing, usage) = read_closing(app, &read.value, &current, used).await?;
        (Some(closing), usage)
    };
    let transition = read
        .value
        .change_plan_now(&current, new_plan, &usage, now)?;
    Ok(PlannedChange {
        read,
        current,
        after: new_plan.clone(),
        transition,
        closing,
        now,
    })
}

pub async fn change_plan(
    app: &App,
    id: &str,
    request: ChangePlan,
    actor: &Actor,
) -> Result<SubscriptionWithInvoice, AppError> {
    let at_period_end = at_period_end(request.effective.as_deref())?;
    let new_plan = read_plan(app, &request.plan_code).await?;
    retry_races(|| async {
        let planned = plan_change(app, id, &new_plan, at_period_end).await?;
        let subscription = planned.transition.subscription.clone();
        let mut change = Change::new();
        if at_period_end {
            // The claims stay with the current plan until the renewal, but a change that the
            // renewal could not apply is refused now, as a new subscription would be.
            change.require_claims_free(&planned.read.value, &planned.current, &new_plan);
        }
        let invoice = commit_transition(
            app,
            change,
            &planned.read,
            planned.transition,
            &planned.current,
            &planned.after,
            planned.closing,
            planned.now,
            actor,
        )
        .await?;
        Ok(SubscriptionWithInvoice {
            subscription,
            invoice,
        })
    })
    .await
}

/// What [`change_plan`] would answer now, decided by the same rules and written nowhere: no
/// invoice, number, audit entry, seal or version. The invoice is finalized against the
/// user's credit as the change would finalize it, less the id and number it gets at commit.
pub async fn preview_change_plan(
    app: &App,
    id: &str,
    request: ChangePlan,
) -> Result<ChangePlanPreview, AppError> {
    let at_period_end = at_period_end(request.effective.as_deref())?;
    let new_plan = read_plan(app, &request.plan_code).await?;
    let planned = plan_change(app, id, &new_plan, at_period_end).await?;
    // The change would refuse a plan or metric another live subscription holds: so does this.
    if let Some(refusal) = app
        .ledger
        .claim_taken(&planned.read.value, &planned.current, &new_plan)
        .await?
        .and_then(claim_refusal)
    {
        return Err(refusal);
    }
    let invoice = match planned.transition.invoice {
        Some(mut draft) => {
            add_late_lines(app, &mut draft, &planned.read.value).await?;
            let user = read_user(app, &planned.read.value.user_id).await?.value;
            let unassigned = InvoiceIds {
                id: String::new(),
                number: String::new(),
            };
            let finalized = draft.finalize(unassigned, user.credit_balance_cents, planned.now)?;
            Some(ProposedInvoice::from(finalized.invoice))
        }
        None => None,
    };
    Ok(ChangePlanPreview {
        subscription: planned.transition.subscription,
        invoice,
    })
}

pub async fn cancel(
    app: &App,
    id: &str,
    request: Cancel,
    actor: &Actor,
) -> Result<SubscriptionWithInvoice, AppError> {
    let at_period_end = request.at_period_end.unwrap_or(true);
    retry_races(|| async {
        let read = read_subscription(app, id).await?;
        let plan = read_plan(app, &read.value.plan_code).await?;
        let now = app.clock.now().await?;
        let (transition, closing) = if at_period_end {
            (read.value.cancel_at_period_end(now)?, None)
        } else {
            let used = Period::new(read.value.current_period_start, now);
            let (closing, usage) = read_closing(app, &read.value, &plan, used).await?;
            (read.value.cancel_now(&plan, &usage, now)?, Some(closing))
        };
        let subscription = transition.subscription.clone();
        let invoice = commit_transition(
            app,
            Change::new(),
            &read,
            transition,
            &plan,
            &plan,
            closing,
            now,
            actor,
        )
        .await?;
        Ok(SubscriptionWithInvoice {
            subscription,
            invoice,
        })
    })
    .await
}

pub async fn upcoming_invoice(app: &App, id: &str) -> Result<InvoicePreview, AppError> {
    let read = read_subscription(app, id).await?;
    let subscription = read.value;
    let plan = read_plan(app, &subscription.plan_code).await?;
    let mut plans = vec![plan.clone()];
    if let Some(pending) = &subscription.pending_plan_code {
        plans.push(read_plan(app, pending).await?);
    }
    let usage = if subscription.status == SubscriptionStatus::Trialing {
        BTreeMap::new()
    } else {
        usage_totals(
            app,
            &subscription.user_id,
            &plan,
            subscription.current_period(),
        )
        .await?
    };
    let preview = subscription.preview_renewal(&plans, &usage)?;
    let (late, _) = late_lines(app, &subscription).await?;
    let mut lines = preview.invoice.map(|d| d.lines).unwrap_or_default();
    lines.extend(late);
    let subtotal = lines.iter().map(|l| l.amount_cents).sum();
    let user = read_user(app, &subscription.user_id).await?.value;
    let totals = Totals::compute(subtotal, user.credit_balance_cents)?;
    Ok(InvoicePreview {
        subscription_id: subscription.id.clone(),
        user_id: subscription.user_id.clone(),
        currency: plan.currency,
        period_start: subscription.current_period_start,
        period_end: subscription.current_period_end,
        lines,
        subtotal_cents: totals.subtotal_cents,
        credit_applied_cents: totals.credit_applied_cents,
        amount_due_cents: totals.amount_due_cents,
    })
}

/// Renews `id` period by period until it is no longer due at `now`; returns its new invoices.
/// Safe to run twice at once and to crash anywhere: each period is one change, and a period's
/// invoice has a fixed identity, so a rerun finishes the work and duplicates nothing.
pub async fn renew_due(
    app: &App,
    id: &str,
    now: Timestamp,
    actor: &Actor,
) -> Result<Vec<Invoice>, AppError> {
    let mut invoices = Vec::new();
    for _ in 0..MAX_RENEWALS_PER_CALL {
        let renewed = retry_races(|| async {
            let read = read_subscription(app, id).await?;
            if !read.value.is_live() {
                return bill_late_usage_of_ended(app, &read.value, now, actor).await;
            }
            if !read.value.is_due(now) {
                reschedule_late_usage(app, &read.value).await?;
                return Ok(None);
            }
            match renew_once(app, &read, Change::new(), now, actor).await {
                Err(Attempt::Fail(refused)) if is_claim_refusal(&refused) => {
                    // The scheduled plan (or one of its metrics) went to another live
                    // subscription of the user after the change was scheduled. Never stuck:
                    // renew on the current plan, and say in the audit log why.
                    let dropped = read.value.drop_scheduled_plan_change();
                    if dropped.actions.is_empty() {
                        return Err(Attempt::Fail(refused));
                    }
                    tracing::warn!(subscription_id = %id, reason = %refused, "the scheduled plan change cannot be applied; renewing on the current plan");
                    let mut change = Change::new();
                    audit(
                        &mut change,
                        AuditAction::SubscriptionPlanChangeDropped,
                        id,
                        actor,
                        now,
                        serde_json::json!({
                            "pending_plan_code": read.value.pending_plan_code,
                            "code": refused.code(),
                            "reason": refused.public_message(),
                        }),
                    )?;
                    let without = Versioned {
                        value: dropped.subscription,
                        version: read.version,
                    };
                    renew_once(app, &without, change, now, actor).await.map(Some)
                }
                renewed => renewed.map(Some),
            }
        })
        .await?;
        match renewed {
            Some(invoice) => invoices.extend(invoice),
            None => break,
        }
    }
    Ok(invoices)
}

/// The late usage of a subscription that has ended, on an invoice of its own (it has no next
/// invoice); `None` when none is waiting. The run finds it through the late usage's own entry
/// in the renewal index.
async fn bill_late_usage_of_ended(
    app: &App,
    subscription: &Subscription,
    now: Timestamp,
    actor: &Actor,
) -> Result<Option<Option<Invoice>>, Attempt> {
    let (lines, pending) = late_lines(app, subscription).await?;
    if pending.is_empty() {
        return Ok(None);
    }
    let plan = read_plan(app, &subscription.plan_code).await?;
    let mut change = Change::new();
    let invoice = match subscription.late_usage_invoice(&plan, lines, now)? {
        Some(draft) => {
            Some(finalize_into(app, &mut change, draft, subscription, &pending, now, actor).await?)
        }
        // Waiting usage no plan prices any more bills nothing: it is only cleared.
        None => {
            for late in &pending {
                change.clear_late_usage(late);
            }
            None
        }
    };
    app.ledger.commit(change).await?;
    if invoice.is_some() {
        app.metrics.invoices_created(1);
    }
    Ok(Some(invoice))
}

/// A live subscription that is not due yet was found through its late usage: the period the
/// late usage was waiting for moved (a plan change now opened a new one), so it waits for the
/// new period's end.
async fn reschedule_late_usage(app: &App, subscription: &Subscription) -> Result<(), Attempt> {
    let pending = app.ledger.late_usage(&subscription.id).await?;
    if pending.is_empty() {
        return Ok(());
    }
    let mut change = Change::new();
    for late in &pending {
        change.reschedule_late_usage(late, subscription.current_period_end);
    }
    app.ledger.commit(change).await?;
    Ok(())
}

/// Closes the current period of `read` (due at `now`) and opens the next, in `change`.
async fn renew_once(
    app: &App,
    read: &Versioned<Subscription>,
    change: Change,
    now: Timestamp,
    actor: &Actor,
) -> Result<Option<Invoice>, Attempt> {
    let plan = read_plan(app, &read.value.plan_code).await?;
    let next_plan = match &read.value.pending_plan_code {
        Some(code) => read_plan(app, code).await?,
        None => plan.clone(),
    };
    let (closing, usage) =
        read_closing(app, &read.value, &plan, read.value.current_period()).await?;
    let plans = vec![plan.clone(), next_plan.clone()];
    let transition = read.value.renew(&plans, &usage, now)?;
    let after_plan = if transition.subscription.is_live() {
        &next_plan
    } else {
        &plan
    };
    commit_transition(
        app,
        change,
        read,
        transition,
        &plan,
        after_plan,
        Some(closing),
        now,
        actor,
    )
    .await
}

/// A refusal because a claim the change needed (the plan, a metric) is another live
/// subscription's.
fn is_claim_refusal(error: &AppError) -> bool {
    matches!(
        error,
        AppError::Conflict {
            code: SUBSCRIPTION_EXISTS,
            ..
        } | AppError::Billing(billing_core::BillingError::MetricAlreadyPriced { .. })
    )
}
