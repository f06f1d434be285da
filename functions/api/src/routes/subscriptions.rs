//! `/v1/subscriptions`: create, change plan and cancel (admin); list, get and preview the next
//! invoice (read).

use axum::extract::{Path, State};
use billing_app::subscriptions::{
    self, Cancel, ChangePlan, ChangePlanPreview, CreateSubscription, InvoicePreview,
    SubscriptionWithInvoice,
};
use billing_core::subscription::Subscription;
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::ApiState;
use crate::auth::Caller;
use crate::error::{ApiError, ErrorEnvelope};
use crate::extract::{Page, Paged, Reply, StrictJson, StrictQuery};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionFilters {
    pub user_id: Option<String>,
    pub status: Option<String>,
}

pub fn router() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(create_subscription, list_subscriptions))
        .routes(routes!(get_subscription))
        .routes(routes!(change_plan))
        .routes(routes!(preview_change_plan))
        .routes(routes!(cancel))
        .routes(routes!(upcoming_invoice))
}

#[utoipa::path(post, path = "/v1/subscriptions", tag = "subscriptions", request_body = CreateSubscription,
    params(("Idempotency-Key" = Option<String>, Header, description = "Up to 255 characters")),
    security(("bearer" = ["admin"])),
    responses((status = 201, body = Subscription), (status = 400, body = ErrorEnvelope), (status = 409, description = "Already subscribed, metric priced elsewhere, or plan archived", body = ErrorEnvelope)))]
async fn create_subscription(
    State(state): State<ApiState>,
    caller: Caller,
    StrictJson(request): StrictJson<CreateSubscription>,
) -> Result<Reply<Subscription>, ApiError> {
    let created = subscriptions::create_subscription(&state.app, request, &caller.actor()).await?;
    Ok(Reply::created(created.subscription))
}

#[utoipa::path(get, path = "/v1/subscriptions", tag = "subscriptions",
    params(("user_id" = Option<String>, Query, description = "Of this user"), ("status" = Option<String>, Query, description = "trialing, active, past_due or canceled"),
        ("limit" = Option<u32>, Query, description = "1-100, default 20"), ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page")),
    security(("bearer" = ["read"])), responses((status = 200, description = "Subscriptions, newest first", body = Page<Subscription>), (status = 400, body = ErrorEnvelope)))]
async fn list_subscriptions(
    State(state): State<ApiState>,
    paged: Paged<SubscriptionFilters>,
) -> Result<Reply<Page<Subscription>>, ApiError> {
    let listing = subscriptions::list_subscriptions(
        &state.app,
        paged.filters.user_id.as_deref(),
        paged.filters.status.as_deref(),
        &paged.page,
    )
    .await?;
    Ok(Reply::ok(Page::of(listing, |s| s)))
}

#[utoipa::path(get, path = "/v1/subscriptions/{id}", tag = "subscriptions", params(("id" = String, Path, description = "Subscription id (`sub_…`)")),
    security(("bearer" = ["read"])), responses((status = 200, body = Subscription), (status = 404, body = ErrorEnvelope)))]
async fn get_subscription(
    State(state): State<ApiState>,
    Path(id): Path<String>,
) -> Result<Reply<Subscription>, ApiError> {
    Ok(Reply::ok(
        subscriptions::get_subscription(&state.app, &id).await?,
    ))
}

#[utoipa::path(post, path = "/v1/subscriptions/{id}/change-plan", tag = "subscriptions", request_body = ChangePlan, params(("id" = String, Path, description = "Subscription id")),
    security(("bearer" = ["admin"])), responses((status = 200, body = SubscriptionWithInvoice), (status = 400, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope)))]
async fn change_plan(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    StrictJson(request): StrictJson<ChangePlan>,
) -> Result<Reply<SubscriptionWithInvoice>, ApiError> {
    Ok(Reply::ok(
        subscriptions::change_plan(&state.app, &id, request, &caller.actor()).await?,
    ))
}

#[utoipa::path(get, path = "/v1/subscriptions/{id}/change-plan/preview", tag = "subscriptions",
    params(("id" = String, Path, description = "Subscription id"), ("plan_code" = String, Query, description = "The plan to change to"),
        ("effective" = Option<String>, Query, description = "`now` (default) or `period_end`", example = "now")),
    security(("bearer" = ["read"])),
    responses((status = 200, description = "What `POST /v1/subscriptions/{id}/change-plan` would answer now; nothing is stored. The invoice has no `id` or `number` (given at commit); null when the change would create none", body = ChangePlanPreview),
        (status = 400, description = "Invalid `effective`, or unknown `plan_code`", body = ErrorEnvelope),
        (status = 404, description = "Unknown subscription", body = ErrorEnvelope),
        (status = 409, description = "The change is not allowed now (illegal transition, currency or interval mismatch, archived plan, metric priced elsewhere)", body = ErrorEnvelope)))]
async fn preview_change_plan(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    StrictQuery(request): StrictQuery<ChangePlan>,
) -> Result<Reply<ChangePlanPreview>, ApiError> {
    Ok(Reply::ok(
        subscriptions::preview_change_plan(&state.app, &id, request).await?,
    ))
}

#[utoipa::path(post, path = "/v1/subscriptions/{id}/cancel", tag = "subscriptions", request_body = Cancel, params(("id" = String, Path, description = "Subscription id")),
    security(("bearer" = ["admin"])), responses((status = 200, body = SubscriptionWithInvoice), (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope)))]
async fn cancel(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    StrictJson(request): StrictJson<Cancel>,
) -> Result<Reply<SubscriptionWithInvoice>, ApiError> {
    Ok(Reply::ok(
        subscriptions::cancel(&state.app, &id, request, &caller.actor()).await?,
    ))
}

#[utoipa::path(get, path = "/v1/subscriptions/{id}/upcoming-invoice", tag = "subscriptions", params(("id" = String, Path, description = "Subscription id")),
    security(("bearer" = ["read"])), responses((status = 200, description = "The next renewal invoice with the usage so far; nothing is stored", body = InvoicePreview), (status = 404, body = ErrorEnvelope)))]
async fn upcoming_invoice(
    State(state): State<ApiState>,
    Path(id): Path<String>,
) -> Result<Reply<InvoicePreview>, ApiError> {
    Ok(Reply::ok(
        subscriptions::upcoming_invoice(&state.app, &id).await?,
    ))
}
