//! API tokens (API.md `/v1/tokens`): created with a name and scopes, shown once, stored only as
//! the hash of their secret, listed without secrets, revoked for good. Each change is committed
//! with its audit entry.

use billing_core::FieldError;
use billing_core::audit::{AuditAction, EntityType};
use billing_ledger::{AuditEntry, Change, Listing, PageRequest, Token, hash_secret};

use crate::context::{Actor, App};
use crate::error::AppError;
use crate::ids;

/// Longest token name, in characters: a label for humans, not a document.
pub const NAME_CHARS_MAX: usize = 100;

/// What a token may do (API.md "Auth").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Everything.
    Admin,
    /// Every GET.
    Read,
    /// `POST /v1/usage` only.
    UsageWrite,
}

impl Scope {
    pub const ALL: [Scope; 3] = [Scope::Admin, Scope::Read, Scope::UsageWrite];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Read => "read",
            Self::UsageWrite => "usage:write",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|scope| scope.as_str() == text)
    }
}

/// The request to create a token, as the client sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewToken {
    pub name: String,
    pub scopes: Vec<String>,
}

/// A token just created, with the only copy of its secret there will ever be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedToken {
    pub token: Token,
    pub secret: String,
}

/// The scopes of a request, checked and without duplicates (first occurrence kept).
fn validate_scopes(scopes: &[String]) -> Result<Vec<Scope>, FieldError> {
    if scopes.is_empty() {
        return Err(FieldError::new(
            "scopes",
            "invalid_value",
            "a token needs at least one scope: admin, read or usage:write",
        ));
    }
    let mut valid = Vec::with_capacity(Scope::ALL.len());
    for (index, text) in scopes.iter().enumerate() {
        let scope = Scope::parse(text).ok_or_else(|| {
            FieldError::new(
                format!("scopes[{index}]"),
                "unknown_scope",
                format!("unknown scope {text:?}; expected admin, read or usage:write"),
            )
        })?;
        if !valid.contains(&scope) {
            valid.push(scope);
        }
    }
    Ok(valid)
}

fn validate_name(name: &str) -> Result<String, FieldError> {
    let trimmed = name.trim();
    if trimmed.is_empty() {
        return Err(FieldError::new(
            "name",
            "invalid_value",
            "name must not be empty",
        ));
    }
    if trimmed.chars().count() > NAME_CHARS_MAX {
        return Err(FieldError::new(
            "name",
            "too_long",
            format!("name is longer than {NAME_CHARS_MAX} characters"),
        ));
    }
    Ok(trimmed.to_owned())
}

/// Creates a token; its secret is returned here and never again.
pub async fn create(app: &App, actor: &Actor, request: NewToken) -> Result<CreatedToken, AppError> {
    let name = validate_name(&request.name)?;
    let scopes = validate_scopes(&request.scopes)?;
    let now = app.clock.now().await?;
    let secret = ids::new_secret();
    let token = Token {
        id: ids::new_id(ids::TOKEN),
        name,
        scopes: scopes.iter().map(|s| s.as_str().to_owned()).collect(),
        secret_sha256: hash_secret(&secret),
        created_at: now,
        revoked_at: None,
    };
    let mut change = Change::new();
    change.create_token(&token)?;
    change.audit(&AuditEntry {
        id: ids::new_id(ids::AUDIT),
        at: now,
        actor: actor.0.clone(),
        action: AuditAction::TokenCreated,
        entity_type: EntityType::Token,
        entity_id: token.id.clone(),
        // Never the secret nor its hash: the audit log is published as events.
        data: serde_json::json!({"name": token.name, "scopes": token.scopes}),
    })?;
    app.ledger.commit(change).await?;
    Ok(CreatedToken { token, secret })
}

/// Tokens, newest first, revoked ones included (with `revoked_at`).
pub async fn list(app: &App, page: &PageRequest) -> Result<Listing<Token>, AppError> {
    Ok(app.ledger.tokens(page).await?)
}

