//! Bearer-token authentication and the scope rule of API.md:
//! `admin` may do everything, `read` every GET (but the token and test-clock routes, which
//! are admin's), `usage:write` only `POST /v1/usage`; the open routes need no token.
//!
//! The rule is decided in one place, [`required_access`], from the method and the matched
//! route, so a new route is protected by default (anything but a GET needs `admin`).
//!
//! Tokens are read on every request, so they are cached in memory by the hash of their secret
//! (DESIGN.md): a revocation made through this process removes the entry at once; any other
//! entry (found, or not found) is re-read after [`TOKEN_CACHE_TTL`], which bounds how long a
//! token revoked elsewhere (another Lambda instance) still works.

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};
use billing_app::Actor;
use billing_app::tokens::Scope;
use billing_ledger::Ledger;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq;

use crate::error::ApiError;

/// How long a cached token lookup is trusted. API.md allows 60 s for a revocation to reach
/// every instance; half of it leaves room for clock skew and slow requests.
pub const TOKEN_CACHE_TTL: Duration = Duration::from_secs(30);
/// Most cached lookups. Unknown secrets are cached too (so a client retrying a bad token does
/// not cost a store read each time); this bound keeps a flood of random tokens from growing
/// the cache without limit.
pub const TOKEN_CACHE_ENTRIES_MAX: usize = 10_000;
/// The id the bootstrap admin token acts under (audit actor, idempotency scope). Not a
/// `tok_` id, so no API token can ever share it.
pub const BOOTSTRAP_TOKEN_ID: &str = "bootstrap";

/// Routes that need no token: health, the API description, and the Stripe webhook (which
/// checks its signature instead).
pub const OPEN_ROUTES: [(Method, &str); 3] = [
    (Method::GET, "/healthz"),
    (Method::GET, "/openapi.json"),
    (Method::POST, "/v1/webhooks/stripe"),
];
/// Resources whose GETs `read` may not make (the route and everything under it): they show
/// tokens or control time.
pub const ADMIN_ONLY_RESOURCES: [&str; 2] = ["/v1/tokens", "/v1/test-clock"];
/// The one route `usage:write` may call.
pub const USAGE_ROUTE: (Method, &str) = (Method::POST, "/v1/usage");

/// What a route needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Open,
    Needs(Scope),
}

/// The access rule of API.md for `method` on the route template `route` (`/v1/tokens/{id}`).
pub fn required_access(method: &Method, route: &str) -> Access {
    if OPEN_ROUTES.iter().any(|(m, r)| m == method && *r == route) {
        return Access::Open;
    }
    if *method == USAGE_ROUTE.0 && route == USAGE_ROUTE.1 {
        return Access::Needs(Scope::UsageWrite);
    }
    let admin_only = ADMIN_ONLY_RESOURCES.iter().any(|resource| {
        route == *resource
            || route
                .strip_prefix(resource)
                .is_some_and(|rest| rest.starts_with('/'))
    });
    if (*method == Method::GET || *method == Method::HEAD) && !admin_only {
        return Access::Needs(Scope::Read);
    }
    Access::Needs(Scope::Admin)
}

/// The authenticated token of a request. Handlers take it as an extractor to know who acts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub token_id: String,
    pub scopes: Vec<Scope>,
}

impl Caller {
    /// `admin` includes every other scope.
    pub fn may(&self, scope: Scope) -> bool {
        self.scopes.contains(&Scope::Admin) || self.scopes.contains(&scope)
    }

    /// Who the audit log says did it.
    pub fn actor(&self) -> Actor {
        Actor::token(&self.token_id)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        // The guard middleware puts the caller here for every non-open route; an open route
        // asking for a caller is a wiring mistake, refused rather than served anonymously.
        parts
            .extensions
            .get::<Caller>()
            .cloned()
            .ok_or_else(|| ApiError::Unauthenticated {
                code: "missing_token",
                message: "send Authorization: Bearer <token>".to_owned(),
            })
    }
}

/// The secret of `Authorization: Bearer <secret>`, if the header has that form.
pub fn bearer_secret(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, secret) = value.split_once(' ')?;
    let secret = secret.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !secret.is_empty()).then_some(secret)
}

struct CacheEntry {
    caller: Option<Caller>,
    read_at: Instant,
}

/// Resolves bearer secrets to callers: the bootstrap admin token from configuration, or an
/// API token from the ledger through the cache.
pub struct Authenticator {
    admin_secret_sha256: Digest,
    /// Keyed by the SHA-256 of the secret (raw bytes: no hex formatting per request).
    cache: RwLock<HashMap<Digest, CacheEntry>>,
    ttl: Duration,
}

type Digest = [u8; 32];

fn digest(secret: &str) -> Digest {
    Sha256::digest(secret.as_bytes()).into()
}

/// The digest of a stored hex hash (`Token::secret_sha256`); `None` if it is not one.
fn digest_from_hex(text: &str) -> Option<Digest> {
    let mut out = [0_u8; 32];
    hex::decode_to_slice(text, &mut out).ok()?;
    Some(out)
}

