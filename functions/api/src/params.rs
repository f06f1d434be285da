//! Path and query values, checked once for every route before any handler reads them: each
//! must be UTF-8 (a lone surrogate, `%ED%A0%80`, is not), hold no control character (NUL…), and
//! be 1 to [`PARAM_CHARS_MAX`] characters ([`CURSOR_CHARS_MAX`] for `cursor`); a value that
//! names a resource ([`is_identifier`]: `id`, `code`, `user_id`…) must be printable ASCII, as
//! every id and code this API hands out is. A value that breaks a rule is a 400 naming it
//! (`param`), so nothing a store cannot key (DynamoDB: 2048 bytes of partition key, 1024 of
//! sort key) ever reaches one and fails there as a 5xx. The OpenAPI document states the same
//! bounds on every parameter ([`crate::openapi::add_conventions`], from [`pattern`] and
//! [`max_chars`]).

use axum::http::Uri;
use std::borrow::Cow;

use crate::error::ApiError;
pub use crate::extract::CURSOR_CHARS_MAX;

/// Longest path or query value (but `cursor`), in characters. Keys hold at most two of them
/// (`USAGE#{user_id}#{metric}`): 2 × 255 characters × 4 bytes + the prefix is under the
/// partition key's 2048 bytes, and one (`PLANCLAIM#{code}`) under the sort key's 1024.
/// Every id, code, metric, timestamp and filter of API.md fits (event ids stop at 255 too).
pub const PARAM_CHARS_MAX: usize = 255;

/// The query parameter whose values are longer: cursors are opaque keys.
pub const CURSOR_PARAM: &str = "cursor";

/// The pattern of an identifier's value: printable ASCII, no space.
pub const IDENTIFIER_PATTERN: &str = "^[!-~]+$";
/// The pattern of any other value: no control character (`char::is_control`: C0, DEL, C1).
pub const TEXT_PATTERN: &str = "^[^\\u0000-\\u001F\\u007F-\\u009F]+$";

/// The longest value `name` may have.
pub fn max_chars(name: &str) -> usize {
    if name == CURSOR_PARAM {
        CURSOR_CHARS_MAX
    } else {
        PARAM_CHARS_MAX
    }
}

/// Does `name` name a resource (`id`, `code`, `user_id`, `plan_code`)? Its value is then an
/// id or a code, which are ASCII by construction (`usr_…`, plan codes of `A–Z a–z 0–9 _ - .`).
pub fn is_identifier(name: &str) -> bool {
    name == "id" || name == "code" || name.ends_with("_id") || name.ends_with("_code")
}

/// The documented pattern of `name`'s values.
pub fn pattern(name: &str) -> &'static str {
    if is_identifier(name) {
        IDENTIFIER_PATTERN
    } else {
        TEXT_PATTERN
    }
}

/// Checks every path parameter of `route` (the matched template, `/v1/users/{id}`) and every
/// query value of `uri` against the rules above.
pub fn check(route: &str, uri: &Uri) -> Result<(), ApiError> {
    let template = route.split('/');
    let actual = uri.path().split('/');
    for (segment, raw) in template.zip(actual) {
        let Some(name) = segment
            .strip_prefix('{')
            .and_then(|rest| rest.strip_suffix('}'))
        else {
            continue;
        };
        let name = name.trim_start_matches('*');
        let bytes: Cow<'_, [u8]> = percent_encoding::percent_decode_str(raw).into();
        check_value(name, &bytes)?;
    }
    for pair in uri.query().unwrap_or_default().split('&') {
        if pair.is_empty() {
            continue;
        }
        let (raw_name, raw_value) = pair.split_once('=').unwrap_or((pair, ""));
        let name_bytes = decode_form(raw_name);
        let name = match std::str::from_utf8(&name_bytes) {
            Ok(name) if !name.contains('\0') && name.chars().count() <= PARAM_CHARS_MAX => {
                name.to_owned()
            }
            _ => {
                return Err(ApiError::invalid(
                    "invalid_parameter",
                    "a query parameter's name is not valid UTF-8, holds a NUL or is too long",
                    None,
                ));
            }
        };
        check_value(&name, &decode_form(raw_value))?;
    }
    Ok(())
}

