//! `/v1/users`: create (admin), list and get (read), update (admin).

use axum::extract::{Path, State};
use billing_app::users::{self, CreateUser, UpdateUser, UserSearch};
use billing_core::user::User;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::ApiState;
use crate::auth::Caller;
use crate::error::{ApiError, ErrorEnvelope};
use crate::extract::{Page, Paged, Reply, StrictJson};

pub fn router() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(create_user, list_users))
        .routes(routes!(get_user, update_user))
}

#[utoipa::path(post, path = "/v1/users", tag = "users", request_body = CreateUser,
    params(("Idempotency-Key" = Option<String>, Header, description = "Up to 255 characters")),
    security(("bearer" = ["admin"])),
    responses((status = 201, body = User), (status = 400, body = ErrorEnvelope), (status = 409, description = "Email taken", body = ErrorEnvelope)))]
async fn create_user(
    State(state): State<ApiState>,
    caller: Caller,
    StrictJson(request): StrictJson<CreateUser>,
) -> Result<Reply<User>, ApiError> {
    Ok(Reply::created(
        users::create_user(&state.app, request, &caller.actor()).await?,
    ))
}

#[utoipa::path(get, path = "/v1/users", tag = "users",
    params(("email" = Option<String>, Query, description = "Only the user with this email (exact, case-insensitive); not with `name`"),
        ("name" = Option<String>, Query, description = "Only users whose name begins with this (case-insensitive), in name order; not with `email`"),
        ("limit" = Option<u32>, Query, description = "1-100, default 20"), ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page")),
    security(("bearer" = ["read"])),
    responses((status = 200, description = "Users, newest first; by `name` in name order; by `email` at most one", body = Page<User>),
        (status = 400, description = "Both `email` and `name` (`param` `name`), a malformed `email`, an empty `name`, or a bad `limit`/`cursor`", body = ErrorEnvelope)))]
async fn list_users(
    State(state): State<ApiState>,
    paged: Paged<UserSearch>,
) -> Result<Reply<Page<User>>, ApiError> {
    Ok(Reply::ok(Page::of(
        users::list_users(&state.app, &paged.filters, &paged.page).await?,
        |u| u,
    )))
}

#[utoipa::path(get, path = "/v1/users/{id}", tag = "users", params(("id" = String, Path, description = "User id (`usr_…`)")),
    security(("bearer" = ["read"])), responses((status = 200, body = User), (status = 404, body = ErrorEnvelope)))]
async fn get_user(
    State(state): State<ApiState>,
    Path(id): Path<String>,
) -> Result<Reply<User>, ApiError> {
    Ok(Reply::ok(users::get_user(&state.app, &id).await?))
}

#[utoipa::path(patch, path = "/v1/users/{id}", tag = "users", request_body = UpdateUser, params(("id" = String, Path, description = "User id")),
    security(("bearer" = ["admin"])), responses((status = 200, body = User), (status = 400, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)))]
async fn update_user(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    StrictJson(request): StrictJson<UpdateUser>,
) -> Result<Reply<User>, ApiError> {
    Ok(Reply::ok(
        users::update_user(&state.app, &id, request, &caller.actor()).await?,
    ))
}
