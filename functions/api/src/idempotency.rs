//! Idempotency-Key on POST (API.md): the first request with a key runs and its response is
//! stored; the same key and request again gets that response back with
//! `Idempotent-Replayed: true`; another request under the same key is `key_reused`; a retry
//! while the first runs is `request_in_progress`. Keys are scoped per token. A 5xx is not
//! stored: the key is freed so a retry runs the request again.

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use billing_ledger::{IdempotencyStart, StoredResponse};
use sha2::{Digest, Sha256};

use crate::ApiState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::ReplayBody;

pub const IDEMPOTENCY_KEY_HEADER: &str = "idempotency-key";
pub const REPLAYED_HEADER: &str = "idempotent-replayed";
/// Longest key (API.md).
pub const KEY_CHARS_MAX: usize = 255;
/// How long a running request holds its key: after this a retry may take it over (the first
/// request's process is presumed dead). Longer than any request runs (Lambda's API timeout is
/// 29 s behind API Gateway).
pub const LOCK_SECONDS: i64 = 60;
/// Largest response kept for replay: a stored response is one table item, and DynamoDB items
/// stop at 400 KB.
pub const STORED_RESPONSE_BYTES_MAX: usize = 300 * 1024;

/// The request's key, if it sent one that is valid.
pub fn key_of(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get(IDEMPOTENCY_KEY_HEADER) else {
        return Ok(None);
    };
    let invalid = |message: &str| {
        ApiError::invalid(
            "invalid_idempotency_key",
            message,
            Some("Idempotency-Key".to_owned()),
        )
    };
    let key = value
        .to_str()
        .map_err(|_| invalid("the Idempotency-Key must be printable ASCII"))?;
    if key.is_empty() {
        return Err(invalid("the Idempotency-Key must not be empty"));
    }
    // What the document states (`openapi::KEY_PATTERN`): printable ASCII, so no tab either.
    if !key.bytes().all(|b| (b' '..=b'~').contains(&b)) {
        return Err(invalid("the Idempotency-Key must be printable ASCII"));
    }
    if key.chars().count() > KEY_CHARS_MAX {
        return Err(invalid("the Idempotency-Key is longer than 255 characters"));
    }
    Ok(Some(key.to_owned()))
}

/// What makes two requests "the same": method, path with query, and body, hashed.
pub fn request_hash(method: &str, path_and_query: &str, body: &[u8]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(method.as_bytes());
    hasher.update(b"\n");
    hasher.update(path_and_query.as_bytes());
    hasher.update(b"\n");
    hasher.update(body);
    hex::encode(hasher.finalize())
}

/// Runs `request` under idempotency key `key` of `caller`.
pub async fn run(
    state: &ApiState,
    caller: &Caller,
    key: &str,
    request: Request,
    next: Next,
    body_limit_bytes: usize,
) -> Result<Response, ApiError> {
    let (parts, body) = request.into_parts();
    let body = read_body(body, body_limit_bytes).await?;
    let path = parts
        .uri
        .path_and_query()
        .map_or_else(|| parts.uri.path(), |p| p.as_str());
    let hash = request_hash(parts.method.as_str(), path, &body);
    let ledger = &state.app.ledger;
    let token = caller.token_id.as_str();
    let started = ledger
        .begin_request(
            token,
            key,
            &hash,
            billing_ledger::now_epoch_seconds(),
            LOCK_SECONDS,
        )
        .await?;
    match started {
        IdempotencyStart::Started => {}
        IdempotencyStart::Replay(stored) => return Ok(replay(stored)),
        IdempotencyStart::KeyReused => return Err(ApiError::IdempotencyKeyReused),
        IdempotencyStart::InProgress => return Err(ApiError::IdempotencyInProgress),
    }
    let response = next.run(Request::from_parts(parts, Body::from(body))).await;
    let status = response.status();
    if status.is_server_error() {
        if let Err(error) = ledger.abandon_request(token, key).await {
            // The key stays locked until LOCK_SECONDS pass; then a retry takes it over.
            tracing::warn!(%error, "could not free the idempotency key of a failed request");
        }
        return Ok(response);
    }
    let (mut parts, body) = response.into_parts();
    let bytes = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(bytes) => bytes,
        Err(error) => {
            let _ = ledger.abandon_request(token, key).await;
            return Err(ApiError::Internal(format!(
                "response body unreadable: {error}"
            )));
        }
    };
    // A reply with shown-once fields (a token's secret) is kept without them.
    let kept_body = parts
        .extensions
        .remove::<ReplayBody>()
        .map_or_else(|| bytes.clone(), |ReplayBody(redacted)| redacted);
    let stored = match std::str::from_utf8(&kept_body) {
        Ok(text) if kept_body.len() <= STORED_RESPONSE_BYTES_MAX => Some(StoredResponse {
            status: status.as_u16(),
            body: text.to_owned(),
        }),
        _ => None,
    };
    let kept = match stored {
        Some(stored) => ledger
            .finish_request(
                token,
                key,
                &hash,
                &stored,
                billing_ledger::now_epoch_seconds(),
            )
            .await
            .map_err(|error| error.to_string()),
        None => Err("the response is too large or not text".to_owned()),
    };
    if let Err(problem) = kept {
        // The request did its work; only the replay is lost. Freeing the key would let a
        // retry do the work twice, so the key stays locked until LOCK_SECONDS pass.
        tracing::error!(%problem, "could not store the response of an idempotent request");
    }
    Ok(Response::from_parts(parts, Body::from(bytes)))
}

pub(crate) async fn read_body(body: Body, limit_bytes: usize) -> Result<Bytes, ApiError> {
    axum::body::to_bytes(body, limit_bytes)
        .await
        .map_err(|error| {
            let too_large = std::error::Error::source(&error)
                .is_some_and(|source| source.is::<http_body_util::LengthLimitError>())
                || error.into_inner().is::<http_body_util::LengthLimitError>();
            if too_large {
                ApiError::PayloadTooLarge { limit_bytes }
            } else {
                ApiError::invalid("invalid_body", "the request body could not be read", None)
            }
        })
}

fn replay(stored: StoredResponse) -> Response {
    let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
    let mut response = (status, stored.body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(REPLAYED_HEADER, HeaderValue::from_static("true"));
    response
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn keys_are_bounded_and_the_hash_covers_method_path_and_body() {
        let mut headers = HeaderMap::new();
        assert_eq!(key_of(&headers).unwrap(), None);
        headers.insert(IDEMPOTENCY_KEY_HEADER, "k1".parse().unwrap());
        assert_eq!(key_of(&headers).unwrap().as_deref(), Some("k1"));
        headers.insert(IDEMPOTENCY_KEY_HEADER, "k".repeat(256).parse().unwrap());
        assert_eq!(
            key_of(&headers).unwrap_err().param(),
            Some("Idempotency-Key")
        );
        let base = request_hash("POST", "/v1/tokens", b"{}");
        assert_ne!(base, request_hash("POST", "/v1/users", b"{}"));
        assert_ne!(base, request_hash("POST", "/v1/tokens", b"{ }"));
        assert_eq!(base, request_hash("POST", "/v1/tokens", b"{}"));
    }
}
