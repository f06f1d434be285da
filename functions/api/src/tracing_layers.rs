//! Request ids and one span per request: `x-request-id` is taken from the client or made
//! here, put on the span (so every log line of the request carries it) and on the response.

use axum::Router;
use axum::extract::MatchedPath;
use axum::http::{HeaderValue, Request};
use axum::response::{IntoResponse, Response};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

#[derive(Clone, Copy, Default)]
struct NewRequestId;

impl MakeRequestId for NewRequestId {
    fn make_request_id<B>(&mut self, _request: &Request<B>) -> Option<RequestId> {
        HeaderValue::from_str(&billing_app::ids::new_id("req"))
            .ok()
            .map(RequestId::new)
    }
}

/// A panicking handler is a bug: answer the 500 envelope (the detail goes to the log) instead
/// of dropping the connection.
fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let detail = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a handler panicked".to_owned());
    crate::error::ApiError::Internal(format!("panic: {detail}")).into_response()
}

pub(crate) fn with_request_tracing(router: Router) -> Router {
    let trace = TraceLayer::new_for_http()
        .make_span_with(|request: &Request<_>| {
            let request_id = request
                .headers()
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            // The route template, not the path: ids in paths would make every span unique.
            let route = request
                .extensions()
                .get::<MatchedPath>()
                .map_or("", MatchedPath::as_str);
            tracing::info_span!("request", method = %request.method(), route, request_id)
        })
        .on_response(DefaultOnResponse::new().level(Level::INFO));
    // Layers run outside-in in the reverse order of these calls: the id is set first.
    router
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(trace)
        .layer(SetRequestIdLayer::x_request_id(NewRequestId))
}
