//! Invoices change only through their actions (pay, void, credit and debit notes): a PATCH,
//! PUT or DELETE on an invoice is 405 (API.md), as any method a path lacks, with `Allow`. The read and action routes live beside these.

use axum::extract::{Path, State};

use billing_app::invoices::{self, InvoiceWithPayment, NoteRequest};
use billing_core::invoice::{CreditNote, Invoice};
use billing_core::payment::Payment;
use billing_ledger::InvoiceFilter;
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::ApiState;
use crate::auth::Caller;
use crate::error::{ApiError, ErrorEnvelope};
use crate::extract::{Page, Paged, Reply, StrictJson};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InvoiceFilters {
    pub user_id: Option<String>,
    pub subscription_id: Option<String>,
    pub status: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaymentFilters {
    pub invoice_id: Option<String>,
    pub user_id: Option<String>,
}

pub fn router() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(list_invoices))
        .routes(routes!(get_invoice))
        .routes(routes!(pay))
        .routes(routes!(void))
        .routes(routes!(credit_note))
        .routes(routes!(debit_note))
        .routes(routes!(list_payments))
}

#[utoipa::path(get, path = "/v1/invoices", tag = "invoices",
    params(("user_id" = Option<String>, Query, description = "Of this user"), ("subscription_id" = Option<String>, Query, description = "Of this subscription"),
        ("status" = Option<billing_core::invoice::InvoiceStatus>, Query, description = "open, paid, void or uncollectible"),
        ("limit" = Option<u32>, Query, description = "1-100, default 20"), ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page")),
    security(("bearer" = ["read"])), responses((status = 200, description = "Invoices, newest first", body = Page<Invoice>), (status = 400, body = ErrorEnvelope)))]
async fn list_invoices(
    State(state): State<ApiState>,
    paged: Paged<InvoiceFilters>,
) -> Result<Reply<Page<Invoice>>, ApiError> {
    let filter = InvoiceFilter {
        user_id: paged.filters.user_id,
        subscription_id: paged.filters.subscription_id,
        status: invoices::parse_status(paged.filters.status.as_deref())?,
    };
    Ok(Reply::ok(Page::of(
        invoices::list_invoices(&state.app, &filter, &paged.page).await?,
        |i| i,
    )))
}

#[utoipa::path(get, path = "/v1/invoices/{id}", tag = "invoices", params(("id" = String, Path, description = "Invoice id (`inv_…`)")),
    security(("bearer" = ["read"])), responses((status = 200, body = Invoice), (status = 404, body = ErrorEnvelope)))]
async fn get_invoice(
    State(state): State<ApiState>,
    Path(id): Path<String>,
) -> Result<Reply<Invoice>, ApiError> {
    Ok(Reply::ok(invoices::get_invoice(&state.app, &id).await?))
}

#[utoipa::path(post, path = "/v1/invoices/{id}/pay", tag = "invoices", params(("id" = String, Path, description = "Invoice id")),
    security(("bearer" = ["admin"])),
    responses((status = 200, body = InvoiceWithPayment), (status = 402, description = "Declined; the failed payment is in the body", body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope), (status = 409, description = "Not open, or another attempt in flight", body = ErrorEnvelope)))]
async fn pay(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Reply<InvoiceWithPayment>, ApiError> {
    Ok(Reply::ok(
        invoices::pay_invoice(&state.app, &id, &caller.actor()).await?,
    ))
}

#[utoipa::path(post, path = "/v1/invoices/{id}/void", tag = "invoices", params(("id" = String, Path, description = "Invoice id")),
    security(("bearer" = ["admin"])), responses((status = 200, body = Invoice), (status = 404, body = ErrorEnvelope), (status = 409, description = "Not open", body = ErrorEnvelope)))]
async fn void(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Reply<Invoice>, ApiError> {
    Ok(Reply::ok(
        invoices::void_invoice(&state.app, &id, &caller.actor()).await?,
    ))
}

#[utoipa::path(post, path = "/v1/invoices/{id}/credit-notes", tag = "invoices", request_body = NoteRequest, params(("id" = String, Path, description = "Invoice id")),
    security(("bearer" = ["admin"])),
    responses((status = 201, body = CreditNote), (status = 404, body = ErrorEnvelope), (status = 409, description = "Not paid", body = ErrorEnvelope), (status = 422, description = "Over the cap", body = ErrorEnvelope)))]
async fn credit_note(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    StrictJson(request): StrictJson<NoteRequest>,
) -> Result<Reply<CreditNote>, ApiError> {
    Ok(Reply::created(
        invoices::create_credit_note(&state.app, &id, request, &caller.actor()).await?,
    ))
}

#[utoipa::path(post, path = "/v1/invoices/{id}/debit-notes", tag = "invoices", request_body = NoteRequest, params(("id" = String, Path, description = "Invoice id")),
    security(("bearer" = ["admin"])), responses((status = 201, description = "The new invoice", body = Invoice), (status = 404, body = ErrorEnvelope), (status = 409, description = "Not paid", body = ErrorEnvelope)))]
async fn debit_note(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    StrictJson(request): StrictJson<NoteRequest>,
) -> Result<Reply<Invoice>, ApiError> {
    Ok(Reply::created(
        invoices::create_debit_note(&state.app, &id, request, &caller.actor()).await?,
    ))
}

#[utoipa::path(get, path = "/v1/payments", tag = "payments",
    params(("invoice_id" = Option<String>, Query, description = "Of this invoice"), ("user_id" = Option<String>, Query, description = "Of this user"),
        ("limit" = Option<u32>, Query, description = "1-100, default 20"), ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page")),
    security(("bearer" = ["read"])), responses((status = 200, description = "Payments, newest first", body = Page<Payment>)))]
async fn list_payments(
    State(state): State<ApiState>,
    paged: Paged<PaymentFilters>,
) -> Result<Reply<Page<Payment>>, ApiError> {
    let listing = invoices::list_payments(
        &state.app,
        paged.filters.invoice_id.as_deref(),
        paged.filters.user_id.as_deref(),
        &paged.page,
    )
    .await?;
    Ok(Reply::ok(Page::of(listing, |p| p)))
}