impl Authenticator {
    pub fn new(admin_secret: &str) -> Self {
        Self::with_ttl(admin_secret, TOKEN_CACHE_TTL)
    }

    pub fn with_ttl(admin_secret: &str, ttl: Duration) -> Self {
        Self {
            admin_secret_sha256: digest(admin_secret),
            cache: RwLock::new(HashMap::new()),
            ttl,
        }
    }

    /// The caller this secret belongs to, `None` when it is unknown or revoked.
    pub async fn authenticate(
        &self,
        ledger: &Ledger,
        secret: &str,
    ) -> Result<Option<Caller>, ApiError> {
        let presented = digest(secret);
        // Hashes of equal length compared in constant time: the response time tells an
        // attacker nothing about how much of the admin token they guessed.
        if bool::from(presented.ct_eq(&self.admin_secret_sha256)) {
            return Ok(Some(Caller {
                token_id: BOOTSTRAP_TOKEN_ID.to_owned(),
                scopes: vec![Scope::Admin],
            }));
        }
        if let Some(caller) = self.cached(&presented) {
            return Ok(caller);
        }
        let caller = ledger.token_by_secret(secret).await?.map(|token| Caller {
            token_id: token.id,
            // A stored scope this build does not know grants nothing.
            scopes: token
                .scopes
                .iter()
                .filter_map(|s| Scope::parse(s))
                .collect(),
        });
        self.remember(presented, caller.clone());
        Ok(caller)
    }

    /// Drops what is cached for the token with this (hex) secret hash, after a revocation.
    pub fn forget(&self, secret_sha256: &str) {
        let Some(key) = digest_from_hex(secret_sha256) else {
            return;
        };
        self.cache
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&key);
    }

    fn cached(&self, secret_sha256: &Digest) -> Option<Option<Caller>> {
        let cache = self
            .cache
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let entry = cache.get(secret_sha256)?;
        (entry.read_at.elapsed() < self.ttl).then(|| entry.caller.clone())
    }

    fn remember(&self, secret_sha256: Digest, caller: Option<Caller>) {
        let mut cache = self
            .cache
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if cache.len() >= TOKEN_CACHE_ENTRIES_MAX {
            let ttl = self.ttl;
            cache.retain(|_, entry| entry.read_at.elapsed() < ttl);
            if cache.len() >= TOKEN_CACHE_ENTRIES_MAX {
                cache.clear();
            }
        }
        cache.insert(
            secret_sha256,
            CacheEntry {
                caller,
                read_at: Instant::now(),
            },
        );
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_access_rule_follows_api_md() {
        use Access::{Needs, Open};
        let cases = [
            (Method::GET, "/healthz", Open),
            (Method::GET, "/openapi.json", Open),
            (Method::POST, "/v1/webhooks/stripe", Open),
            (Method::POST, "/v1/usage", Needs(Scope::UsageWrite)),
            (Method::GET, "/v1/audit", Needs(Scope::Read)),
            (Method::GET, "/v1/invoices/{id}", Needs(Scope::Read)),
            (Method::GET, "/v1/tokens", Needs(Scope::Admin)),
            (Method::GET, "/v1/tokens/{id}", Needs(Scope::Admin)),
            (Method::GET, "/v1/tokensmith", Needs(Scope::Read)),
            (Method::GET, "/v1/test-clock", Needs(Scope::Admin)),
            (Method::POST, "/v1/tokens", Needs(Scope::Admin)),
            (Method::DELETE, "/v1/tokens/{id}", Needs(Scope::Admin)),
            (Method::POST, "/v1/something-new", Needs(Scope::Admin)),
        ];
        for (method, route, access) in cases {
            assert_eq!(required_access(&method, route), access, "{method} {route}");
        }
    }

    #[test]
    fn admin_may_everything_and_others_only_their_scope() {
        let admin = Caller {
            token_id: "t".into(),
            scopes: vec![Scope::Admin],
        };
        let reader = Caller {
            token_id: "r".into(),
            scopes: vec![Scope::Read],
        };
        assert!(Scope::ALL.iter().all(|s| admin.may(*s)));
        assert!(reader.may(Scope::Read) && !reader.may(Scope::UsageWrite));
    }

    #[test]
    fn stored_hashes_map_to_the_cache_key_of_their_secret() {
        let hex = billing_ledger::hash_secret("sk_abc");
        assert_eq!(digest_from_hex(&hex), Some(digest("sk_abc")));
        assert_eq!(digest_from_hex("zz"), None);
    }

    #[test]
    fn bearer_secrets_are_read_from_the_authorization_header() {
        let mut headers = HeaderMap::new();
        assert_eq!(bearer_secret(&headers), None);
        headers.insert(header::AUTHORIZATION, "Bearer sk_1".parse().unwrap());
        assert_eq!(bearer_secret(&headers), Some("sk_1"));
        headers.insert(header::AUTHORIZATION, "Basic abc".parse().unwrap());
        assert_eq!(bearer_secret(&headers), None);
    }
}
