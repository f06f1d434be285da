//! The OpenAPI 3.1 document served at `/openapi.json`. Its paths come from the routes
//! themselves (utoipa-axum registers a handler and its `#[utoipa::path]` together); this file
//! holds only what is global: the title, the bearer scheme, the error envelope.

use std::collections::HashSet;

use axum::http::Method;
use utoipa::openapi::path::{Operation, ParameterBuilder, ParameterIn};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder, Schema, SchemaType, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{Content, Ref, RefOr, Required, ResponseBuilder};
use utoipa::{Modify, OpenApi};

use crate::auth::{Access, USAGE_ROUTE, required_access};
use crate::error::{ErrorBody, ErrorEnvelope, ErrorType};
use crate::extract::PAGE_LIMIT_DEFAULT;
use crate::idempotency::KEY_CHARS_MAX;
use crate::params;

/// The page-size parameter of every list ([`crate::extract::Paged`]).
const PAGE_LIMIT_PARAM: &str = "limit";
use billing_ledger::PAGE_LIMIT_MAX;

/// The name of the bearer security scheme routes refer to: `security(("bearer" = ["admin"]))`.
pub const BEARER: &str = "bearer";
/// What [`crate::idempotency::key_of`] accepts, as a pattern.
pub const KEY_PATTERN: &str = "^[!-~]([ -~]*[!-~])?$";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "billing",
        description = "Subscription billing: users, plans, subscriptions, usage, invoices, payments. Errors are `{\"error\": {\"type\", \"code\", \"message\", \"param\"}}`; every POST accepts `Idempotency-Key`; lists take `limit` (1-100) and `cursor`."
    ),
    components(schemas(ErrorEnvelope, ErrorBody, ErrorType)),
    modifiers(&BearerScheme)
)]
struct ApiDoc;

struct BearerScheme;

impl Modify for BearerScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            BEARER,
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The document the routes are added to.
pub fn base() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// The authenticated POST routes that document no request body: [`crate::guard`] refuses any
/// body but `{}` on them, and [`add_conventions`] documents that optional empty body.
pub fn bodyless_posts(openapi: &utoipa::openapi::OpenApi) -> HashSet<String> {
    openapi
        .paths
        .paths
        .iter()
        .filter(|(path, item)| {
            item.post
                .as_ref()
                .is_some_and(|operation| operation.request_body.is_none())
                && required_access(&Method::POST, path) != Access::Open
        })
        .map(|(path, _)| path.clone())
        .collect()
}

/// Documents on every operation what the conventions make true of it, from the same rules the
/// middleware applies, so no route has to repeat them: its security requirement (from
/// [`required_access`]), 401/403 when it needs a token; the bounds of [`params`] on every path
/// and query parameter, with their 400, and a 404 where the path names a resource; for POSTs
/// the `Idempotency-Key` header with its 409/422, the optional empty body of an action that
/// takes none ([`bodyless_posts`]), and 400/413/415 for a body; 429 on the rate-limited route.
pub fn add_conventions(openapi: &mut utoipa::openapi::OpenApi) {
    let bodyless = bodyless_posts(openapi);
    for (path, item) in openapi.paths.paths.iter_mut() {
        let operations = [
            (Method::GET, &mut item.get),
            (Method::POST, &mut item.post),
            (Method::PUT, &mut item.put),
            (Method::PATCH, &mut item.patch),
            (Method::DELETE, &mut item.delete),
        ];
        for (method, operation) in operations {
            if let Some(operation) = operation.as_mut() {
                if method == Method::POST && bodyless.contains(path) {
                    operation.request_body = Some(RefOr::T(empty_body()));
                }
                if let Some(RefOr::T(body)) = operation.request_body.as_mut() {
                    optional_body_without_null(body);
                }
                document_operation(&method, path, operation);
            }
        }
    }
}

/// The body of an action that takes none: absent, or `{}`.
fn empty_body() -> utoipa::openapi::request_body::RequestBody {
    let schema = ObjectBuilder::new()
        .schema_type(Type::Object)
        .max_properties(Some(0))
        .additional_properties(Some(AdditionalProperties::FreeForm(false)))
        .build();
    RequestBodyBuilder::new()
        .description(Some("This action takes no input: send no body, or `{}`"))
        .content("application/json", Content::new(Some(schema)))
        .required(Some(Required::False))
        .build()
}

/// `request_body = Option<T>` renders as `oneOf: [T, null]`, but an optional body is absent,
/// never `null` (`Option<StrictJson<T>>`): document it as an optional `T`.
fn optional_body_without_null(body: &mut utoipa::openapi::request_body::RequestBody) {
    for content in body.content.values_mut() {
        let RefOr::T(content) = content else { continue };
        let Some(RefOr::T(Schema::OneOf(one_of))) = &content.schema else {
            continue;
        };
        let is_null = |item: &RefOr<Schema>| {
            matches!(item, RefOr::T(Schema::Object(object))
                if object.schema_type == SchemaType::Type(Type::Null))
        };
        if one_of.items.len() == 2 && one_of.items.iter().any(is_null) {
            content.schema = one_of.items.iter().find(|item| !is_null(item)).cloned();
            body.required = Some(Required::False);
        }
    }
}

