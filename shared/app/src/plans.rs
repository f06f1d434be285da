//! Plans: prices never change after creation; archiving stops new subscriptions.

use billing_core::audit::AuditAction;
use billing_core::plan::{Plan, PlanDraft};
use billing_ledger::{Change, Conflict, Listing, PageRequest};

use crate::context::{Actor, App};
use crate::error::AppError;
use crate::support::{audit, fail, retry_races};

pub async fn create_plan(app: &App, draft: PlanDraft, actor: &Actor) -> Result<Plan, AppError> {
    let now = app.clock.now().await?;
    let plan = draft.validate(now)?;
    let mut change = Change::new();
    change.create_plan(&plan).map_err(AppError::from)?;
    audit(
        &mut change,
        AuditAction::PlanCreated,
        &plan.code,
        actor,
        now,
        serde_json::json!({"amount_cents": plan.amount_cents}),
    )
    .map_err(fail)?;
    app.ledger.commit(change).await.map_err(|error| {
        if error.has_conflict(|c| *c == Conflict::PlanCodeTaken) {
            AppError::conflict(
                "plan_exists",
                format!("a plan with code {} exists", plan.code),
                Some("code"),
            )
        } else {
            error.into()
        }
    })?;
    Ok(plan)
}

pub async fn get_plan(app: &App, code: &str) -> Result<Plan, AppError> {
    app.ledger
        .plan(code)
        .await?
        .map(|p| p.value)
        .ok_or_else(|| AppError::not_found("plan", code))
}

pub async fn list_plans(app: &App, page: &PageRequest) -> Result<Listing<Plan>, AppError> {
    Ok(app.ledger.plans(page).await?)
}

/// Archives a plan (idempotent): existing subscriptions continue, new ones are refused.
pub async fn archive_plan(app: &App, code: &str, actor: &Actor) -> Result<Plan, AppError> {
    retry_races(|| async {
        let read = app
            .ledger
            .plan(code)
            .await
            .map_err(AppError::from)?
            .ok_or_else(|| AppError::not_found("plan", code))?;
        let mut plan = read.value.clone();
        if !plan.archive() {
            return Ok(plan);
        }
        let now = app.clock.now().await?;
        let mut change = Change::new();
        change.update_plan(&plan, read.version)?;
        audit(
            &mut change,
            AuditAction::PlanArchived,
            &plan.code,
            actor,
            now,
            serde_json::json!({}),
        )?;
        app.ledger.commit(change).await?;
        Ok(plan)
    })
    .await
}
