//! `/v1/invoice-runs` and `/v1/payment-runs` (admin): run now. Both finish within the request
//! here (200); the same use cases run on schedules in AWS and on timers locally.

use axum::extract::State;
use billing_app::runs::{self, InvoiceRunReport, PaymentRunReport};
use billing_app::usage;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::ApiState;
use crate::error::ApiError;
use crate::extract::Reply;

pub fn router() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(invoice_run))
        .routes(routes!(payment_run))
}

#[utoipa::path(post, path = "/v1/invoice-runs", tag = "runs",
    security(("bearer" = ["admin"])), responses((status = 200, description = "Every due subscription renewed", body = InvoiceRunReport)))]
async fn invoice_run(State(state): State<ApiState>) -> Result<Reply<InvoiceRunReport>, ApiError> {
    // Usage accepted before the run is aggregated first, so it is billed on time, not late.
    usage::drain_usage_queue(&state.app).await?;
    let now = state.app.clock.now().await?;
    Ok(Reply::ok(runs::invoice_run(&state.app, now).await?))
}

#[utoipa::path(post, path = "/v1/payment-runs", tag = "runs",
    security(("bearer" = ["admin"])), responses((status = 200, description = "Due first attempts and retries made", body = PaymentRunReport)))]
async fn payment_run(State(state): State<ApiState>) -> Result<Reply<PaymentRunReport>, ApiError> {
    let now = state.app.clock.now().await?;
    Ok(Reply::ok(runs::payment_run(&state.app, now).await?))
}
