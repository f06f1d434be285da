//! Request validation shared by both backends, so the embedded backend refuses exactly what
//! DynamoDB would refuse (item size, key types, transaction shape) and tests catch it locally.

use crate::error::StoreError;
use crate::limits::{
    ITEM_SIZE_MAX_BYTES, PAGE_SIZE_MAX, PARTITION_KEY_MAX_BYTES, SORT_KEY_MAX_BYTES,
    TRANSACT_ITEMS_MAX, TRANSACTION_SIZE_MAX_BYTES,
};
use crate::model::{Key, Query, SortKeyCondition, TransactItem, Update, UpdateAction};
use crate::schema::{self, PARTITION_KEY, SORT_KEY};
use serde_dynamo::{AttributeValue, Item};
use std::collections::HashSet;

/// DynamoDB's item size: UTF-8 attribute names plus value sizes (docs: "Item sizes and
/// formats"). Numbers are about one byte per two significant digits plus one.
pub fn item_size_bytes(item: &Item) -> usize {
    item.iter()
        .map(|(name, value)| name.len() + value_size_bytes(value))
        .sum()
}

fn value_size_bytes(value: &AttributeValue) -> usize {
    match value {
        AttributeValue::S(text) => text.len(),
        AttributeValue::N(number) => number_size_bytes(number),
        AttributeValue::B(bytes) => bytes.len(),
        AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
        AttributeValue::Ss(texts) => texts.iter().map(String::len).sum(),
        AttributeValue::Ns(numbers) => numbers.iter().map(|n| number_size_bytes(n)).sum(),
        AttributeValue::Bs(blobs) => blobs.iter().map(Vec::len).sum(),
        AttributeValue::L(values) => {
            3 + values
                .iter()
                .map(|v| 1 + value_size_bytes(v))
                .sum::<usize>()
        }
        AttributeValue::M(entries) => {
            3 + entries
                .iter()
                .map(|(name, v)| 1 + name.len() + value_size_bytes(v))
                .sum::<usize>()
        }
    }
}

fn number_size_bytes(number: &str) -> usize {
    let digits = number.chars().filter(char::is_ascii_digit).count();
    digits.div_ceil(2) + 1
}

pub(crate) fn validate_key(key: &Key) -> Result<(), StoreError> {
    validate_key_string(PARTITION_KEY, &key.pk, PARTITION_KEY_MAX_BYTES)?;
    validate_key_string(SORT_KEY, &key.sk, SORT_KEY_MAX_BYTES)
}

fn validate_key_string(name: &str, value: &str, max_bytes: usize) -> Result<(), StoreError> {
    if value.is_empty() {
        return Err(StoreError::invalid(format!(
            "key attribute {name} is empty"
        )));
    }
    if value.len() > max_bytes {
        return Err(StoreError::invalid(format!(
            "key attribute {name} is {} bytes, more than {max_bytes}",
            value.len()
        )));
    }
    Ok(())
}

/// An attribute that is a key of the table or of a GSI must be a non-empty string.
fn validate_key_attribute_value(name: &str, value: &AttributeValue) -> Result<(), StoreError> {
    match value {
        AttributeValue::S(text) if !text.is_empty() => Ok(()),
        _ => Err(StoreError::invalid(format!(
            "key attribute {name} must be a non-empty string"
        ))),
    }
}

pub(crate) fn validate_item(item: &Item) -> Result<Key, StoreError> {
    let key = Key::of_item(item)
        .ok_or_else(|| StoreError::invalid("an item needs string attributes pk and sk"))?;
    validate_key(&key)?;
    for (name, value) in item.iter() {
        if schema::is_key_attribute(name) {
            validate_key_attribute_value(name, value)?;
        }
    }
    let size_bytes = item_size_bytes(item);
    if size_bytes > ITEM_SIZE_MAX_BYTES {
        return Err(StoreError::ItemTooLarge {
            size_bytes,
            max_bytes: ITEM_SIZE_MAX_BYTES,
        });
    }
    Ok(key)
}

