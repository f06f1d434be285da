//! The one definition of the table's shape. The DynamoDB backend creates tables from it, the
//! embedded backend indexes by it, and [`cloudformation_properties`] renders it for checking
//! the SAM template's `AWS::DynamoDB::Table` against the code.

use crate::model::Index;
use serde_json::{Value, json};

pub const PARTITION_KEY: &str = "pk";
pub const SORT_KEY: &str = "sk";
/// Numeric attribute read by `Condition::VersionEquals`.
pub const VERSION_ATTRIBUTE: &str = "version";
/// Epoch seconds after which an item is gone (DynamoDB TTL attribute).
pub const TTL_ATTRIBUTE: &str = "expires_at";
pub const BILLING_MODE: &str = "PAY_PER_REQUEST";
/// The outbox publisher reads the stream; it needs both images to see transitions.
pub const STREAM_VIEW_TYPE: &str = "NEW_AND_OLD_IMAGES";

/// A global secondary index: string hash and range keys, all attributes projected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GsiSchema {
    pub index: Index,
    pub name: &'static str,
    pub partition_key: &'static str,
    pub sort_key: &'static str,
}

/// Generic overloaded GSIs: each entity decides what it writes into `gsiNpk` / `gsiNsk`; an
/// item without an index's key attributes is simply not in that index.
pub const GSI_COUNT: usize = 5;

pub const GSIS: [GsiSchema; GSI_COUNT] = [
    GsiSchema {
        index: Index::Gsi1,
        name: "gsi1",
        partition_key: "gsi1pk",
        sort_key: "gsi1sk",
    },
    GsiSchema {
        index: Index::Gsi2,
        name: "gsi2",
        partition_key: "gsi2pk",
        sort_key: "gsi2sk",
    },
    GsiSchema {
        index: Index::Gsi3,
        name: "gsi3",
        partition_key: "gsi3pk",
        sort_key: "gsi3sk",
    },
    GsiSchema {
        index: Index::Gsi4,
        name: "gsi4",
        partition_key: "gsi4pk",
        sort_key: "gsi4sk",
    },
    GsiSchema {
        index: Index::Gsi5,
        name: "gsi5",
        partition_key: "gsi5pk",
        sort_key: "gsi5sk",
    },
];

/// The key attribute names of `index`: `(partition, sort)`.
pub fn key_attributes(index: Index) -> (&'static str, &'static str) {
    match gsi(index) {
        Some(gsi) => (gsi.partition_key, gsi.sort_key),
        None => (PARTITION_KEY, SORT_KEY),
    }
}

/// The GSI definition of `index`, `None` for the primary index.
pub fn gsi(index: Index) -> Option<&'static GsiSchema> {
    GSIS.iter().find(|gsi| gsi.index == index)
}

/// Whether `name` is a key attribute of the table or of any GSI (these must be strings).
pub fn is_key_attribute(name: &str) -> bool {
    name == PARTITION_KEY
        || name == SORT_KEY
        || GSIS
            .iter()
            .any(|gsi| gsi.partition_key == name || gsi.sort_key == name)
}

/// Every key attribute of the table and its GSIs, in a stable order.
pub fn all_key_attributes() -> Vec<&'static str> {
    let mut names = vec![PARTITION_KEY, SORT_KEY];
    for gsi in &GSIS {
        names.push(gsi.partition_key);
        names.push(gsi.sort_key);
    }
    names
}

/// The table as the `Properties` of a CloudFormation `AWS::DynamoDB::Table` (without
/// `TableName`, which the template owns).
pub fn cloudformation_properties() -> Value {
    let attribute_definitions: Vec<Value> = all_key_attributes()
        .into_iter()
        .map(|name| json!({ "AttributeName": name, "AttributeType": "S" }))
        .collect();
    let global_secondary_indexes: Vec<Value> = GSIS
        .iter()
        .map(|gsi| {
            json!({
                "IndexName": gsi.name,
                "KeySchema": [
                    { "AttributeName": gsi.partition_key, "KeyType": "HASH" },
                    { "AttributeName": gsi.sort_key, "KeyType": "RANGE" }
                ],
                "Projection": { "ProjectionType": "ALL" }
            })
        })
        .collect();
    json!({
        "BillingMode": BILLING_MODE,
        "AttributeDefinitions": attribute_definitions,
        "KeySchema": [
            { "AttributeName": PARTITION_KEY, "KeyType": "HASH" },
            { "AttributeName": SORT_KEY, "KeyType": "RANGE" }
        ],
        "GlobalSecondaryIndexes": global_secondary_indexes,
        "TimeToLiveSpecification": { "AttributeName": TTL_ATTRIBUTE, "Enabled": true },
        "StreamSpecification": { "StreamViewType": STREAM_VIEW_TYPE }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_gsi_is_declared_once_with_string_keys() {
        let properties = cloudformation_properties();
        let definitions = properties["AttributeDefinitions"]
            .as_array()
            .expect("definitions are an array");
        assert_eq!(definitions.len(), 2 + 2 * GSIS.len());
        assert!(definitions.iter().all(|d| d["AttributeType"] == "S"));
        let names: Vec<&str> = properties["GlobalSecondaryIndexes"]
            .as_array()
            .expect("GSIs are an array")
            .iter()
            .filter_map(|gsi| gsi["IndexName"].as_str())
            .collect();
        assert_eq!(names, ["gsi1", "gsi2", "gsi3", "gsi4", "gsi5"]);
        assert_eq!(
            properties["TimeToLiveSpecification"]["AttributeName"],
            "expires_at"
        );
        assert_eq!(
            properties["StreamSpecification"]["StreamViewType"],
            "NEW_AND_OLD_IMAGES"
        );
    }

    #[test]
    fn key_attributes_name_the_index_keys() {
        assert_eq!(key_attributes(Index::Primary), ("pk", "sk"));
        assert_eq!(key_attributes(Index::Gsi2), ("gsi2pk", "gsi2sk"));
        assert!(is_key_attribute("gsi3sk"));
        assert!(!is_key_attribute("version"));
    }
}
