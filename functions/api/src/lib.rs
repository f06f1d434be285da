//! The HTTP API of API.md as one axum [`Router`], built by [`router`] so the Lambda function,
//! the local runner and the tests serve the very same one.
//!
//! # Building it
//! ```no_run
//! # async fn serve(app: billing_app::App) -> std::io::Result<()> {
//! use billing_api::{ApiConfig, ApiState, Secret, router};
//! let config = ApiConfig::from_env().expect("configuration"); // or ApiConfig::new(Secret::new(…))
//! let state = ApiState::new(app, config); // the App carries the TestClock when the flag is on
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! axum::serve(listener, router(state)).await
//! # }
//! ```
//!
//! # Adding a resource
//! A module under [`routes`] exposes `pub fn router() -> OpenApiRouter<ApiState>` built with
//! `utoipa_axum::routes!(handler, …)`, and [`router_with`] merges it. Handlers carry
//! `#[utoipa::path(method, path = "/v1/…", request_body = …, params(…), responses(…))]`, so a
//! route and its OpenAPI entry are registered together and cannot drift apart. Handlers use:
//! - [`Caller`] (extractor): the authenticated token; `caller.actor()` for the audit log. The
//!   scope was already checked by [`guard`] using [`auth::required_access`]: a GET needs
//!   `read`, `POST /v1/usage` needs `usage:write`, anything else `admin`; the open routes and
//!   admin-only GETs are listed there. Security, 401/403, Idempotency-Key, 409/422, 400/413/415
//!   and 429 are added to the OpenAPI entry from the same rules ([`openapi::add_conventions`]).
//! - [`StrictJson<T>`] (extractor; `Option<StrictJson<T>>` for an optional body) with
//!   `#[derive(Deserialize, ToSchema)] #[serde(deny_unknown_fields)]` request types.
//! - [`StrictQuery<T>`] for query filters, or [`Paged<F>`] for lists (`paged.page` is the
//!   ledger's `PageRequest`, `paged.filters` an `F` with `deny_unknown_fields`), documented
//!   with `params(extract::PageParams, …)`; answer with `Reply::ok(Page::of(listing, View::from))`.
//! - Return `Result<Reply<T>, ApiError>` (`Reply::ok`, `created`, `accepted`); `?` turns an
//!   `AppError` or a `LedgerError` into [`ApiError`], the one place statuses, `type`s and the
//!   envelope are decided.
//!
//! Idempotency-Key needs nothing from a handler: [`guard`] wraps every authenticated POST.
//!
//! # Decisions
//! - A refused-by-rule 422 (`ErrorKind::Unprocessable`) has `type` `invalid_request` (API.md
//!   has no other fitting type); 503 and 500 have `type` `internal`.
//! - Responses of completed requests are stored for Idempotency-Key replays, 4xx included
//!   (the brief: everything but 5xx); 401/403/429 happen before the key is taken.
//! - An unknown route answers 404 before authentication; a known route with a method it does
//!   not have answers 405, after authentication.
//! - Tokens are cached for [`auth::TOKEN_CACHE_TTL`] (30 s, within API.md's 60 s).

pub mod auth;
pub mod config;
pub mod emf;
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
        .merge(routes::dashboard::router())
        .merge(routes::invoices::router())
        .merge(routes::users::router())
        .merge(routes::plans::router())
        .merge(routes::subscriptions::router())
        .merge(routes::usage::router())
        .merge(routes::runs::router())
        .merge(routes::webhooks::router())
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
