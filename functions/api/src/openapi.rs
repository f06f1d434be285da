//! The OpenAPI 3.1 document served at `/openapi.json`. Its paths come from the routes
//! themselves (utoipa-axum registers a handler and its `#[utoipa::path]` together); this file
//! holds only what is global: the title, the bearer scheme, the error envelope.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::error::{ErrorBody, ErrorEnvelope, ErrorType};

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
