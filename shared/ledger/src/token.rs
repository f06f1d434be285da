//! API tokens. The secret is shown once, at creation; only its SHA-256 is stored, with a
//! lookup item from that hash to the token (deleted on revocation).

use billing_core::Timestamp;
use billing_store::{Condition, Index, SortKeyCondition};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::change::{Change, gsi, newest_sk};
use crate::error::{Conflict, Result};
use crate::keys;
use crate::ledger::{Ledger, Listing, PageRequest};
use crate::record::{Versioned, required, s, string_attribute, to_item};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Token {
    pub id: String,
    pub name: String,
    pub scopes: Vec<String>,
    /// Hex SHA-256 of the secret. Secrets are long and random, so a plain hash is enough:
    /// there is nothing to brute-force that a slow hash would protect.
    pub secret_sha256: String,
    pub created_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
}

impl Ledger {
    pub async fn token(&self, id: &str) -> Result<Option<Versioned<Token>>> {
        self.get_versioned("token", keys::token(id)).await
    }

    /// The live token whose secret this is.
    pub async fn token_by_secret(&self, secret: &str) -> Result<Option<Token>> {
        let Some(lookup) = self
            .table
            .get(&keys::token_by_hash(&hash_secret(secret)))
            .await?
        else {
            return Ok(None);
        };
        let token_id = required(
            "token_lookup",
            &lookup,
            "token_id",
            string_attribute("token_lookup", &lookup, "token_id")?,
        )?;
        Ok(self
            .token(&token_id)
            .await?
            .map(|t| t.value)
            .filter(|t| t.revoked_at.is_none()))
    }

    pub async fn tokens(&self, page: &PageRequest) -> Result<Listing<Token>> {
        self.list(
            "token",
            Index::Gsi3,
            "TOKENS".into(),
            SortKeyCondition::All,
            page,
            |_| true,
        )
        .await
    }
}

impl Change {
    pub fn create_token(&mut self, token: &Token) -> Result<()> {
        self.put(
            token_item(token, 1)?,
            Condition::NotExists,
            Some(Conflict::TokenExists),
        );
        self.claim(
            "token_hash",
            serde_json::json!({"token_id": token.id}),
            keys::token_by_hash(&token.secret_sha256),
            Conflict::TokenExists,
        )?;
        Ok(())
    }

    /// Marks the token revoked and removes the lookup by secret, so it authenticates no more.
    pub fn revoke_token(&mut self, revoked: &Token, read_version: u64) -> Result<()> {
        self.put(
            token_item(revoked, read_version + 1)?,
            Condition::VersionEquals(read_version),
            Some(Conflict::Stale {
                entity: "token",
                id: revoked.id.clone(),
            }),
        );
        self.delete(
            keys::token_by_hash(&revoked.secret_sha256),
            Condition::Always,
            None,
        );
        Ok(())
    }
}

fn token_item(token: &Token, version: u64) -> Result<billing_store::Item> {
    to_item(
        "token",
        token,
        &keys::token(&token.id),
        Some(version),
        vec![
            (gsi::ALL_PK, s("TOKENS")),
            (gsi::ALL_SK, newest_sk(token.created_at, &token.id)),
        ],
    )
}

/// The stored form of a secret.
pub fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_hex_sha256() {
        assert_eq!(
            hash_secret("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
