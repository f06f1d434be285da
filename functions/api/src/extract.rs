//! Request extractors and response helpers shared by every resource module:
//! - [`StrictJson`]: a JSON body that must say `Content-Type: application/json`, fit the body
//!   limit and match the request type exactly; errors name the field (`events[3].quantity`);
//!   `Option<StrictJson<T>>` for a body that may be absent;
//! - [`StrictQuery`]: query parameters with the same strictness;
//! - [`Paged`]: `?limit=&cursor=` plus the list's own filters;
//! - [`Reply`] and [`Page`]: JSON responses with a status, and the list envelope.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, OptionalFromRequest, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use billing_ledger::{Listing, PAGE_LIMIT_MAX, PageRequest};
use serde::Serialize;
use serde::de::DeserializeOwned;
use utoipa::ToSchema;

use crate::error::ApiError;

/// Page size when `?limit=` is absent (API.md).
pub const PAGE_LIMIT_DEFAULT: usize = 20;
/// Longest cursor accepted: ours are a few hundred characters at most.
pub const CURSOR_CHARS_MAX: usize = 2048;

/// The configured body limit, put in every request's extensions by the router.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit(pub usize);

/// A JSON request body, deserialized strictly: request types use
/// `#[serde(deny_unknown_fields)]`, so an unknown field is a 400 naming it.
#[derive(Debug, Clone)]
pub struct StrictJson<T>(pub T);

impl<S, T> FromRequest<S> for StrictJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(request.headers().get(header::CONTENT_TYPE)) {
            return Err(ApiError::UnsupportedMediaType);
        }
        let bytes = read_body(request, state).await?;
        parse_json(&bytes).map(StrictJson)
    }
}

/// `Option<StrictJson<T>>`: a body is optional (`POST /v1/subscriptions/{id}/cancel` with its
/// defaults). An empty body is `None`; a non-empty one must be JSON as above.
impl<S, T> OptionalFromRequest<S> for StrictJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Option<Self>, Self::Rejection> {
        let declared_json = is_json(request.headers().get(header::CONTENT_TYPE));
        let bytes = read_body(request, state).await?;
        if bytes.is_empty() {
            return Ok(None);
        }
        if !declared_json {
            return Err(ApiError::UnsupportedMediaType);
        }
        parse_json(&bytes).map(|value| Some(StrictJson(value)))
    }
}

/// The whole body, within the router's DefaultBodyLimit ([`BodyLimit`] says what it is): over
/// it, the 413 of the envelope. Routes that take raw bytes (the webhook) read them with this.
pub(crate) async fn read_body<S: Send + Sync>(
    request: Request,
    state: &S,
) -> Result<Bytes, ApiError> {
    let limit_bytes = request
        .extensions()
        .get::<BodyLimit>()
        .map_or(crate::config::BODY_LIMIT_BYTES_DEFAULT, |limit| limit.0);
    Bytes::from_request(request, state)
        .await
        .map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge { limit_bytes }
            } else {
                ApiError::invalid("invalid_body", rejection.body_text(), None)
            }
        })
}

/// `application/json`, with or without parameters (`; charset=utf-8`).
pub(crate) fn is_json(content_type: Option<&HeaderValue>) -> bool {
    let Some(value) = content_type.and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or_default().trim();
    essence.eq_ignore_ascii_case("application/json")
}

/// Deserializes `bytes` as `T`, reporting the path of the field at fault. Every request body
/// is a JSON object: serde would also read a struct from an array (`[null, null]`), which the
/// document does not allow, so anything else is refused first.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if first.is_some_and(|b| *b != b'{') {
        return Err(ApiError::invalid(
            "invalid_body",
            "the body must be a JSON object",
            None,
        ));
    }
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        let message = without_position(&inner.to_string());
        match inner.classify() {
            serde_json::error::Category::Data => field_error(&path, &message),
            serde_json::error::Category::Syntax
            | serde_json::error::Category::Eof
            | serde_json::error::Category::Io => ApiError::invalid(
                "invalid_json",
                format!("the body is not valid JSON: {message}"),
                None,
            ),
        }
    })?;
    deserializer.end().map_err(|error| {
        ApiError::invalid(
            "invalid_json",
            format!(
                "the body is not valid JSON: {}",
                without_position(&error.to_string())
            ),
            None,
        )
    })?;
    Ok(value)
}

/// serde_json appends ` at line 1 column 9`: noise for a client that sent one line.
fn without_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(index) => message[..index].to_owned(),
        None => message.to_owned(),
    }
}

