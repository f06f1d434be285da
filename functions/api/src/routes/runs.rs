//! `/v1/invoice-runs` and `/v1/payment-runs` (admin): run now. They finish within the request
//! (200) unless the API has a run budget and the runners' work queues (AWS, behind API
//! Gateway's 29 s): then a run still going when the budget is spent answers 202 `{run_id}`,
//! goes on over the work queue, and `GET …/{run_id}` (read) shows its progress.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use billing_app::runs::{
    self, InvoiceRunReport, PaymentRunReport, RunKind, RunProgress, RunStarted,
};
use billing_app::usage;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::ApiState;
use crate::error::{ApiError, ErrorEnvelope};
use crate::extract::Reply;

pub fn router() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(invoice_run))
        .routes(routes!(payment_run))
        .routes(routes!(invoice_run_progress))
        .routes(routes!(payment_run_progress))
}

/// A run that goes on after the request: follow it at `GET …/{run_id}`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RunAccepted {
    pub run_id: String,
}

async fn start(state: &ApiState, run: RunKind) -> Result<Response, ApiError> {
    Ok(match runs::start_run(&state.app, run, &state.runs).await? {
        RunStarted::Finished(report) => match run {
            RunKind::Invoice => Reply::ok(report.invoice.unwrap_or_default()).into_response(),
            RunKind::Payment => Reply::ok(report.payment.unwrap_or_default()).into_response(),
        },
        RunStarted::Continuing { run_id } => {
            Reply::accepted(RunAccepted { run_id }).into_response()
        }
    })
}

#[utoipa::path(post, path = "/v1/invoice-runs", tag = "runs",
    security(("bearer" = ["admin"])), responses(
        (status = 200, description = "Every due subscription renewed", body = InvoiceRunReport),
        (status = 202, description = "Still running when the request's time was up: it goes on; follow it at `GET /v1/invoice-runs/{run_id}`", body = RunAccepted)))]
async fn invoice_run(State(state): State<ApiState>) -> Result<Response, ApiError> {
    // Usage accepted before the run is aggregated first, so it is billed on time, not late.
    usage::drain_usage_queue(&state.app).await?;
    start(&state, RunKind::Invoice).await
}

#[utoipa::path(post, path = "/v1/payment-runs", tag = "runs",
    security(("bearer" = ["admin"])), responses(
        (status = 200, description = "Due first attempts and retries made", body = PaymentRunReport),
        (status = 202, description = "Still running when the request's time was up: it goes on; follow it at `GET /v1/payment-runs/{run_id}`", body = RunAccepted)))]
async fn payment_run(State(state): State<ApiState>) -> Result<Response, ApiError> {
    start(&state, RunKind::Payment).await
}

#[utoipa::path(get, path = "/v1/invoice-runs/{run_id}", tag = "runs",
    params(("run_id" = String, Path, description = "The `run_id` a 202 answered")),
    security(("bearer" = ["read"])), responses(
        (status = 200, description = "Shards done of total and the counts so far (`invoice`)", body = RunProgress),
        (status = 404, body = ErrorEnvelope)))]
async fn invoice_run_progress(
    State(state): State<ApiState>,
    Path(run_id): Path<String>,
) -> Result<Reply<RunProgress>, ApiError> {
    Ok(Reply::ok(
        runs::run_progress(&state.app, RunKind::Invoice, &run_id).await?,
    ))
}

#[utoipa::path(get, path = "/v1/payment-runs/{run_id}", tag = "runs",
    params(("run_id" = String, Path, description = "The `run_id` a 202 answered")),
    security(("bearer" = ["read"])), responses(
        (status = 200, description = "Shards done of total and the counts so far (`payment`)", body = RunProgress),
        (status = 404, body = ErrorEnvelope)))]
async fn payment_run_progress(
    State(state): State<ApiState>,
    Path(run_id): Path<String>,
) -> Result<Reply<RunProgress>, ApiError> {
    Ok(Reply::ok(
        runs::run_progress(&state.app, RunKind::Payment, &run_id).await?,
    ))
}
