//! The HTTP API of API.md as one axum [`Router`], built by [`router`] so the Lambda function,
//! the local runner and the tests serve the very same one.
//!
//! Each resource module under [`routes`] exposes `router() -> OpenApiRouter<ApiState>`; its
//! handlers carry `#[utoipa::path]`, so a route and its OpenAPI entry are registered together
//! and `/openapi.json` cannot miss one. The conventions live in one place each:
//! [`error::ApiError`] (the envelope), [`extract`] (strict JSON and query, pagination,
//! replies), [`auth`] (tokens and scopes), [`guard`] (the middleware order),
//! [`idempotency`], [`rate_limit`], [`config`].

pub mod auth;
pub mod config;
pub mod error;
pub mod extract;
pub mod guard;
pub mod idempotency;
pub mod openapi;
pub mod rate_limit;
pub mod routes;
mod tracing_layers;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::http::{Method, Uri};
use axum::{Extension, Router};
use billing_app::App;
use utoipa_axum::router::OpenApiRouter;

pub use auth::Caller;
pub use config::{ApiConfig, Secret};
pub use error::ApiError;
pub use extract::{NoFilters, Page, Paged, Reply, StrictJson, StrictQuery};

use crate::extract::BodyLimit;
use crate::rate_limit::{RateLimiter, TokenBucketLimiter};

/// Everything a handler can reach, built once per process.
#[derive(Clone)]
pub struct ApiState {
    pub app: App,
    pub config: Arc<ApiConfig>,
    pub auth: Arc<auth::Authenticator>,
    pub rate_limiter: Arc<dyn RateLimiter>,
}

impl ApiState {
    /// The state for `app` under `config`, with the in-process usage rate limiter.
    pub fn new(app: App, config: ApiConfig) -> Self {
        let auth = auth::Authenticator::new(config.admin_token.expose());
        let rate_limiter = TokenBucketLimiter::new(config.usage_rate_limit_per_second);
        Self {
            app,
            config: Arc::new(config),
            auth: Arc::new(auth),
            rate_limiter: Arc::new(rate_limiter),
        }
    }

    /// Replaces the rate limiter (a shared, table-backed one in AWS).
    #[must_use]
    pub fn with_rate_limiter(mut self, rate_limiter: Arc<dyn RateLimiter>) -> Self {
        self.rate_limiter = rate_limiter;
        self
    }
}

/// The API of API.md.
pub fn router(state: ApiState) -> Router {
    router_with(state, OpenApiRouter::new())
}

/// The API plus `extra` routes, which get every convention (auth, idempotency, errors,
/// OpenAPI) like the built-in ones.
pub fn router_with(state: ApiState, extra: OpenApiRouter<ApiState>) -> Router {
    let mut api = OpenApiRouter::with_openapi(openapi::base())
        .merge(routes::health::router())
        .merge(routes::openapi_json::router())
        .merge(routes::tokens::router())
        .merge(routes::audit::router())
        .merge(routes::invoices::router())
        .merge(extra);
    // Off, the test clock is absent (404) and undocumented, as API.md requires.
    if state.config.test_clock_enabled {
        api = api.merge(routes::test_clock::router());
    }
    let (router, mut document) = api.split_for_parts();
    openapi::add_conventions(&mut document);
    let document = Arc::new(openapi::Document::render(&document));
    let body_limit_bytes = state.config.body_limit_bytes;
    let router = router
        .method_not_allowed_fallback(method_not_allowed)
        .fallback(route_not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            guard::guard,
        ))
        .layer(Extension(document))
        .layer(Extension(BodyLimit(body_limit_bytes)))
        .layer(DefaultBodyLimit::max(body_limit_bytes))
        .with_state(state);
    tracing_layers::with_request_tracing(router)
}

async fn route_not_found(method: Method, uri: Uri) -> ApiError {
    ApiError::RouteNotFound {
        method: method.to_string(),
        path: uri.path().to_owned(),
    }
}

async fn method_not_allowed(method: Method) -> ApiError {
    ApiError::MethodNotAllowed {
        method: method.to_string(),
        hint: "",
    }
}
