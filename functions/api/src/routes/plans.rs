//! `/v1/plans`: create and archive (admin), list and get (read). Plans are addressed by code.

use axum::extract::{Path, State};
use billing_app::plans;
use billing_core::plan::{Plan, PlanDraft};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::ApiState;
use crate::auth::Caller;
use crate::error::{ApiError, ErrorEnvelope};
use crate::extract::{NoFilters, Page, Paged, Reply, StrictJson};

pub fn router() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(create_plan, list_plans))
        .routes(routes!(get_plan))
        .routes(routes!(archive_plan))
}

#[utoipa::path(post, path = "/v1/plans", tag = "plans", request_body = PlanDraft,
    security(("bearer" = ["admin"])),
    responses((status = 201, body = Plan), (status = 400, body = ErrorEnvelope), (status = 409, description = "Code taken", body = ErrorEnvelope)))]
async fn create_plan(
    State(state): State<ApiState>,
    caller: Caller,
    StrictJson(draft): StrictJson<PlanDraft>,
) -> Result<Reply<Plan>, ApiError> {
    Ok(Reply::created(
        plans::create_plan(&state.app, draft, &caller.actor()).await?,
    ))
}

#[utoipa::path(get, path = "/v1/plans", tag = "plans",
    params(("limit" = Option<u32>, Query, description = "1-100, default 20"), ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page")),
    security(("bearer" = ["read"])), responses((status = 200, description = "Plans, newest first", body = Page<Plan>)))]
async fn list_plans(
    State(state): State<ApiState>,
    paged: Paged<NoFilters>,
) -> Result<Reply<Page<Plan>>, ApiError> {
    Ok(Reply::ok(Page::of(
        plans::list_plans(&state.app, &paged.page).await?,
        |p| p,
    )))
}

#[utoipa::path(get, path = "/v1/plans/{code}", tag = "plans", params(("code" = String, Path, description = "Plan code")),
    security(("bearer" = ["read"])), responses((status = 200, body = Plan), (status = 404, body = ErrorEnvelope)))]
async fn get_plan(
    State(state): State<ApiState>,
    Path(code): Path<String>,
) -> Result<Reply<Plan>, ApiError> {
    Ok(Reply::ok(plans::get_plan(&state.app, &code).await?))
}

#[utoipa::path(post, path = "/v1/plans/{code}/archive", tag = "plans", params(("code" = String, Path, description = "Plan code")),
    security(("bearer" = ["admin"])), responses((status = 200, body = Plan), (status = 404, body = ErrorEnvelope)))]
async fn archive_plan(
    State(state): State<ApiState>,
    caller: Caller,
    Path(code): Path<String>,
) -> Result<Reply<Plan>, ApiError> {
    Ok(Reply::ok(
        plans::archive_plan(&state.app, &code, &caller.actor()).await?,
    ))
}
