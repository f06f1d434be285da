//! `/v1/test-clock` (admin, only with `BILLING_TEST_CLOCK=true`; otherwise the routes are not
//! mounted at all): read the billing clock, or move it forward.

use axum::extract::State;
use billing_app::test_clock;
use billing_core::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::ApiState;
use crate::error::{ApiError, ErrorEnvelope};
use crate::extract::{Reply, StrictJson};

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TestClock {
    /// RFC 3339.
    #[schema(value_type = String, format = DateTime)]
    pub now: Timestamp,
}

pub fn router() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new().routes(routes!(get_test_clock, advance_test_clock))
}

#[utoipa::path(
    get,
    path = "/v1/test-clock",
    tag = "test clock",
    responses((status = 200, description = "The billing clock", body = TestClock))
)]
async fn get_test_clock(State(state): State<ApiState>) -> Result<Reply<TestClock>, ApiError> {
    let now = test_clock::now(&state.app).await?;
    Ok(Reply::ok(TestClock { now }))
}

#[utoipa::path(
    post,
    path = "/v1/test-clock",
    tag = "test clock",
    request_body = TestClock,
    responses(
        (status = 200, description = "The clock, moved", body = TestClock),
        (status = 409, description = "`clock_moved_backwards`", body = ErrorEnvelope),
    )
)]
async fn advance_test_clock(
    State(state): State<ApiState>,
    StrictJson(request): StrictJson<TestClock>,
) -> Result<Reply<TestClock>, ApiError> {
    let now = test_clock::advance(&state.app, request.now).await?;
    Ok(Reply::ok(TestClock { now }))
}
