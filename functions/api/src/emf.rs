//! CloudWatch EMF for the API Lambda: each request is timed and, once answered, flushed as one
//! EMF document with `Requests` 1 and `ServerErrors` 1 for a 5xx (a caught panic's 500
//! included), next to what the use cases counted while serving it. Under `lambda_http` a
//! request is an invocation, so each document is one invocation's. Only the Lambda adds this
//! layer (`main.rs`); the local runner keeps its Prometheus `/metrics`.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use billing_lambda::emf::EmfMetrics;

/// `router` with every request timed and flushed to `metrics`. Add it last, outside every
/// other layer, so the time and status are what the client got.
pub fn with_emf(router: Router, metrics: Arc<EmfMetrics>) -> Router {
    router.layer(axum::middleware::from_fn_with_state(metrics, record))
}

async fn record(State(metrics): State<Arc<EmfMetrics>>, request: Request, next: Next) -> Response {
    let invocation = metrics.start();
    let response = next.run(request).await;
    invocation.finish_http(response.status().as_u16());
    response
}