pub(crate) fn validate_update(update: &Update) -> Result<(), StoreError> {
    if update.actions.is_empty() {
        return Err(StoreError::invalid("an update needs at least one action"));
    }
    let mut touched = HashSet::new();
    for action in &update.actions {
        let name = match action {
            UpdateAction::Set(name, _)
            | UpdateAction::Remove(name)
            | UpdateAction::Add(name, _) => name,
        };
        if name.is_empty() {
            return Err(StoreError::invalid("an attribute name is empty"));
        }
        if name == PARTITION_KEY || name == SORT_KEY {
            return Err(StoreError::invalid(format!(
                "key attribute {name} cannot be updated"
            )));
        }
        if !touched.insert(name.as_str()) {
            return Err(StoreError::invalid(format!(
                "attribute {name} appears twice in one update"
            )));
        }
        match action {
            UpdateAction::Set(name, value) if schema::is_key_attribute(name) => {
                validate_key_attribute_value(name, value)?;
            }
            UpdateAction::Add(name, _) if schema::is_key_attribute(name) => {
                return Err(StoreError::invalid(format!(
                    "key attribute {name} is a string and cannot be added to"
                )));
            }
            _ => {}
        }
    }
    Ok(())
}

/// Checks a transaction's shape; the per-item checks happen as each action is validated.
pub(crate) fn validate_transaction(items: &[TransactItem]) -> Result<(), StoreError> {
    if items.len() > TRANSACT_ITEMS_MAX {
        return Err(StoreError::TooManyTransactItems {
            count: items.len(),
            max: TRANSACT_ITEMS_MAX,
        });
    }
    if items.is_empty() {
        return Err(StoreError::invalid(
            "a transaction needs at least one action",
        ));
    }
    let mut keys = HashSet::with_capacity(items.len());
    let mut total_bytes = 0usize;
    for action in items {
        let key = match action {
            TransactItem::Put { item, .. } => {
                let key = validate_item(item)?;
                total_bytes += item_size_bytes(item);
                key
            }
            TransactItem::Update { key, update, .. } => {
                validate_key(key)?;
                validate_update(update)?;
                key.clone()
            }
            TransactItem::Delete { key, .. } | TransactItem::ConditionCheck { key, .. } => {
                validate_key(key)?;
                key.clone()
            }
        };
        if !keys.insert(key) {
            return Err(StoreError::invalid(
                "a transaction cannot touch the same item twice",
            ));
        }
    }
    if total_bytes > TRANSACTION_SIZE_MAX_BYTES {
        return Err(StoreError::invalid(format!(
            "the transaction is {total_bytes} bytes, more than {TRANSACTION_SIZE_MAX_BYTES}"
        )));
    }
    Ok(())
}

pub(crate) fn validate_query(query: &Query) -> Result<(), StoreError> {
    if query.limit == 0 || query.limit > PAGE_SIZE_MAX {
        return Err(StoreError::invalid(format!(
            "a query limit must be 1..={PAGE_SIZE_MAX}, got {}",
            query.limit
        )));
    }
    if query.partition.is_empty() {
        return Err(StoreError::invalid("a query needs a non-empty partition"));
    }
    if let SortKeyCondition::Between(low, high) = &query.sort
        && low > high
    {
        return Err(StoreError::invalid(
            "BETWEEN needs its lower bound at or below its upper bound",
        ));
    }
    Ok(())
}

/// A sort-key condition as a half-open range of strings `[low, high)` (`high = None`: no upper
/// bound). Strings order by UTF-8 bytes, as DynamoDB orders string keys; `s + "\0"` is the
/// smallest string above `s`.
pub(crate) struct SortRange {
    pub low: String,
    pub high: Option<String>,
}

