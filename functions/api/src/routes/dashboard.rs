//! `/v1/dashboard`: the admin UI's figures, from counters kept in the same atomic write as
//! each change (read).

use axum::extract::State;
use billing_app::dashboard::{self, Dashboard};
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::ApiState;
use crate::error::{ApiError, ErrorEnvelope};
use crate::extract::{Reply, StrictQuery};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DashboardQuery {
    pub currency: Option<String>,
}

pub fn router() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new().routes(routes!(get_dashboard))
}

#[utoipa::path(get, path = "/v1/dashboard", tag = "dashboard",
    params(("currency" = Option<String>, Query, pattern = "^[a-z]{3}$", description = "Three lowercase letters (default `usd`): the figures of plans and invoices in this currency; usage is of every currency")),
    security(("bearer" = ["read"])),
    responses((status = 200, description = "MRR and its change this month, subscriptions by status, revenue of the last 12 months, invoices by status, failing invoices and usage of the last 30 days, as of the billing clock's now", body = Dashboard),
        (status = 400, description = "`currency` is not three lowercase letters", body = ErrorEnvelope)))]
async fn get_dashboard(
    State(state): State<ApiState>,
    StrictQuery(query): StrictQuery<DashboardQuery>,
) -> Result<Reply<Dashboard>, ApiError> {
    Ok(Reply::ok(
        dashboard::dashboard(&state.app, query.currency.as_deref()).await?,
    ))
}