/// `application/x-www-form-urlencoded` decoding to bytes (`+` is a space), without the lossy
/// UTF-8 conversion of `form_urlencoded::parse`, which would hide a lone surrogate.
fn decode_form(raw: &str) -> Vec<u8> {
    let spaced = raw.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced).collect()
}

fn check_value(name: &str, bytes: &[u8]) -> Result<(), ApiError> {
    let invalid =
        |message: String| ApiError::invalid("invalid_parameter", message, Some(name.to_owned()));
    let text = std::str::from_utf8(bytes).map_err(|_| {
        invalid(format!(
            "{name} is not valid UTF-8 (percent-encode UTF-8 text)"
        ))
    })?;
    if text.chars().any(char::is_control) {
        return Err(invalid(format!(
            "{name} must not contain a control character (NUL, newline…)"
        )));
    }
    if is_identifier(name) && !text.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(invalid(format!(
            "{name} is an id or a code: printable ASCII without spaces"
        )));
    }
    let max = max_chars(name);
    let chars = text.chars().count();
    if chars == 0 || chars > max {
        return Err(invalid(format!("{name} must be 1 to {max} characters")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn param_of(route: &str, uri: &str) -> Option<String> {
        check(route, &uri.parse().unwrap())
            .err()
            .map(|error| error.param().unwrap_or("<none>").to_owned())
    }

    #[test]
    fn values_must_be_utf8_without_nul_and_short_enough() {
        let route = "/v1/users/{id}";
        assert_eq!(param_of(route, "/v1/users/usr_1?limit=5"), None);
        assert_eq!(
            param_of(route, "/v1/users/%C3%A9t%C3%A9"),
            Some("id".into())
        );
        assert_eq!(param_of(route, "/v1/users/a%20b"), Some("id".into()));
        assert_eq!(param_of("/v1/audit", "/v1/audit?action=%C3%A9"), None);
        assert_eq!(
            param_of("/v1/audit", "/v1/audit?action="),
            Some("action".into())
        );
        assert_eq!(
            param_of("/v1/audit", "/v1/audit?action=a%0Ab"),
            Some("action".into())
        );
        assert_eq!(param_of(route, "/v1/users/a%00b"), Some("id".into()));
        assert_eq!(param_of(route, "/v1/users/%ED%A0%80"), Some("id".into()));
        let long = "x".repeat(PARAM_CHARS_MAX + 1);
        assert_eq!(
            param_of(route, &format!("/v1/users/{long}")),
            Some("id".into())
        );
        let fits = "é".repeat(PARAM_CHARS_MAX);
        let fits = percent_encoding::utf8_percent_encode(&fits, percent_encoding::NON_ALPHANUMERIC);
        assert_eq!(
            param_of("/v1/audit", &format!("/v1/audit?action={fits}")),
            None
        );
        assert_eq!(
            param_of("/v1/audit", &format!("/v1/audit?action={fits}e")),
            Some("action".into())
        );
        assert_eq!(
            param_of("/v1/audit", "/v1/audit?action=a%00"),
            Some("action".into())
        );
        assert_eq!(
            param_of("/v1/audit", "/v1/audit?action=%ED%A0%80"),
            Some("action".into())
        );
        assert_eq!(
            param_of("/v1/audit", &format!("/v1/audit?entity_id={long}")),
            Some("entity_id".into())
        );
        let cursor = "c".repeat(CURSOR_CHARS_MAX);
        assert_eq!(
            param_of("/v1/audit", &format!("/v1/audit?cursor={cursor}")),
            None
        );
        assert_eq!(
            param_of("/v1/audit", &format!("/v1/audit?cursor={cursor}c")),
            Some("cursor".into())
        );
        assert_eq!(
            param_of("/v1/audit", "/v1/audit?a%00=1"),
            Some("<none>".into())
        );
    }
}