/// A data error at `path` (serde_path_to_error's `.` is the root). An unknown field's path
/// already ends with its name; a missing field is reported at its parent, so its name is
/// appended.
fn field_error(path: &str, message: &str) -> ApiError {
    let join = |name: &str| {
        if path == "." || path.is_empty() {
            name.to_owned()
        } else if path == name || path.ends_with(&format!(".{name}")) {
            path.to_owned()
        } else {
            format!("{path}.{name}")
        }
    };
    let quoted = |prefix: &str| {
        message
            .strip_prefix(prefix)
            .and_then(|rest| rest.split('`').next())
            .map(join)
    };
    if let Some(param) = quoted("unknown field `") {
        return ApiError::invalid("unknown_field", message, Some(param));
    }
    if let Some(param) = quoted("missing field `") {
        return ApiError::invalid("missing_field", message, Some(param));
    }
    let param = (path != "." && !path.is_empty()).then(|| path.to_owned());
    ApiError::invalid("invalid_value", message, param)
}

/// Query parameters deserialized strictly into `T` (`#[serde(deny_unknown_fields)]`).
#[derive(Debug, Clone)]
pub struct StrictQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for StrictQuery<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parse_query(parts.uri.query().unwrap_or_default()).map(StrictQuery)
    }
}

pub fn parse_query<T: DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    let deserializer =
        serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
    serde_path_to_error::deserialize(deserializer).map_err(|error| {
        let path = error.path().to_string();
        field_error(&path, &error.into_inner().to_string())
    })
}

/// A list request: `?limit=` (1–100, default 20) and `?cursor=`, and the list's filters `F`
/// (a `#[serde(deny_unknown_fields)]` struct; [`NoFilters`] when it has none).
#[derive(Debug, Clone)]
pub struct Paged<F = NoFilters> {
    pub page: PageRequest,
    pub filters: F,
}

/// `limit` and `cursor` as OpenAPI parameters: list routes say `params(PageParams, …)`.
#[derive(Debug, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// Page size, 1-100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// The filters of a list that has none: any other parameter is unknown.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoFilters {}

impl<S, F> FromRequestParts<S> for Paged<F>
where
    S: Send + Sync,
    F: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parse_paged(parts.uri.query().unwrap_or_default())
    }
}

pub fn parse_paged<F: DeserializeOwned>(query: &str) -> Result<Paged<F>, ApiError> {
    let mut limit = None;
    let mut cursor = None;
    let mut rest = form_urlencoded::Serializer::new(String::new());
    for (name, value) in form_urlencoded::parse(query.as_bytes()) {
        match name.as_ref() {
            "limit" => limit = Some(value.into_owned()),
            "cursor" => cursor = Some(value.into_owned()),
            _ => {
                rest.append_pair(&name, &value);
            }
        }
    }
    let limit = match limit {
        None => PAGE_LIMIT_DEFAULT,
        Some(text) => match text.parse::<usize>() {
            Ok(n) if (1..=PAGE_LIMIT_MAX).contains(&n) => n,
            _ => {
                return Err(ApiError::invalid(
                    "out_of_range",
                    format!("limit must be a whole number from 1 to {PAGE_LIMIT_MAX}"),
                    Some("limit".to_owned()),
                ));
            }
        },
    };
    let cursor = match cursor {
        Some(text) if text.is_empty() || text.len() > CURSOR_CHARS_MAX => {
            return Err(ApiError::invalid(
                "invalid_cursor",
                "the cursor is not one this list handed out",
                Some("cursor".to_owned()),
            ));
        }
        other => other,
    };
    Ok(Paged {
        page: PageRequest { limit, cursor },
        filters: parse_query(&rest.finish())?,
    })
}

/// One page of a list: `{"data": [...], "next_cursor": "..." | null}`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Page<T> {
    pub data: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// The page of `listing`, each item turned into its wire form.
    pub fn of<U>(listing: Listing<U>, view: impl FnMut(U) -> T) -> Self {
        Self {
            data: listing.data.into_iter().map(view).collect(),
            next_cursor: listing.next_cursor,
        }
    }
}

/// A JSON response with a status.
#[derive(Debug, Clone)]
pub struct Reply<T>(pub StatusCode, pub T);

impl<T> Reply<T> {
    pub fn ok(body: T) -> Self {
        Self(StatusCode::OK, body)
    }

    pub fn created(body: T) -> Self {
        Self(StatusCode::CREATED, body)
    }

    pub fn accepted(body: T) -> Self {
        Self(StatusCode::ACCEPTED, body)
    }
}

impl<T: Serialize> IntoResponse for Reply<T> {
    fn into_response(self) -> Response {
        json_response(self.0, &self.1)
    }
}

