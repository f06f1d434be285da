//! The middleware every route runs behind, in this order: authentication and the scope rule
//! (401/403), the usage rate limit (429, before the key is taken so a limited request can be
//! retried with the same key), then Idempotency-Key handling for POSTs.

use axum::extract::{MatchedPath, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::ApiState;
use crate::auth::{Access, USAGE_ROUTE, bearer_secret, required_access};
use crate::error::ApiError;
use crate::idempotency;

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
        Access::Open => return Ok(next.run(request).await),
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
    if method == USAGE_ROUTE.0 && route == USAGE_ROUTE.1 {
        state
            .rate_limiter
            .acquire(&caller.token_id)
            .await
            .map_err(|retry| ApiError::RateLimited {
                retry_after_seconds: retry.seconds,
            })?;
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
