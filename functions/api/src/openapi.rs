//! The OpenAPI 3.1 document served at `/openapi.json`. Its paths come from the routes
//! themselves (utoipa-axum registers a handler and its `#[utoipa::path]` together); this file
//! holds only what is global: the title, the bearer scheme, the error envelope.

use axum::http::Method;
use utoipa::openapi::path::{Operation, ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{Content, Ref, RefOr, Required, ResponseBuilder};
use utoipa::{Modify, OpenApi};

use crate::auth::{Access, USAGE_ROUTE, required_access};
use crate::error::{ErrorBody, ErrorEnvelope, ErrorType};
use crate::idempotency::KEY_CHARS_MAX;

/// The name of the bearer security scheme routes refer to: `security(("bearer" = ["admin"]))`.
pub const BEARER: &str = "bearer";

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

/// Documents on every operation what the conventions make true of it, from the same rules the
/// middleware applies, so no route has to repeat them: its security requirement (from
/// [`required_access`]), 401/403 when it needs a token, and for POSTs the `Idempotency-Key`
/// header with its 409/422, and 400/413/415 for a body; 429 on the rate-limited route.
pub fn add_conventions(openapi: &mut utoipa::openapi::OpenApi) {
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
                document_operation(&method, path, operation);
            }
        }
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
    if operation.request_body.is_some() {
        add_error(operation, "400", "Invalid body (`param` names the field)");
        add_error(operation, "413", "Body over the limit");
        add_error(operation, "415", "Body not sent as application/json");
    }
    if *method == Method::POST && required_access(method, path) != Access::Open {
        let parameters = operation.parameters.get_or_insert_with(Vec::new);
        let documented = parameters
            .iter()
            .any(|p| matches!(p, RefOr::T(p) if p.name == "Idempotency-Key"));
        if !documented {
            parameters.push(RefOr::T(
                ParameterBuilder::new()
                    .name("Idempotency-Key")
                    .parameter_in(ParameterIn::Header)
                    .required(Required::False)
                    .description(Some(
                        "Retries with the same key and body replay the first response \
                         (`Idempotent-Replayed: true`) for 24 hours; keys are per token",
                    ))
                    .schema(Some(
                        ObjectBuilder::new()
                            .schema_type(Type::String)
                            .max_length(Some(KEY_CHARS_MAX)),
                    ))
                    .build(),
            ));
        }
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
