//! `/v1/subscriptions`: create, change plan and cancel (admin); list, get and preview the next
//! invoice (read).

use axum::extract::{Path, State};
use billing_app::subscriptions::{
    self, Cancel, ChangePlan, ChangePlanPreview, CreateSubscription, InvoicePreview,
    ProposedInvoice, SubscriptionWithInvoice,
};
use billing_core::Timestamp;
use billing_core::invoice::Invoice;
use billing_core::subscription::{Subscription, SubscriptionStatus};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
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

// A subscription on the wire: the stored one without its internal billing anchor
// (`billing_anchor`, `anchor_offset_months`), which only the period arithmetic reads. (Not a
// doc comment: that would become the schema's description.)
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = Subscription)]
pub struct SubscriptionView {
    pub id: String,
    pub user_id: String,
    pub plan_code: String,
    pub status: SubscriptionStatus,
    #[schema(value_type = String, format = DateTime)]
    pub current_period_start: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub current_period_end: Timestamp,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub trial_end: Option<Timestamp>,
    pub cancel_at_period_end: bool,
    pub pending_plan_code: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub canceled_at: Option<Timestamp>,
}

impl From<Subscription> for SubscriptionView {
    fn from(subscription: Subscription) -> Self {
        Self {
            id: subscription.id,
            user_id: subscription.user_id,
            plan_code: subscription.plan_code,
            status: subscription.status,
            current_period_start: subscription.current_period_start,
            current_period_end: subscription.current_period_end,
            trial_end: subscription.trial_end,
            cancel_at_period_end: subscription.cancel_at_period_end,
            pending_plan_code: subscription.pending_plan_code,
            created_at: subscription.created_at,
            canceled_at: subscription.canceled_at,
        }
    }
}

/// A subscription and the invoice a command produced (if any), on the wire.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = SubscriptionWithInvoice)]
pub struct SubscriptionWithInvoiceView {
    pub subscription: SubscriptionView,
    pub invoice: Option<Invoice>,
}

impl From<SubscriptionWithInvoice> for SubscriptionWithInvoiceView {
    fn from(changed: SubscriptionWithInvoice) -> Self {
        Self {
            subscription: changed.subscription.into(),
            invoice: changed.invoice,
        }
    }
}

/// A previewed plan change on the wire: the subscription as the change would leave it, and the
/// invoice it would create.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = ChangePlanPreview)]
pub struct ChangePlanPreviewView {
    pub subscription: SubscriptionView,
    pub invoice: Option<ProposedInvoice>,
}

impl From<ChangePlanPreview> for ChangePlanPreviewView {
    fn from(preview: ChangePlanPreview) -> Self {
        Self {
            subscription: preview.subscription.into(),
            invoice: preview.invoice,
        }
    }
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
    security(("bearer" = ["admin"])),
    responses((status = 201, body = SubscriptionView), (status = 400, body = ErrorEnvelope), (status = 409, description = "Already subscribed, metric priced elsewhere, or plan archived", body = ErrorEnvelope)))]
async fn create_subscription(
    State(state): State<ApiState>,
    caller: Caller,
    StrictJson(request): StrictJson<CreateSubscription>,
) -> Result<Reply<SubscriptionView>, ApiError> {
    let created = subscriptions::create_subscription(&state.app, request, &caller.actor()).await?;
    Ok(Reply::created(created.subscription.into()))
}

#[utoipa::path(get, path = "/v1/subscriptions", tag = "subscriptions",
    params(("user_id" = Option<String>, Query, description = "Of this user"), ("status" = Option<SubscriptionStatus>, Query, description = "trialing, active, past_due or canceled"),
        ("limit" = Option<u32>, Query, description = "1-100, default 20"), ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page")),
    security(("bearer" = ["read"])), responses((status = 200, description = "Subscriptions, newest first", body = Page<SubscriptionView>), (status = 400, body = ErrorEnvelope)))]
async fn list_subscriptions(
    State(state): State<ApiState>,
    paged: Paged<SubscriptionFilters>,
) -> Result<Reply<Page<SubscriptionView>>, ApiError> {
    let listing = subscriptions::list_subscriptions(
        &state.app,
        paged.filters.user_id.as_deref(),
        paged.filters.status.as_deref(),
        &paged.page,
    )
    .await?;
    Ok(Reply::ok(Page::of(listing, SubscriptionView::from)))
}

#[utoipa::path(get, path = "/v1/subscriptions/{id}", tag = "subscriptions", params(("id" = String, Path, description = "Subscription id (`sub_…`)")),
    security(("bearer" = ["read"])), responses((status = 200, body = SubscriptionView), (status = 404, body = ErrorEnvelope)))]
async fn get_subscription(
    State(state): State<ApiState>,
    Path(id): Path<String>,
) -> Result<Reply<SubscriptionView>, ApiError> {
    Ok(Reply::ok(
        subscriptions::get_subscription(&state.app, &id)
            .await?
            .into(),
    ))
}

#[utoipa::path(post, path = "/v1/subscriptions/{id}/change-plan", tag = "subscriptions", request_body = ChangePlan, params(("id" = String, Path, description = "Subscription id")),
    security(("bearer" = ["admin"])), responses((status = 200, body = SubscriptionWithInvoiceView), (status = 400, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope)))]
async fn change_plan(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    StrictJson(request): StrictJson<ChangePlan>,
) -> Result<Reply<SubscriptionWithInvoiceView>, ApiError> {
    Ok(Reply::ok(
        subscriptions::change_plan(&state.app, &id, request, &caller.actor())
            .await?
            .into(),
    ))
}

#[utoipa::path(get, path = "/v1/subscriptions/{id}/change-plan/preview", tag = "subscriptions",
    params(("id" = String, Path, description = "Subscription id"), ("plan_code" = String, Query, description = "The plan to change to"),
        ("effective" = Option<String>, Query, description = "`now` (default) or `period_end`", example = "now")),
    security(("bearer" = ["read"])),
    responses((status = 200, description = "What `POST /v1/subscriptions/{id}/change-plan` would answer now; nothing is stored. The invoice has no `id` or `number` (given at commit); null when the change would create none", body = ChangePlanPreviewView),
        (status = 400, description = "Invalid `effective`, or unknown `plan_code`", body = ErrorEnvelope),
        (status = 404, description = "Unknown subscription", body = ErrorEnvelope),
        (status = 409, description = "The change is not allowed now (illegal transition, currency or interval mismatch, archived plan, metric priced elsewhere)", body = ErrorEnvelope)))]
async fn preview_change_plan(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    StrictQuery(request): StrictQuery<ChangePlan>,
) -> Result<Reply<ChangePlanPreviewView>, ApiError> {
    Ok(Reply::ok(
        subscriptions::preview_change_plan(&state.app, &id, request)
            .await?
            .into(),
    ))
}

/// The body is optional: none (or `{}`) cancels at period end, API.md's default.
#[utoipa::path(post, path = "/v1/subscriptions/{id}/cancel", tag = "subscriptions", request_body = Option<Cancel>, params(("id" = String, Path, description = "Subscription id")),
    security(("bearer" = ["admin"])), responses((status = 200, body = SubscriptionWithInvoiceView), (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope)))]
async fn cancel(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    request: Option<StrictJson<Cancel>>,
) -> Result<Reply<SubscriptionWithInvoiceView>, ApiError> {
    let request = request
        .map(|StrictJson(request)| request)
        .unwrap_or_default();
    Ok(Reply::ok(
        subscriptions::cancel(&state.app, &id, request, &caller.actor())
            .await?
            .into(),
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
