//! `/v1/tokens` (admin): create (the secret is shown once), list (no secrets), revoke. A
//! revocation made here also drops the token from this process's cache, so it is refused at
//! once; other instances refuse it within the cache's TTL.

use axum::Extension;
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
use crate::extract::{NoFilters, Page, PageParams, Paged, Reply, StrictJson};
use crate::idempotency::SecretField;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTokenRequest {
    pub name: String,
    /// Any of `admin`, `read`, `usage:write`.
    pub scopes: Vec<String>,
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

/// A token just created: `token` is its secret, shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedTokenView {
    pub id: String,
    pub name: String,
    pub scopes: Vec<String>,
    pub token: String,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
}

pub fn router() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(create_token, list_tokens))
        .routes(routes!(revoke_token))
}

#[utoipa::path(
    post,
    path = "/v1/tokens",
    tag = "tokens",
    request_body = CreateTokenRequest,
    responses(
        (status = 201, description = "Created; `token` appears only here (a replay under the same Idempotency-Key has it null: the secret is not stored)", body = CreatedTokenView),
        (status = 400, description = "Invalid name or scopes", body = ErrorEnvelope),
    )
)]
async fn create_token(
    State(state): State<ApiState>,
    caller: Caller,
    StrictJson(request): StrictJson<CreateTokenRequest>,
) -> Result<(Extension<SecretField>, Reply<CreatedTokenView>), ApiError> {
    let created = tokens::create(
        &state.app,
        &caller.actor(),
        NewToken {
            name: request.name,
            scopes: request.scopes,
        },
    )
    .await?;
    // The secret stays out of the response kept for an Idempotency-Key replay.
    let reply = Reply::created(CreatedTokenView {
        id: created.token.id,
        name: created.token.name,
        scopes: created.token.scopes,
        token: created.secret,
        created_at: created.token.created_at,
    });
    Ok((Extension(SecretField("token")), reply))
}

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
