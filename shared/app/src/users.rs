//! Users: the customers being billed.

use billing_core::FieldError;
use billing_core::audit::AuditAction;
use billing_core::user::{User, email_uniqueness_key, validate_payment_method, validate_user_name};
use billing_ledger::{Change, Conflict, Listing, PageRequest};
use serde::{Deserialize, Deserializer};

use crate::context::{Actor, App};
use crate::error::AppError;
use crate::ids;
use crate::support::{audit, fail, retry_races};

#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    pub email: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub payment_method: Option<String>,
}

/// `PATCH /v1/users/{id}`: absent fields stay; `"payment_method": null` removes the method.
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateUser {
    #[serde(default, deserialize_with = "present")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub name: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub payment_method: Option<Option<String>>,
}

/// Tells a field sent as `null` (`Some(None)`) from one not sent (`None`).
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    deserializer: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(deserializer).map(Some)
}

pub async fn create_user(app: &App, request: CreateUser, actor: &Actor) -> Result<User, AppError> {
    let email = request.email.trim().to_owned();
    let email_key = email_uniqueness_key(&email)?;
    if let Some(name) = &request.name {
        validate_user_name(name)?;
    }
    if let Some(method) = &request.payment_method {
        validate_payment_method(method)?;
    }
    let now = app.clock.now().await?;
    let user = User {
        id: ids::new_id(ids::USER),
        email,
        name: request.name.map(|n| n.trim().to_owned()),
        payment_method: request.payment_method,
        credit_balance_cents: 0,
        created_at: now,
    };
    let mut change = Change::new();
    change
        .create_user(&user, &email_key)
        .map_err(AppError::from)?;
    audit(
        &mut change,
        AuditAction::UserCreated,
        &user.id,
        actor,
        now,
        serde_json::json!({"email": user.email}),
    )
    .map_err(fail)?;
    app.ledger.commit(change).await.map_err(|error| {
        if error.has_conflict(|c| *c == Conflict::EmailTaken) {
            AppError::conflict(
                "email_taken",
                format!("a user with email {} exists", user.email),
                Some("email"),
            )
        } else {
            error.into()
        }
    })?;
    Ok(user)
}

pub async fn get_user(app: &App, id: &str) -> Result<User, AppError> {
    app.ledger
        .user(id)
        .await?
        .map(|u| u.value)
        .ok_or_else(|| AppError::not_found("user", id))
}

/// The optional filters of `GET /v1/users`: at most one of them.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserSearch {
    /// Exact, case-insensitive.
    pub email: Option<String>,
    /// A case-insensitive prefix of the name.
    pub name: Option<String>,
}

/// Users, newest first; by `email` the one holding it (through its uniqueness claim), by
/// `name` those whose name begins with it, in name order (through the name index).
pub async fn list_users(
    app: &App,
    search: &UserSearch,
    page: &PageRequest,
) -> Result<Listing<User>, AppError> {
    match (&search.email, &search.name) {
        (Some(_), Some(_)) => Err(FieldError::new(
            "name",
            "parameter_conflict",
            "filter by email or by name, not both",
        )
        .into()),
        (Some(email), None) => {
            let email_key = email_uniqueness_key(email.trim())?;
            let user = match app.ledger.user_id_by_email(&email_key).await? {
                Some(id) => app.ledger.user(&id).await?.map(|u| u.value),
                None => None,
            };
            Ok(Listing {
                data: user.into_iter().collect(),
                next_cursor: None,
            })
        }
        (None, Some(name)) => {
            if name.trim().is_empty() {
                return Err(FieldError::new("name", "invalid_length", "must not be empty").into());
            }
            Ok(app.ledger.users_by_name_prefix(name, page).await?)
        }
        (None, None) => Ok(app.ledger.users(page).await?),
    }
}

pub async fn update_user(
    app: &App,
    id: &str,
    request: UpdateUser,
    actor: &Actor,
) -> Result<User, AppError> {
    if let Some(Some(name)) = &request.name {
        validate_user_name(name)?;
    }
    if let Some(Some(method)) = &request.payment_method {
        validate_payment_method(method)?;
    }
    retry_races(|| async {
        let read = app
            .ledger
            .user(id)
            .await
            .map_err(AppError::from)?
            .ok_or_else(|| AppError::not_found("user", id))?;
        let mut user = read.value.clone();
        if let Some(name) = &request.name {
            user.name = name.as_ref().map(|n| n.trim().to_owned());
        }
        if let Some(method) = &request.payment_method {
            user.payment_method.clone_from(method);
        }
        if user == read.value {
            return Ok(user);
        }
        let now = app.clock.now().await?;
        let mut change = Change::new();
        change.update_user(&user, read.version)?;
        audit(
            &mut change,
            AuditAction::UserUpdated,
            &user.id,
            actor,
            now,
            serde_json::json!({"name": user.name, "payment_method": user.payment_method}),
        )?;
        app.ledger.commit(change).await?;
        Ok(user)
    })
    .await
}
