//! Entities ↔ items: an entity's fields become attributes (serde_dynamo), next to its key,
//! its type, its version and the GSI keys that index it.

use billing_store::schema::{PARTITION_KEY, SORT_KEY, VERSION_ATTRIBUTE};
use billing_store::{AttributeValue, Item, Key};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{LedgerError, Result};

/// Attribute naming the kind of entity an item holds (`user`, `invoice`…).
pub const TYPE_ATTRIBUTE: &str = "type";

/// An entity as read, with the version its next write must name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versioned<T> {
    pub value: T,
    pub version: u64,
}

pub(crate) fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

pub(crate) fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// The item of `entity` under `key`, with its type, version and extra (index) attributes.
pub(crate) fn to_item<T: Serialize>(
    entity_type: &'static str,
    entity: &T,
    key: &Key,
    version: Option<u64>,
    extra: Vec<(&'static str, AttributeValue)>,
) -> Result<Item> {
    let mut item: Item = serde_dynamo::to_item(entity).map_err(|e| LedgerError::Corrupt {
        entity: entity_type,
        message: e.to_string(),
    })?;
    item.insert(PARTITION_KEY.to_owned(), s(&key.pk));
    item.insert(SORT_KEY.to_owned(), s(&key.sk));
    item.insert(TYPE_ATTRIBUTE.to_owned(), s(entity_type));
    if let Some(version) = version {
        item.insert(VERSION_ATTRIBUTE.to_owned(), n(version));
    }
    for (name, value) in extra {
        item.insert(name.to_owned(), value);
    }
    Ok(item)
}

/// The entity in `item`; the key, type, version and index attributes are ignored.
pub(crate) fn from_item<T: DeserializeOwned>(entity_type: &'static str, item: Item) -> Result<T> {
    serde_dynamo::from_item(item).map_err(|e| LedgerError::Corrupt {
        entity: entity_type,
        message: e.to_string(),
    })
}

pub(crate) fn version_of(item: &Item) -> u64 {
    match item.get(VERSION_ATTRIBUTE) {
        Some(AttributeValue::N(text)) => text.parse().unwrap_or(0),
        _ => 0,
    }
}

pub(crate) fn versioned<T: DeserializeOwned>(
    entity_type: &'static str,
    item: Item,
) -> Result<Versioned<T>> {
    let version = version_of(&item);
    Ok(Versioned {
        value: from_item(entity_type, item)?,
        version,
    })
}

pub(crate) fn string_attribute(item: &Item, name: &str) -> Option<String> {
    match item.get(name) {
        Some(AttributeValue::S(text)) => Some(text.clone()),
        _ => None,
    }
}

pub(crate) fn number_attribute(item: &Item, name: &str) -> Option<i64> {
    match item.get(name) {
        Some(AttributeValue::N(text)) => text.parse().ok(),
        _ => None,
    }
}
