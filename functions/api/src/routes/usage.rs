//! `/v1/usage`: ingestion (`usage:write`, rate limited per token by the guard) and the exact
//! summary (read).

use axum::extract::State;
use billing_app::usage::{self, Bucket, IngestUsage, UsageSeries, UsageSummary};
use billing_core::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::ApiState;
use crate::error::{ApiError, ErrorEnvelope};
use crate::extract::{Reply, StrictJson, StrictQuery};

#[derive(Debug, Serialize, ToSchema)]
pub struct Accepted {
    pub accepted: usize,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SummaryQuery {
    pub user_id: String,
    pub metric: String,
    pub from: Timestamp,
    pub to: Timestamp,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeriesQuery {
    pub user_id: String,
    pub metric: String,
    pub from: Timestamp,
    pub to: Timestamp,
    #[serde(default)]
    pub bucket: Bucket,
}

pub fn router() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(ingest))
        .routes(routes!(summary))
        .routes(routes!(series))
}

#[utoipa::path(post, path = "/v1/usage", tag = "usage", request_body = IngestUsage,
    params(("Idempotency-Key" = Option<String>, Header, description = "Up to 255 characters")),
    security(("bearer" = ["usage:write"])),
    responses((status = 202, description = "Accepted durably; aggregated shortly", body = Accepted),
        (status = 400, description = "Any invalid event rejects the batch; `param` names it", body = ErrorEnvelope),
        (status = 429, description = "Rate limited; see Retry-After", body = ErrorEnvelope)))]
async fn ingest(
    State(state): State<ApiState>,
    StrictJson(request): StrictJson<IngestUsage>,
) -> Result<Reply<Accepted>, ApiError> {
    let accepted = usage::ingest_usage(&state.app, request).await?;
    Ok(Reply::accepted(Accepted { accepted }))
}

#[utoipa::path(get, path = "/v1/usage/summary", tag = "usage",
    params(("user_id" = String, Query, description = "User id"), ("metric" = String, Query, description = "Metric"),
        ("from" = String, Query, description = "RFC 3339, inclusive"), ("to" = String, Query, description = "RFC 3339, exclusive")),
    security(("bearer" = ["read"])), responses((status = 200, body = UsageSummary), (status = 400, body = ErrorEnvelope)))]
async fn summary(
    State(state): State<ApiState>,
    StrictQuery(query): StrictQuery<SummaryQuery>,
) -> Result<Reply<UsageSummary>, ApiError> {
    Ok(Reply::ok(
        usage::usage_summary(
            &state.app,
            &query.user_id,
            &query.metric,
            query.from,
            query.to,
        )
        .await?,
    ))
}

#[utoipa::path(get, path = "/v1/usage/series", tag = "usage",
    params(("user_id" = String, Query, description = "User id"), ("metric" = String, Query, description = "Metric"),
        ("from" = String, Query, format = DateTime, description = "RFC 3339, inclusive; the first bucket starts at `from` truncated to the bucket (UTC)"),
        ("to" = String, Query, format = DateTime, description = "RFC 3339, exclusive; after `from`, and at most 1000 buckets after the first"),
        ("bucket" = Option<Bucket>, Query, description = "`hour` or `day` (default `day`)")),
    security(("bearer" = ["read"])),
    responses((status = 200, description = "Every bucket, oldest first, zero-filled: the exact distinct-event usage aggregated so far in `[start, start + bucket) ∩ [from, to)`", body = UsageSeries),
        (status = 400, description = "A missing or invalid parameter, `to` not after `from` or more than 1000 buckets (`param` `to`), unknown user (`unknown_user`)", body = ErrorEnvelope)))]
async fn series(
    State(state): State<ApiState>,
    StrictQuery(query): StrictQuery<SeriesQuery>,
) -> Result<Reply<UsageSeries>, ApiError> {
    Ok(Reply::ok(
        usage::usage_series(
            &state.app,
            &query.user_id,
            &query.metric,
            query.from,
            query.to,
            query.bucket,
        )
        .await?,
    ))
}
