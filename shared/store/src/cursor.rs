//! Query cursors. A cursor names the last item a page returned by its key attributes in the
//! queried index (the table key, plus the index key for a GSI) — exactly DynamoDB's
//! `ExclusiveStartKey` — so both backends hand out and accept the same opaque string: hex of a
//! small JSON object. Hex keeps it safe in URLs without another dependency.

use crate::error::StoreError;
use crate::limits::{PARTITION_KEY_MAX_BYTES, SORT_KEY_MAX_BYTES};
use crate::model::{Index, Query};
use crate::schema::{self, PARTITION_KEY, SORT_KEY};
use crate::validate::SortRange;
use serde_dynamo::{AttributeValue, Item};
use std::collections::BTreeMap;

/// The key attributes that position a query on `index`, as name → string value.
pub(crate) type CursorKey = BTreeMap<String, String>;

fn cursor_attributes(index: Index) -> Vec<&'static str> {
    let mut names = vec![PARTITION_KEY, SORT_KEY];
    if let Some(gsi) = schema::gsi(index) {
        names.push(gsi.partition_key);
        names.push(gsi.sort_key);
    }
    names
}

/// The cursor position of `item` in `index`; `None` if it lacks a key attribute (it could not
/// have been returned by a query of that index).
pub(crate) fn key_of(index: Index, item: &Item) -> Option<CursorKey> {
    cursor_attributes(index)
        .into_iter()
        .map(|name| match item.get(name) {
            Some(AttributeValue::S(value)) => Some((name.to_string(), value.clone())),
            _ => None,
        })
        .collect()
}

pub(crate) fn encode(key: &CursorKey) -> String {
    let json = serde_json::to_vec(key).expect("a map of strings always serializes to JSON");
    hex::encode(json)
}

/// Decodes a cursor and checks it belongs to a query of `partition` on `index`.
pub(crate) fn decode(index: Index, partition: &str, cursor: &str) -> Result<CursorKey, StoreError> {
    let bytes = hex::decode(cursor).map_err(|_| StoreError::InvalidCursor)?;
    let key: CursorKey = serde_json::from_slice(&bytes).map_err(|_| StoreError::InvalidCursor)?;
    let expected = cursor_attributes(index);
    let has_exactly_expected =
        key.len() == expected.len() && expected.iter().all(|name| key.contains_key(*name));
    let (partition_attribute, _) = schema::key_attributes(index);
    if !has_exactly_expected || key.get(partition_attribute).map(String::as_str) != Some(partition)
    {
        return Err(StoreError::InvalidCursor);
    }
    Ok(key)
}

/// Decodes the cursor of `query` and checks it could position that very query: every key value
/// non-empty and within the key limits, the index's sort key inside the query's sort range.
/// DynamoDB refuses any other `ExclusiveStartKey` with a ValidationException (which would be a
/// 5xx for a cursor a client sent); both backends refuse it the same way, as `InvalidCursor`.
pub(crate) fn decode_for(query: &Query, cursor: &str) -> Result<CursorKey, StoreError> {
    let key = decode(query.index, &query.partition, cursor)?;
    let sort_attributes = [SORT_KEY, schema::key_attributes(query.index).1];
    let values_fit = key.iter().all(|(name, value)| {
        let max_bytes = if sort_attributes.contains(&name.as_str()) {
            SORT_KEY_MAX_BYTES
        } else {
            PARTITION_KEY_MAX_BYTES
        };
        !value.is_empty() && value.len() <= max_bytes
    });
    let (_, sort_attribute) = schema::key_attributes(query.index);
    let in_range = key
        .get(sort_attribute)
        .is_some_and(|sort| SortRange::of(&query.sort).contains(sort));
    if values_fit && in_range {
        Ok(key)
    } else {
        Err(StoreError::InvalidCursor)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::collections::HashMap;

    fn gsi_item() -> Item {
        Item::from(HashMap::from([
            ("pk".to_string(), AttributeValue::S("p".into())),
            ("sk".to_string(), AttributeValue::S("s".into())),
            ("gsi1pk".to_string(), AttributeValue::S("g".into())),
            (
                "gsi1sk".to_string(),
                AttributeValue::S("\u{e9}t\u{e9}".into()),
            ),
            ("other".to_string(), AttributeValue::S("x".into())),
        ]))
    }

    #[test]
    fn a_cursor_round_trips_for_its_own_query_only() {
        let key = key_of(Index::Gsi1, &gsi_item()).unwrap();
        assert_eq!(key.len(), 4);
        let cursor = encode(&key);
        assert_eq!(decode(Index::Gsi1, "g", &cursor).unwrap(), key);
        assert!(matches!(
            decode(Index::Gsi1, "other", &cursor),
            Err(StoreError::InvalidCursor)
        ));
        assert!(matches!(
            decode(Index::Primary, "p", &cursor),
            Err(StoreError::InvalidCursor)
        ));
        assert!(matches!(
            decode(Index::Gsi1, "g", "zz"),
            Err(StoreError::InvalidCursor)
        ));
    }

    #[test]
    fn a_cursor_must_fit_the_query_it_positions() {
        use crate::model::SortKeyCondition;
        let cursor = |sk: &str| {
            encode(&CursorKey::from([
                ("pk".into(), "p".into()),
                ("sk".into(), sk.into()),
            ]))
        };
        let query = Query::partition(Index::Primary, "p", 10)
            .sort(SortKeyCondition::BeginsWith("A#".into()));
        assert!(decode_for(&query, &cursor("A#1")).is_ok());
        // DynamoDB refuses these as ValidationExceptions; both backends call them invalid.
        for refused in [
            cursor(""),
            cursor("B#1"),
            cursor(&"A".repeat(SORT_KEY_MAX_BYTES + 1)),
        ] {
            assert!(matches!(
                decode_for(&query, &refused),
                Err(StoreError::InvalidCursor)
            ));
        }
    }

    #[test]
    fn an_item_outside_the_index_has_no_position_in_it() {
        assert!(key_of(Index::Gsi2, &gsi_item()).is_none());
    }
}