impl<T> Reply<T> {
    /// This reply shows `fields` (top-level fields of its body) this once: they are left out of
    /// the copy kept for Idempotency-Key replays ([`ReplayBody`]), so a secret is never stored
    /// and a replay answers without it.
    pub fn shown_once(self, fields: &'static [&'static str]) -> ShownOnce<T> {
        ShownOnce {
            reply: self,
            fields,
        }
    }
}

/// A [`Reply`] with fields shown only in this response ([`Reply::shown_once`]).
#[derive(Debug, Clone)]
pub struct ShownOnce<T> {
    reply: Reply<T>,
    fields: &'static [&'static str],
}

/// The body an Idempotency-Key replay answers instead of the one sent (a response extension):
/// the first response without its shown-once fields. The idempotency layer stores this one.
#[derive(Debug, Clone)]
pub struct ReplayBody(pub Bytes);

impl<T: Serialize> IntoResponse for ShownOnce<T> {
    fn into_response(self) -> Response {
        let Reply(status, body) = self.reply;
        let redacted = match serde_json::to_value(&body) {
            Ok(serde_json::Value::Object(mut fields)) => {
                for name in self.fields {
                    fields.remove(*name);
                }
                serde_json::to_vec(&fields).ok()
            }
            _ => None,
        };
        let Some(redacted) = redacted else {
            // Never store what cannot be redacted: a body that is not an object is a bug.
            return ApiError::Internal("a shown-once reply is not a JSON object".to_owned())
                .into_response();
        };
        let mut response = json_response(status, &body);
        response
            .extensions_mut()
            .insert(ReplayBody(Bytes::from(redacted)));
        response
    }
}

/// `body` as JSON with `status`; a body that cannot be serialized is a 500 (a bug).
pub fn json_response<T: Serialize>(status: StatusCode, body: &T) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => (
            status,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            bytes,
        )
            .into_response(),
        Err(error) => {
            ApiError::Internal(format!("response does not serialize: {error}")).into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Event {
        id: String,
        quantity: u64,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Batch {
        events: Vec<Event>,
    }

    fn param_and_code(body: &str) -> (Option<String>, String) {
        let error = parse_json::<Batch>(body.as_bytes()).unwrap_err();
        (error.param().map(str::to_owned), error.code().to_owned())
    }

    #[test]
    fn json_errors_name_the_nested_field() {
        assert_eq!(
            param_and_code(r#"{"events":[{"id":"a","quantity":1},{"id":"b","quantity":"x"}]}"#),
            (Some("events[1].quantity".into()), "invalid_value".into())
        );
        assert_eq!(
            param_and_code(r#"{"events":[{"id":"a","quantity":1,"extra":2}]}"#),
            (Some("events[0].extra".into()), "unknown_field".into())
        );
        assert_eq!(
            param_and_code(r#"{"evnts":[]}"#),
            (Some("evnts".into()), "unknown_field".into())
        );
        assert_eq!(
            param_and_code(r#"{"events":[{"id":"a"}]}"#),
            (Some("events[0].quantity".into()), "missing_field".into())
        );
        assert_eq!(
            param_and_code(r#"{"events":["#),
            (None, "invalid_json".into())
        );
        assert_eq!(
            param_and_code(r#"{"events":[]} x"#),
            (None, "invalid_json".into())
        );
    }

    #[test]
    fn content_type_must_be_json() {
        assert!(is_json(Some(&HeaderValue::from_static("application/json"))));
        assert!(is_json(Some(&HeaderValue::from_static(
            "Application/JSON; charset=utf-8"
        ))));
        assert!(!is_json(Some(&HeaderValue::from_static("text/plain"))));
        assert!(!is_json(None));
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Filters {
        action: Option<String>,
    }

    #[test]
    fn pages_take_limit_and_cursor_and_leave_the_rest_to_the_filters() {
        let paged = parse_paged::<Filters>("limit=5&cursor=abc&action=token.created").unwrap();
        assert_eq!(paged.page.limit, 5);
        assert_eq!(paged.page.cursor.as_deref(), Some("abc"));
        assert_eq!(paged.filters.action.as_deref(), Some("token.created"));
        let defaults = parse_paged::<NoFilters>("").unwrap();
        assert_eq!(defaults.page.limit, PAGE_LIMIT_DEFAULT);
        for bad in ["limit=0", "limit=101", "limit=ten"] {
            let error = parse_paged::<NoFilters>(bad).unwrap_err();
            assert_eq!(error.param(), Some("limit"), "{bad}");
        }
        let unknown = parse_paged::<NoFilters>("colour=red").unwrap_err();
        assert_eq!(unknown.param(), Some("colour"));
    }
}
