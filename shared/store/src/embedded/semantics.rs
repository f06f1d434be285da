//! DynamoDB's rules, evaluated directly: conditions against the current item and update
//! actions applied to it. The DynamoDB backend renders the same conditions to expressions;
//! the conformance suite checks that both agree.

use crate::error::StoreError;
use crate::model::{Condition, Key, Update, UpdateAction};
use crate::schema::{PARTITION_KEY, SORT_KEY, VERSION_ATTRIBUTE};
use serde_dynamo::{AttributeValue, Item};
use std::collections::HashMap;

/// Whether `condition` holds for `live`, the unexpired item with the key (if any).
pub(crate) fn condition_holds(condition: &Condition, live: Option<&Item>) -> bool {
    match (condition, live) {
        (Condition::Always, _) => true,
        (Condition::NotExists, live) => live.is_none(),
        (_, None) => false,
        (Condition::Exists, Some(_)) => true,
        (Condition::VersionEquals(expected), Some(item)) => {
            let expected = AttributeValue::N(expected.to_string());
            item.get(VERSION_ATTRIBUTE)
                .is_some_and(|version| values_equal(version, &expected))
        }
        (Condition::AttributeEquals(name, expected), Some(item)) => item
            .get(name)
            .is_some_and(|value| values_equal(value, expected)),
    }
}

/// DynamoDB's `=`: same type and value; numbers compare numerically, sets ignore order.
fn values_equal(left: &AttributeValue, right: &AttributeValue) -> bool {
    match (left, right) {
        (AttributeValue::N(a), AttributeValue::N(b)) => canonical_number(a) == canonical_number(b),
        (AttributeValue::Ss(a), AttributeValue::Ss(b)) => same_set(a, b, |x, y| x == y),
        (AttributeValue::Bs(a), AttributeValue::Bs(b)) => same_set(a, b, |x, y| x == y),
        (AttributeValue::Ns(a), AttributeValue::Ns(b)) => {
            same_set(a, b, |x, y| canonical_number(x) == canonical_number(y))
        }
        (AttributeValue::L(a), AttributeValue::L(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| values_equal(x, y))
        }
        (AttributeValue::M(a), AttributeValue::M(b)) => {
            a.len() == b.len()
                && a.iter()
                    .all(|(name, x)| b.get(name).is_some_and(|y| values_equal(x, y)))
        }
        _ => left == right,
    }
}

fn same_set<T>(a: &[T], b: &[T], eq: impl Fn(&T, &T) -> bool) -> bool {
    a.len() == b.len() && a.iter().all(|x| b.iter().any(|y| eq(x, y)))
}

/// A number's value as a canonical string (no sign on zero, no leading or trailing zeros,
/// exponent folded in), so `5`, `5.0` and `0.5E1` compare equal as in DynamoDB.
fn canonical_number(text: &str) -> Option<String> {
    let text = text.trim();
    let (negative, unsigned) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let (mantissa, exponent) = match unsigned.split_once(['e', 'E']) {
        Some((mantissa, exponent)) => (mantissa, exponent.parse::<i64>().ok()?),
        None => (unsigned, 0),
    };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if whole.is_empty() && fraction.is_empty()
        || !whole
            .chars()
            .chain(fraction.chars())
            .all(|c| c.is_ascii_digit())
    {
        return None;
    }
    let digits = format!("{whole}{fraction}");
    let point = i64::try_from(whole.len()).ok()? + exponent;
    let leading = digits.len() - digits.trim_start_matches('0').len();
    let significant = digits.trim_matches('0');
    if significant.is_empty() {
        return Some("0".to_string());
    }
    // The decimal point's position relative to the first significant digit identifies the
    // value together with those digits.
    let point = point - i64::try_from(leading).ok()?;
    Some(format!(
        "{}{significant}e{point}",
        if negative { "-" } else { "" }
    ))
}

/// The item after applying `update` to `current` (the stored item, expired or not, as
/// DynamoDB updates an expired item until it deletes it), or to a fresh item with `key`.
pub(crate) fn apply_update(
    key: &Key,
    current: Option<Item>,
    update: &Update,
) -> Result<Item, StoreError> {
    let mut item = current.unwrap_or_else(|| {
        Item::from(HashMap::from([
            (PARTITION_KEY.to_string(), AttributeValue::S(key.pk.clone())),
            (SORT_KEY.to_string(), AttributeValue::S(key.sk.clone())),
        ]))
    });
    for action in &update.actions {
        match action {
            UpdateAction::Set(name, value) => {
                item.insert(name.clone(), value.clone());
            }
            UpdateAction::Remove(name) => {
                item.remove(name);
            }
            UpdateAction::Add(name, delta) => {
                let sum = match item.get(name) {
                    None => i128::from(*delta),
                    Some(AttributeValue::N(number)) => integer(number)? + i128::from(*delta),
                    Some(_) => {
                        return Err(StoreError::invalid(format!(
                            "ADD needs a number, attribute {name} is another type"
                        )));
                    }
                };
                item.insert(name.clone(), AttributeValue::N(sum.to_string()));
            }
        }
    }
    Ok(item)
}

/// The embedded backend adds integers only (billing counts in cents and units); DynamoDB
/// would also add decimals, which nothing in this system stores.
fn integer(number: &str) -> Result<i128, StoreError> {
    number.trim().parse::<i128>().map_err(|_| {
        StoreError::invalid(format!(
            "the embedded backend adds integers only, found {number}"
        ))
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn item(pairs: &[(&str, AttributeValue)]) -> Item {
        Item::from(
            pairs
                .iter()
                .map(|(name, value)| (name.to_string(), value.clone()))
                .collect::<HashMap<_, _>>(),
        )
    }

    #[test]
    fn numbers_compare_by_value() {
        for (a, b) in [
            ("5", "5.0"),
            ("0.5E1", "5"),
            ("-0", "0"),
            ("00120", "1.2e2"),
        ] {
            assert_eq!(canonical_number(a), canonical_number(b), "{a} = {b}");
        }
        assert_ne!(canonical_number("5"), canonical_number("50"));
        assert_ne!(canonical_number("5"), canonical_number("-5"));
        assert_eq!(canonical_number("x"), None);
    }

    #[test]
    fn conditions_see_only_live_items() {
        let current = item(&[("version", AttributeValue::N("3".into()))]);
        assert!(condition_holds(&Condition::NotExists, None));
        assert!(!condition_holds(&Condition::NotExists, Some(&current)));
        assert!(condition_holds(
            &Condition::VersionEquals(3),
            Some(&current)
        ));
        assert!(!condition_holds(
            &Condition::VersionEquals(2),
            Some(&current)
        ));
        assert!(!condition_holds(&Condition::VersionEquals(3), None));
        assert!(!condition_holds(
            &Condition::AttributeEquals("version".into(), AttributeValue::S("3".into())),
            Some(&current)
        ));
    }

    #[test]
    fn add_starts_from_zero_and_refuses_other_types() {
        let key = Key::new("p", "s");
        let created = apply_update(&key, None, &Update::new().add("n", 5)).unwrap();
        assert_eq!(created.get("n"), Some(&AttributeValue::N("5".into())));
        assert_eq!(created.get("pk"), Some(&AttributeValue::S("p".into())));
        let added = apply_update(&key, Some(created), &Update::new().add("n", -7)).unwrap();
        assert_eq!(added.get("n"), Some(&AttributeValue::N("-2".into())));
        let text = item(&[("n", AttributeValue::S("x".into()))]);
        assert!(apply_update(&key, Some(text), &Update::new().add("n", 1)).is_err());
    }
}
