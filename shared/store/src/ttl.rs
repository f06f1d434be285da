//! Time-to-live: items whose `expires_at` (epoch seconds, a number) is at or before now are
//! treated as absent by every read and every condition, on both backends. DynamoDB deletes
//! expired items lazily (within days), so the DynamoDB backend filters them; the embedded
//! backend never returns them either.

use crate::schema::TTL_ATTRIBUTE;
use serde_dynamo::{AttributeValue, Item};
use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch by the system clock (TTL is wall-clock based in DynamoDB too).
pub fn now_epoch_seconds() -> i64 {
    // A clock before 1970 is a broken machine; treating it as the epoch keeps TTL conservative
    // (nothing looks expired) instead of failing every read.
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_secs()).unwrap_or(i64::MAX)
        })
}

/// Whether `item` has expired at `now`. An `expires_at` that is missing or not a number never
/// expires, as in DynamoDB (which ignores non-numeric TTL attributes).
pub fn is_expired(item: &Item, now: i64) -> bool {
    match item.get(TTL_ATTRIBUTE) {
        Some(AttributeValue::N(number)) => expired_at(number, now).unwrap_or(false),
        _ => false,
    }
}

/// `expires_at <= now` for a decimal `expires_at`, compared exactly as DynamoDB compares
/// numbers (no float rounding): `100.5 <= 100` is false, `100.5 <= 101` is true.
fn expired_at(number: &str, now: i64) -> Option<bool> {
    let number = number.trim();
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if !fraction.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let whole: i64 = whole.parse().ok()?;
    let has_fraction = fraction.chars().any(|c| c != '0');
    // A positive fraction lifts a non-negative whole part above `whole`; on a negative number
    // it lowers it below `whole` (`-1.5 < -1`).
    Some(match (has_fraction, number.starts_with('-')) {
        (false, _) => whole <= now,
        (true, false) => whole < now,
        (true, true) => whole <= now,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::collections::HashMap;

    fn item_expiring(value: AttributeValue) -> Item {
        Item::from(HashMap::from([(TTL_ATTRIBUTE.to_string(), value)]))
    }

    #[test]
    fn an_item_expires_at_its_timestamp_not_before() {
        let item = item_expiring(AttributeValue::N("100".into()));
        assert!(!is_expired(&item, 99));
        assert!(is_expired(&item, 100));
        assert!(is_expired(&item, 101));
    }

    #[test]
    fn fractional_and_non_numeric_expiry_follow_dynamodb() {
        assert!(!is_expired(
            &item_expiring(AttributeValue::N("100.9".into())),
            100
        ));
        assert!(is_expired(
            &item_expiring(AttributeValue::N("100.9".into())),
            101
        ));
        assert!(is_expired(
            &item_expiring(AttributeValue::N("-1.5".into())),
            -1
        ));
        assert!(!is_expired(
            &item_expiring(AttributeValue::S("1".into())),
            100
        ));
        assert!(!is_expired(
            &Item::from(HashMap::<String, AttributeValue>::new()),
            100
        ));
    }
}