/// The bounds [`params`] enforces, on `parameter`'s string schema.
fn bound_parameter(parameter: &mut utoipa::openapi::path::Parameter) {
    if !matches!(
        parameter.parameter_in,
        ParameterIn::Path | ParameterIn::Query
    ) {
        return;
    }
    let max = params::max_chars(&parameter.name);
    // Every list reads `limit` and `cursor` through `Paged`, whatever a route wrote of them.
    if parameter.parameter_in == ParameterIn::Query && parameter.name == PAGE_LIMIT_PARAM {
        parameter.schema = Some(
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .minimum(Some(1))
                .maximum(Some(PAGE_LIMIT_MAX as u64))
                .default(Some(PAGE_LIMIT_DEFAULT.into()))
                .into(),
        );
        return;
    }
    if parameter.parameter_in == ParameterIn::Query && parameter.name == params::CURSOR_PARAM {
        parameter.schema = Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .min_length(Some(2))
                .max_length(Some(params::CURSOR_CHARS_MAX))
                // Cursors are hex (billing-store's cursor module); only those handed out work.
                .pattern(Some("^([0-9a-f]{2})+$"))
                .into(),
        );
        return;
    }
    let Some(RefOr::T(Schema::Object(schema))) = parameter.schema.as_mut() else {
        return;
    };
    let is_string = match &schema.schema_type {
        SchemaType::Type(kind) => *kind == Type::String,
        SchemaType::Array(kinds) => kinds.contains(&Type::String),
        SchemaType::AnyValue => false,
    };
    if !is_string {
        return;
    }
    let max = schema.max_length.map_or(max, |declared| declared.min(max));
    schema.max_length = Some(max);
    schema.min_length = Some(schema.min_length.unwrap_or(1).max(1));
    // An enum or a route's own pattern says more; every other value gets the general rule.
    if schema.pattern.is_none() && schema.enum_values.is_none() {
        schema.pattern = Some(params::pattern(&parameter.name).to_owned());
    }
}

fn document_operation(method: &Method, path: &str, operation: &mut Operation) {
    match required_access(method, path) {
        Access::Open => operation.security = Some(vec![SecurityRequirement::default()]),
        Access::Needs(scope) => {
            operation.security = Some(vec![SecurityRequirement::new(BEARER, [scope.as_str()])]);
            add_error(operation, "401", "Missing, unknown or revoked token");
            add_error(operation, "403", "The token lacks the scope");
        }
    }
    for parameter in operation.parameters.iter_mut().flatten() {
        if let RefOr::T(parameter) = parameter {
            bound_parameter(parameter);
        }
    }
    // The path and query values of every request are checked (crate::params).
    add_error(
        operation,
        "400",
        "Invalid request: a path or query value (not UTF-8, a NUL, too long), a filter or the body; `param` names it",
    );
    if path.contains('{') {
        add_error(operation, "404", "No such resource");
    }
    // ErrorKind::Unavailable: the store or a dependency did not answer (the detail is logged).
    add_error(
        operation,
        "503",
        "`internal`: the store did not answer; retry (with the same Idempotency-Key)",
    );
    if operation.request_body.is_some() {
        add_error(operation, "400", "Invalid body (`param` names the field)");
        add_error(operation, "413", "Body over the limit");
        // The signed webhook reads its body as sent, whatever it is declared as.
        if required_access(method, path) != Access::Open {
            add_error(operation, "415", "Body not sent as application/json");
        }
    }
    if *method == Method::POST && required_access(method, path) != Access::Open {
        // One definition for every POST, replacing any a route wrote itself.
        let parameters = operation.parameters.get_or_insert_with(Vec::new);
        parameters.retain(
            |p| !matches!(p, RefOr::T(p) if p.name.eq_ignore_ascii_case("Idempotency-Key")),
        );
        parameters.push(RefOr::T(
            ParameterBuilder::new()
                .name("Idempotency-Key")
                .parameter_in(ParameterIn::Header)
                .required(Required::False)
                .description(Some(
                    "Retries with the same key and body replay the first response \
                     (`Idempotent-Replayed: true`) for 24 hours; keys are per token. \
                     Printable ASCII, 1-255 characters",
                ))
                .schema(Some(
                    ObjectBuilder::new()
                        .schema_type(Type::String)
                        .min_length(Some(1))
                        .max_length(Some(KEY_CHARS_MAX))
                        // Visible ASCII (what a header value can hold), no edge spaces (HTTP
                        // strips them, which would change the key).
                        .pattern(Some(KEY_PATTERN)),
                ))
                .build(),
        ));
        add_error(
            operation,
            "409",
            "`request_in_progress`: the same key is still running",
        );
        add_error(
            operation,
            "422",
            "`key_reused`: the same key with another request",
        );
    }
    if *method == USAGE_ROUTE.0 && path == USAGE_ROUTE.1 {
        add_error(
            operation,
            "429",
            "Rate limited; see `Retry-After` (seconds)",
        );
    }
}

/// Adds an error response unless the route documents that status itself.
fn add_error(operation: &mut Operation, status: &str, description: &str) {
    operation
        .responses
        .responses
        .entry(status.to_owned())
        .or_insert_with(|| {
            RefOr::T(
                ResponseBuilder::new()
                    .description(description)
                    .content(
                        "application/json",
                        Content::new(Some(Ref::from_schema_name("ErrorEnvelope"))),
                    )
                    .build(),
            )
        });
}

/// The rendered document, made once when the router is built.
#[derive(Debug, Clone)]
pub struct Document(pub String);

impl Document {
    pub fn render(openapi: &utoipa::openapi::OpenApi) -> Self {
        // Rendering our own document cannot fail (no maps with non-string keys); if it ever
        // did, an empty object is served and the test of /openapi.json fails loudly.
        Self(openapi.to_json().unwrap_or_else(|_| "{}".to_owned()))
    }
}
