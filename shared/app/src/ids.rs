//! Opaque resource ids with a type prefix (API.md): `usr_`, `sub_`, `inv_`, `pay_`, `cn_`,
//! `tok_`, `aud_`. Random, 96 bits: unguessable and collision-free in practice; uniqueness that
//! matters for money (one invoice per period…) comes from deterministic keys, not from ids.

use rand::RngCore;

pub const USER: &str = "usr";
pub const SUBSCRIPTION: &str = "sub";
pub const INVOICE: &str = "inv";
pub const PAYMENT: &str = "pay";
pub const CREDIT_NOTE: &str = "cn";
pub const TOKEN: &str = "tok";
pub const AUDIT: &str = "aud";
/// A run started from the API that goes on after the request.
pub const RUN: &str = "run";

/// A new id such as `usr_4f9c0a1b2c3d4e5f60718293`.
pub fn new_id(prefix: &str) -> String {
    let mut bytes = [0_u8; 12];
    rand::rng().fill_bytes(&mut bytes);
    let mut id = String::with_capacity(prefix.len() + 1 + 24);
    id.push_str(prefix);
    id.push('_');
    id.push_str(&hex::encode(bytes));
    id
}

/// A new id whose first part is the creation time (nanoseconds, hex), so ids of one kind
/// sort in creation order: audit entries of the same second keep the order they happened in.
pub fn new_ordered_id(prefix: &str) -> String {
    let nanos = chrono::Utc::now()
        .timestamp_nanos_opt()
        .map_or(0, |n| u64::try_from(n).unwrap_or(0));
    let mut bytes = [0_u8; 4];
    rand::rng().fill_bytes(&mut bytes);
    format!("{prefix}_{nanos:016x}{}", hex::encode(bytes))
}

/// A secret for an API token: 256 random bits, hex, with a recognisable prefix.
pub fn new_secret() -> String {
    let mut bytes = [0_u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("sk_{}", hex::encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_carry_their_prefix_and_differ() {
        let (a, b) = (new_id(USER), new_id(USER));
        assert!(a.starts_with("usr_") && a.len() == 28);
        assert_ne!(a, b);
        assert!(new_secret().starts_with("sk_"));
        let (first, second) = (new_ordered_id(AUDIT), new_ordered_id(AUDIT));
        assert!(first < second, "{first} then {second}");
    }
}
