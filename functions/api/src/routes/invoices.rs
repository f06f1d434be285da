//! Invoices change only through their actions (pay, void, credit and debit notes): a PATCH,
//! PUT or DELETE on an invoice is 405 (API.md). The read and action routes live beside these.

use axum::extract::Path;
use axum::http::Method;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::ApiState;
use crate::error::{ApiError, ErrorEnvelope};

pub fn router() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new().routes(routes!(invoice_is_immutable))
}

#[utoipa::path(
    method(patch, put, delete),
    path = "/v1/invoices/{id}",
    tag = "invoices",
    params(("id" = String, Path, description = "Invoice id (`inv_…`)")),
    responses((status = 405, description = "Invoices change only through their actions", body = ErrorEnvelope))
)]
async fn invoice_is_immutable(method: Method, Path(_id): Path<String>) -> ApiError {
    ApiError::MethodNotAllowed {
        method: method.to_string(),
        hint: ": invoices change only through pay, void, credit-notes and debit-notes",
    }
}
