//! The middleware every route runs behind, in this order: authentication and the scope rule
//! (401/403), the path and query values ([`crate::params`], 400), the usage rate limit (429,
//! before the key is taken so a limited request can be retried with the same key), the body of
//! an action that takes none ([`BodylessRoutes`], 400/415), then Idempotency-Key handling for
//! POSTs.

use std::collections::HashSet;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::ApiState;
use crate::auth::{Access, USAGE_ROUTE, bearer_secret, required_access};
use crate::error::ApiError;
use crate::extract::{is_json, parse_json};
use crate::{idempotency, params};

/// The POST routes whose operation documents no request body (pay, void, archive, the runs…),
/// taken from the OpenAPI document when the router is built. They take no input, so a body may
/// be absent or `{}` and anything else is refused as every other route refuses it: a field is
/// `unknown_field` naming it (400), a body not declared JSON is 415.
#[derive(Debug, Clone, Default)]
pub struct BodylessRoutes(pub Arc<HashSet<String>>);

pub async fn guard(State(state): State<ApiState>, request: Request, next: Next) -> Response {
    match guarded(state, request, next).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

async fn guarded(state: ApiState, mut request: Request, next: Next) -> Result<Response, ApiError> {
    // No matched route: the fallback answers 404 whoever asks.
    let Some(route) = request
        .extensions()
        .get::<MatchedPath>()
        .map(|path| path.as_str().to_owned())
    else {
        return Ok(next.run(request).await);
    };
    let method = request.method().clone();
    let scope = match required_access(&method, &route) {
        Access::Open => {
            params::check(&route, request.uri())?;
            return Ok(next.run(request).await);
        }
        Access::Needs(scope) => scope,
    };
    let secret = bearer_secret(request.headers()).ok_or_else(|| ApiError::Unauthenticated {
        code: "missing_token",
        message: "send Authorization: Bearer <token>".to_owned(),
    })?;
    let caller = state
        .auth
        .authenticate(&state.app.ledger, secret)
        .await?
        .ok_or_else(|| ApiError::Unauthenticated {
            code: "invalid_token",
            message: "the token is unknown or revoked".to_owned(),
        })?;
    if !caller.may(scope) {
        return Err(ApiError::Forbidden {
            needed: scope.as_str(),
        });
    }
    params::check(&route, request.uri())?;
    if method == USAGE_ROUTE.0 && route == USAGE_ROUTE.1 {
        state
            .rate_limiter
            .acquire(&caller.token_id)
            .await
            .map_err(|retry| ApiError::RateLimited {
                retry_after_seconds: retry.seconds,
            })?;
    }
    let bodyless = request
        .extensions()
        .get::<BodylessRoutes>()
        .is_some_and(|routes| routes.0.contains(&route));
    if method == Method::POST && bodyless {
        request = refuse_any_body(request, state.config.body_limit_bytes).await?;
    }
    let key = if method == Method::POST {
        idempotency::key_of(request.headers())?
    } else {
        None
    };
    request.extensions_mut().insert(caller.clone());
    match key {
        Some(key) => {
            idempotency::run(
                &state,
                &caller,
                &key,
                request,
                next,
                state.config.body_limit_bytes,
            )
            .await
        }
        None => Ok(next.run(request).await),
    }
}

/// `request` with its body checked to be empty or `{}`, and put back (the idempotency hash and
/// the handler read it after this).
async fn refuse_any_body(request: Request, limit_bytes: usize) -> Result<Request, ApiError> {
    let (parts, body) = request.into_parts();
    let bytes = idempotency::read_body(body, limit_bytes).await?;
    if !bytes.iter().all(u8::is_ascii_whitespace) {
        if !is_json(parts.headers.get(header::CONTENT_TYPE)) {
            return Err(ApiError::UnsupportedMediaType);
        }
        let fields: serde_json::Map<String, serde_json::Value> = parse_json(&bytes)?;
        if let Some(name) = fields.keys().next() {
            return Err(ApiError::invalid(
                "unknown_field",
                format!("unknown field `{name}`: this action takes no body"),
                Some(name.clone()),
            ));
        }
    }
    Ok(Request::from_parts(parts, Body::from(bytes)))
}
