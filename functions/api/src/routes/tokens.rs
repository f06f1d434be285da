//! `/v1/tokens` (admin): create (the secret is shown once), list (no secrets), revoke. A
//! revocation made here also drops the token from this process's cache, so it is refused at
//! once; other instances refuse it within the cache's TTL.

use axum::extract::{Path, State};
use billing_app::tokens::{self, NewToken};
use billing_core::Timestamp;
use billing_ledger::Token;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::ApiState;
use crate::auth::Caller;
use crate::error::{ApiError, ErrorEnvelope};
use crate::extract::{NoFilters, Page, PageParams, Paged, Reply, ShownOnce, StrictJson};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTokenRequest {
    /// 1 to 100 characters (`billing_app::tokens::NAME_CHARS_MAX`), not only spaces.
    #[schema(min_length = 1, max_length = 100, pattern = "[^ \\t\\n\\r\\f\\v]")]
    pub name: String,
    /// Any of `admin`, `read`, `usage:write`; at least one.
    #[schema(min_items = 1, inline, value_type = Vec<ScopeName>)]
    pub scopes: Vec<String>,
}

/// A scope's name.
#[derive(ToSchema)]
#[allow(dead_code)] // Only its schema is used.
pub enum ScopeName {
    #[schema(rename = "admin")]
    Admin,
    #[schema(rename = "read")]
    Read,
    #[schema(rename = "usage:write")]
    UsageWrite,
}

/// A token as listed: never its secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenView {
    pub id: String,
    pub name: String,
    pub scopes: Vec<String>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub revoked_at: Option<Timestamp>,
}

impl From<Token> for TokenView {
    fn from(token: Token) -> Self {
        Self {
            id: token.id,
            name: token.name,
            scopes: token.scopes,
            created_at: token.created_at,
            revoked_at: token.revoked_at,
        }
    }
}

/// A token just created: `token` is its secret, shown this once. A replay of the request
/// (same Idempotency-Key) answers the same body without `token`: the secret is never stored.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedTokenView {
    pub id: String,
    pub name: String,
    pub scopes: Vec<String>,
    /// The secret, in the response that created the token only; absent from a replay.
    #[schema(required = false)]
    pub token: String,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
}

pub fn router() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(create_token, list_tokens))
        .routes(routes!(revoke_token))
}

/// Creates an API token. Its secret (`token`) "appears only here" (API.md): in this 201, once.
/// The secret is never stored, only its hash, so a retry with the same `Idempotency-Key`
/// replays this response (`Idempotent-Replayed: true`) without `token`; a caller that lost the
/// secret revokes the token and creates another.
#[utoipa::path(
    post,
    path = "/v1/tokens",
    tag = "tokens",
    request_body = CreateTokenRequest,
    responses(
        (status = 201, description = "Created. `token`, the secret, is shown in this response only: it is never stored, so a replay of the request with the same Idempotency-Key (`Idempotent-Replayed: true`) answers the same token without `token`", body = CreatedTokenView),
        (status = 400, description = "Invalid name or scopes", body = ErrorEnvelope),
    )
)]
async fn create_token(
    State(state): State<ApiState>,
    caller: Caller,
    StrictJson(request): StrictJson<CreateTokenRequest>,
) -> Result<ShownOnce<CreatedTokenView>, ApiError> {
    let created = tokens::create(
        &state.app,
        &caller.actor(),
        NewToken {
            name: request.name,
            scopes: request.scopes,
        },
    )
    .await?;
    Ok(Reply::created(CreatedTokenView {
        id: created.token.id,
        name: created.token.name,
        scopes: created.token.scopes,
        token: created.secret,
        created_at: created.token.created_at,
    })
    .shown_once(&[SECRET_FIELD]))
}

/// The field of [`CreatedTokenView`] that holds the secret.
const SECRET_FIELD: &str = "token";

#[utoipa::path(
    get,
    path = "/v1/tokens",
    tag = "tokens",
    params(PageParams),
    responses((status = 200, description = "Tokens, newest first, without secrets", body = Page<TokenView>))
)]
async fn list_tokens(
    State(state): State<ApiState>,
    paged: Paged<NoFilters>,
) -> Result<Reply<Page<TokenView>>, ApiError> {
    let listing = tokens::list(&state.app, &paged.page).await?;
    Ok(Reply::ok(Page::of(listing, TokenView::from)))
}

#[utoipa::path(
    delete,
    path = "/v1/tokens/{id}",
    tag = "tokens",
    params(("id" = String, Path, description = "Token id (`tok_…`)")),
    responses(
        (status = 200, description = "Revoked", body = TokenView),
        (status = 404, description = "No such token", body = ErrorEnvelope),
    )
)]
async fn revoke_token(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Reply<TokenView>, ApiError> {
    let revoked = tokens::revoke(&state.app, &caller.actor(), &id).await?;
    state.auth.forget(&revoked.secret_sha256);
    Ok(Reply::ok(TokenView::from(revoked)))
}
