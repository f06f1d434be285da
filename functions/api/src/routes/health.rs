//! `GET /healthz`: is the store reachable? One read of a key that never exists.

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::ApiState;
use crate::extract::json_response;

/// Longer than this and the store counts as down: a health check must answer quickly.
const STORE_PROBE_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok` or `unavailable`.
    pub status: &'static str,
    pub checks: Checks,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Checks {
    pub store: &'static str,
}

pub fn router() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new().routes(routes!(healthz))
}

#[utoipa::path(
    get,
    path = "/healthz",
    tag = "health",
    responses(
        (status = 200, description = "Everything answers", body = Health),
        (status = 503, description = "The store does not answer", body = Health),
    )
)]
async fn healthz(State(state): State<ApiState>) -> Response {
    let probe = state.app.ledger.probe();
    let store_ok = match tokio::time::timeout(STORE_PROBE_TIMEOUT, probe).await {
        Ok(Ok(_)) => true,
        Ok(Err(error)) => {
            tracing::error!(%error, "health check: the store failed");
            false
        }
        Err(_) => {
            tracing::error!("health check: the store did not answer in time");
            false
        }
    };
    let (status, word) = if store_ok {
        (StatusCode::OK, "ok")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "unavailable")
    };
    json_response(
        status,
        &Health {
            status: word,
            checks: Checks { store: word },
        },
    )
}