impl SortRange {
    pub(crate) fn of(condition: &SortKeyCondition) -> Self {
        let just_above = |value: &str| format!("{value}\u{0}");
        let (low, high) = match condition {
            SortKeyCondition::All => (String::new(), None),
            SortKeyCondition::Equals(value) => (value.clone(), Some(just_above(value))),
            SortKeyCondition::BeginsWith(prefix) => (prefix.clone(), prefix_successor(prefix)),
            SortKeyCondition::Between(low, high) => (low.clone(), Some(just_above(high))),
            SortKeyCondition::LessThan(value) => (String::new(), Some(value.clone())),
            SortKeyCondition::LessOrEqual(value) => (String::new(), Some(just_above(value))),
            SortKeyCondition::GreaterThan(value) => (just_above(value), None),
            SortKeyCondition::GreaterOrEqual(value) => (value.clone(), None),
        };
        Self { low, high }
    }

    pub(crate) fn contains(&self, value: &str) -> bool {
        value >= self.low.as_str() && self.high.as_deref().is_none_or(|high| value < high)
    }
}

/// The smallest string greater than every string that starts with `prefix`, or `None` when
/// there is none (a prefix of only `char::MAX`). Code-point order is UTF-8 byte order.
fn prefix_successor(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let next = match u32::from(last) + 1 {
            0xD800 => Some('\u{E000}'),
            code => char::from_u32(code),
        };
        if let Some(next) = next {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::collections::HashMap;

    fn item(pairs: &[(&str, AttributeValue)]) -> Item {
        Item::from(
            pairs
                .iter()
                .map(|(name, value)| (name.to_string(), value.clone()))
                .collect::<HashMap<_, _>>(),
        )
    }

    #[test]
    fn a_prefix_range_holds_exactly_the_strings_with_that_prefix() {
        let range = SortRange::of(&SortKeyCondition::BeginsWith("inv#".into()));
        assert!(range.contains("inv#"));
        assert!(range.contains("inv#2026-01"));
        assert!(!range.contains("inv"));
        assert!(!range.contains("inv$"));
        assert!(!range.contains("invoice"));
        assert_eq!(prefix_successor("a\u{D7FF}").as_deref(), Some("a\u{E000}"));
        assert_eq!(prefix_successor("a\u{10FFFF}").as_deref(), Some("b"));
        assert_eq!(prefix_successor("\u{10FFFF}"), None);
    }

    #[test]
    fn inclusive_and_exclusive_bounds_match_dynamodb_operators() {
        let between = SortRange::of(&SortKeyCondition::Between("b".into(), "d".into()));
        assert!(between.contains("b") && between.contains("d") && !between.contains("d0"));
        let greater = SortRange::of(&SortKeyCondition::GreaterThan("b".into()));
        assert!(!greater.contains("b") && greater.contains("b\u{0}"));
        let at_most = SortRange::of(&SortKeyCondition::LessOrEqual("b".into()));
        assert!(at_most.contains("b") && !at_most.contains("b\u{0}"));
    }

    #[test]
    fn items_need_string_keys_and_a_bounded_size() {
        let ok = item(&[
            ("pk", AttributeValue::S("p".into())),
            ("sk", AttributeValue::S("s".into())),
        ]);
        assert_eq!(validate_item(&ok).unwrap(), Key::new("p", "s"));
        let numeric_gsi_key = item(&[
            ("pk", AttributeValue::S("p".into())),
            ("sk", AttributeValue::S("s".into())),
            ("gsi1pk", AttributeValue::N("1".into())),
        ]);
        assert!(matches!(
            validate_item(&numeric_gsi_key),
            Err(StoreError::InvalidRequest(_))
        ));
        let too_large = item(&[
            ("pk", AttributeValue::S("p".into())),
            ("sk", AttributeValue::S("s".into())),
            ("blob", AttributeValue::B(vec![0; ITEM_SIZE_MAX_BYTES])),
        ]);
        assert!(matches!(
            validate_item(&too_large),
            Err(StoreError::ItemTooLarge { .. })
        ));
    }

    #[test]
    fn updates_cannot_touch_keys_or_repeat_an_attribute() {
        assert!(validate_update(&Update::new().set("pk", AttributeValue::S("x".into()))).is_err());
        assert!(validate_update(&Update::new().add("n", 1).remove("n")).is_err());
        assert!(validate_update(&Update::new().add("n", 1).remove("m")).is_ok());
    }
}
