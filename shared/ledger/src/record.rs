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
        key: format!("{} / {}", key.pk, key.sk),
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
    serde_dynamo::from_item(item.clone())
        .map_err(|e| LedgerError::corrupt(entity_type, &item, e.to_string()))
}

/// The item's version: 0 when it has none yet (a counter never bumped), an error when the
/// attribute is there but not a version.
pub(crate) fn version_of(entity_type: &'static str, item: &Item) -> Result<u64> {
    Ok(number_attribute(entity_type, item, VERSION_ATTRIBUTE)?
        .map(|version| {
            u64::try_from(version).map_err(|_| {
                LedgerError::corrupt(entity_type, item, format!("negative version {version}"))
            })
        })
        .transpose()?
        .unwrap_or(0))
}

pub(crate) fn versioned<T: DeserializeOwned>(
    entity_type: &'static str,
    item: Item,
) -> Result<Versioned<T>> {
    let version = version_of(entity_type, &item)?;
    Ok(Versioned {
        value: from_item(entity_type, item)?,
        version,
    })
}

/// A string attribute: `None` when absent, an error when it is there but not a string.
pub(crate) fn string_attribute(
    entity_type: &'static str,
    item: &Item,
    name: &str,
) -> Result<Option<String>> {
    match item.get(name) {
        None => Ok(None),
        Some(AttributeValue::S(text)) => Ok(Some(text.clone())),
        Some(other) => Err(LedgerError::corrupt(
            entity_type,
            item,
            format!("{name} is not a string: {other:?}"),
        )),
    }
}

/// A number attribute: `None` when absent, an error when it is there but not an integer.
pub(crate) fn number_attribute(
    entity_type: &'static str,
    item: &Item,
    name: &str,
) -> Result<Option<i64>> {
    match item.get(name) {
        None => Ok(None),
        Some(AttributeValue::N(text)) => text.parse().map(Some).map_err(|_| {
            LedgerError::corrupt(
                entity_type,
                item,
                format!("{name} is not an integer: {text:?}"),
            )
        }),
        Some(other) => Err(LedgerError::corrupt(
            entity_type,
            item,
            format!("{name} is not a number: {other:?}"),
        )),
    }
}

/// An attribute the item must have.
pub(crate) fn required<T>(
    entity_type: &'static str,
    item: &Item,
    name: &str,
    value: Option<T>,
) -> Result<T> {
    value.ok_or_else(|| LedgerError::corrupt(entity_type, item, format!("{name} is missing")))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn item(attributes: &[(&str, AttributeValue)]) -> Item {
        let mut item = Item::from(std::collections::HashMap::<String, AttributeValue>::new());
        item.insert(PARTITION_KEY.into(), s("USAGE#usr_1#api_calls"));
        item.insert(SORT_KEY.into(), s("2027-01-01T00:00:00Z"));
        for (name, value) in attributes {
            item.insert((*name).into(), value.clone());
        }
        item
    }

    #[test]
    fn a_number_that_does_not_decode_is_corruption_naming_the_key_never_zero() {
        for bad in [
            AttributeValue::N("12.5".into()),
            AttributeValue::N("lots".into()),
            AttributeValue::S("12".into()),
        ] {
            let error = number_attribute("usage", &item(&[("quantity", bad)]), "quantity")
                .unwrap_err()
                .to_string();
            assert!(
                error.contains("USAGE#usr_1#api_calls / 2027-01-01T00:00:00Z")
                    && error.contains("quantity"),
                "{error}"
            );
        }
        assert_eq!(
            number_attribute("usage", &item(&[("quantity", n(7))]), "quantity").unwrap(),
            Some(7)
        );
        assert_eq!(
            number_attribute("usage", &item(&[]), "quantity").unwrap(),
            None
        );
        assert!(version_of("user", &item(&[(VERSION_ATTRIBUTE, s("3"))])).is_err());
        assert!(version_of("user", &item(&[(VERSION_ATTRIBUTE, n(-1))])).is_err());
        assert_eq!(version_of("user", &item(&[])).unwrap(), 0);
    }
}
