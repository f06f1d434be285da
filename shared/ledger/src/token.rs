//! API tokens. The secret is shown once, at creation; only its SHA-256 is stored.

use billing_core::Timestamp;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

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
