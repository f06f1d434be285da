//! Users (the customers being billed).

use serde::{Deserialize, Serialize};

use crate::error::{FieldError, Result};
use crate::money::Cents;
use crate::period::Timestamp;

pub const MAX_EMAIL_LEN: usize = 254;
pub const MAX_USER_NAME_LEN: usize = 200;
pub const MAX_PAYMENT_METHOD_LEN: usize = 255;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct User {
    pub id: String,
    pub email: String,
    pub name: Option<String>,
    pub payment_method: Option<String>,
    /// Money owed to the user, taken by the next invoices before anything is charged.
    pub credit_balance_cents: Cents,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: Timestamp,
}

/// Checks an email's shape (one `@`, something on both sides, a dot in the domain, no spaces)
/// and returns the key that makes it unique case-insensitively.
pub fn email_uniqueness_key(email: &str) -> Result<String, FieldError> {
    let invalid = || FieldError::new("email", "invalid_email", "must be an email address");
    if email.is_empty() || email.len() > MAX_EMAIL_LEN || email.chars().any(char::is_whitespace) {
        return Err(invalid());
    }
    let (local, domain) = email.split_once('@').ok_or_else(invalid)?;
    let domain_ok = !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.');
    if local.is_empty() || !domain_ok {
        return Err(invalid());
    }
    Ok(email.to_lowercase())
}

/// The leading characters of a name that its search key keeps: bounded so the key fits a
/// sort key whatever the name; a longer prefix is compared against the whole name.
pub const NAME_SEARCH_KEY_CHARS: usize = 64;

/// A name (or a prefix of one) as name search compares it: trimmed and lowercased, so
/// search is case-insensitive.
pub fn name_search_key(name: &str) -> String {
    name.trim().to_lowercase()
}

pub fn validate_user_name(name: &str) -> Result<(), FieldError> {
    let length = name.trim().chars().count();
    if length == 0 || length > MAX_USER_NAME_LEN {
        return Err(FieldError::new(
            "name",
            "invalid_length",
            format!("must be 1 to {MAX_USER_NAME_LEN} characters"),
        ));
    }
    Ok(())
}

pub fn validate_payment_method(payment_method: &str) -> Result<(), FieldError> {
    let valid = !payment_method.is_empty()
        && payment_method.len() <= MAX_PAYMENT_METHOD_LEN
        && payment_method
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if !valid {
        return Err(FieldError::new(
            "payment_method",
            "invalid_payment_method",
            "must be a payment method id such as \"pm_card_ok\"",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn emails_are_unique_case_insensitively() {
        assert_eq!(
            email_uniqueness_key("Ada@Example.COM").unwrap(),
            email_uniqueness_key("ada@example.com").unwrap()
        );
    }

    #[test]
    fn malformed_emails_are_refused() {
        for bad in [
            "",
            "ada",
            "@example.com",
            "ada@",
            "ada@example",
            "a da@example.com",
            "a@b@c.com",
            "ada@.com",
        ] {
            assert_eq!(
                email_uniqueness_key(bad).unwrap_err().param,
                "email",
                "{bad:?}"
            );
        }
    }

    #[test]
    fn payment_methods_are_ids() {
        assert!(validate_payment_method("pm_card_ok").is_ok());
        assert!(validate_payment_method("").is_err());
        assert!(validate_payment_method("pm card").is_err());
    }
}