/// Revokes a token: it authenticates no more. Revoking a revoked token changes nothing and
/// returns it as it is, so a retried DELETE is harmless.
pub async fn revoke(app: &App, actor: &Actor, id: &str) -> Result<Token, AppError> {
    let Some(current) = app.ledger.token(id).await? else {
        return Err(AppError::not_found("token", id));
    };
    if current.value.revoked_at.is_some() {
        return Ok(current.value);
    }
    let now = app.clock.now().await?;
    let mut revoked = current.value;
    revoked.revoked_at = Some(now);
    let mut change = Change::new();
    change.revoke_token(&revoked, current.version)?;
    change.audit(&AuditEntry {
        id: ids::new_id(ids::AUDIT),
        at: now,
        actor: actor.0.clone(),
        action: AuditAction::TokenRevoked,
        entity_type: EntityType::Token,
        entity_id: revoked.id.clone(),
        data: serde_json::json!({"name": revoked.name}),
    })?;
    match app.ledger.commit(change).await {
        Ok(()) => Ok(revoked),
        // Someone revoked it between our read and our write: it is revoked either way.
        Err(error) if error.has_conflict(|_| true) => match app.ledger.token(id).await? {
            Some(now_stored) if now_stored.value.revoked_at.is_some() => Ok(now_stored.value),
            _ => Err(AppError::conflict(
                "token_changed",
                format!("token {id} changed while it was being revoked; retry"),
                None,
            )),
        },
        Err(error) => Err(error.into()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    async fn app(fixture: &billing_store::testing::Fixture) -> App {
        let ledger = billing_ledger::Ledger::new(fixture.table.clone());
        App::local(
            ledger.clone(),
            std::sync::Arc::new(crate::clock::TestClock::new(ledger.clone())),
        )
    }

    #[tokio::test]
    async fn a_token_is_created_audited_listed_and_revoked() {
        let fixture = billing_store::testing::embedded("tokens").await.unwrap();
        let app = app(&fixture).await;
        let actor = Actor::token("bootstrap");
        let created = create(
            &app,
            &actor,
            NewToken {
                name: " ci ".into(),
                scopes: vec!["read".into(), "read".into()],
            },
        )
        .await
        .unwrap();
        assert_eq!(created.token.name, "ci");
        assert_eq!(created.token.scopes, vec!["read".to_owned()]);
        assert_ne!(created.token.secret_sha256, created.secret);
        let found = app.ledger.token_by_secret(&created.secret).await.unwrap();
        assert_eq!(found.map(|t| t.id), Some(created.token.id.clone()));
        let listed = list(&app, &PageRequest::first(10)).await.unwrap();
        assert_eq!(listed.data, vec![created.token.clone()]);

        let revoked = revoke(&app, &actor, &created.token.id).await.unwrap();
        assert!(revoked.revoked_at.is_some());
        assert!(
            app.ledger
                .token_by_secret(&created.secret)
                .await
                .unwrap()
                .is_none()
        );
        let again = revoke(&app, &actor, &created.token.id).await.unwrap();
        assert_eq!(again, revoked);

        let filter = billing_ledger::AuditFilter {
            entity_id: Some(created.token.id.clone()),
            action: None,
        };
        let audit = app
            .ledger
            .audit(&filter, &PageRequest::first(10))
            .await
            .unwrap();
        let mut actions: Vec<_> = audit.data.iter().map(|e| e.action).collect();
        actions.sort_by_key(|a| a.as_str());
        assert_eq!(
            actions,
            [AuditAction::TokenCreated, AuditAction::TokenRevoked]
        );
        assert!(audit.data.iter().all(|e| e.actor == "token:bootstrap"));
        assert!(
            !serde_json::to_string(&audit.data)
                .unwrap()
                .contains(&created.secret)
        );
    }

    #[tokio::test]
    async fn revoking_an_unknown_token_is_not_found_and_bad_cursors_are_invalid() {
        let fixture = billing_store::testing::embedded("tokens").await.unwrap();
        let app = app(&fixture).await;
        let error = revoke(&app, &Actor::token("t"), "tok_nope")
            .await
            .unwrap_err();
        assert_eq!(error.kind(), crate::ErrorKind::NotFound);
        let page = PageRequest {
            limit: 10,
            cursor: Some("zz".into()),
        };
        let error = list(&app, &page).await.unwrap_err();
        assert_eq!(
            (error.code(), error.param()),
            ("invalid_cursor", Some("cursor"))
        );
    }

    #[test]
    fn scopes_are_checked_and_deduplicated() {
        let scopes =
            |list: &[&str]| -> Vec<String> { list.iter().map(|s| s.to_string()).collect() };
        assert_eq!(
            validate_scopes(&scopes(&["read", "usage:write", "read"])).unwrap(),
            vec![Scope::Read, Scope::UsageWrite]
        );
        let error = validate_scopes(&scopes(&["read", "write"])).unwrap_err();
        assert_eq!(
            (error.param.as_str(), error.code),
            ("scopes[1]", "unknown_scope")
        );
        assert_eq!(validate_scopes(&[]).unwrap_err().param, "scopes");
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(validate_name("  ci  ").unwrap(), "ci");
        assert_eq!(validate_name("   ").unwrap_err().param, "name");
        assert_eq!(
            validate_name(&"x".repeat(NAME_CHARS_MAX + 1))
                .unwrap_err()
                .code,
            "too_long"
        );
    }
}
