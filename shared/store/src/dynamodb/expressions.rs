//! The port's typed conditions, updates and key conditions rendered as DynamoDB expressions,
//! with placeholder names (`#n0`…) and values (`:v0`…): attribute names never collide with
//! reserved words and values are never spliced into expression text.

use crate::model::{Condition, Query, SortKeyCondition, Update, UpdateAction};
use crate::schema::{self, PARTITION_KEY, TTL_ATTRIBUTE, VERSION_ATTRIBUTE};
use aws_sdk_dynamodb::types as sdk;
use serde_dynamo::AttributeValue;
use std::collections::HashMap;

type NamePlaceholders = Option<HashMap<String, String>>;
type ValuePlaceholders = Option<HashMap<String, sdk::AttributeValue>>;

/// Placeholder names and values of one request's expressions.
#[derive(Default)]
pub(super) struct Placeholders {
    names: HashMap<String, String>,
    values: HashMap<String, sdk::AttributeValue>,
}

impl Placeholders {
    pub(super) fn name(&mut self, attribute: &str) -> String {
        if let Some((placeholder, _)) = self.names.iter().find(|(_, name)| *name == attribute) {
            return placeholder.clone();
        }
        let placeholder = format!("#n{}", self.names.len());
        self.names
            .insert(placeholder.clone(), attribute.to_string());
        placeholder
    }

    pub(super) fn value(&mut self, value: AttributeValue) -> String {
        let placeholder = format!(":v{}", self.values.len());
        self.values.insert(placeholder.clone(), value.into());
        placeholder
    }

    /// DynamoDB rejects empty placeholder maps, so absent means `None`.
    pub(super) fn into_parts(self) -> (NamePlaceholders, ValuePlaceholders) {
        let names = (!self.names.is_empty()).then_some(self.names);
        let values = (!self.values.is_empty()).then_some(self.values);
        (names, values)
    }

    /// The item has no `expires_at`, or one that is not a number, or one still in the future.
    pub(super) fn live(&mut self, now: i64) -> String {
        let ttl = self.name(TTL_ATTRIBUTE);
        let number_type = self.value(AttributeValue::S("N".to_string()));
        let now = self.value(AttributeValue::N(now.to_string()));
        format!(
            "(attribute_not_exists({ttl}) OR NOT attribute_type({ttl}, {number_type}) OR {ttl} > {now})"
        )
    }

    /// The condition expression for `condition`, `None` for `Always`.
    pub(super) fn condition(&mut self, condition: &Condition, now: i64) -> Option<String> {
        match condition {
            Condition::Always => None,
            Condition::NotExists => {
                let pk = self.name(PARTITION_KEY);
                let live = self.live(now);
                Some(format!("(attribute_not_exists({pk}) OR NOT {live})"))
            }
            Condition::Exists => {
                let pk = self.name(PARTITION_KEY);
                let live = self.live(now);
                Some(format!("(attribute_exists({pk}) AND {live})"))
            }
            Condition::VersionEquals(version) => {
                let name = self.name(VERSION_ATTRIBUTE);
                let value = self.value(AttributeValue::N(version.to_string()));
                let live = self.live(now);
                Some(format!("({name} = {value} AND {live})"))
            }
            Condition::AttributeEquals(attribute, expected) => {
                let name = self.name(attribute);
                let value = self.value(expected.clone());
                let live = self.live(now);
                Some(format!("({name} = {value} AND {live})"))
            }
        }
    }

    pub(super) fn update(&mut self, update: &Update) -> String {
        let (mut set, mut remove, mut add) = (Vec::new(), Vec::new(), Vec::new());
        for action in &update.actions {
            match action {
                UpdateAction::Set(attribute, value) => {
                    let name = self.name(attribute);
                    let value = self.value(value.clone());
                    set.push(format!("{name} = {value}"));
                }
                UpdateAction::Remove(attribute) => remove.push(self.name(attribute)),
                UpdateAction::Add(attribute, delta) => {
                    let name = self.name(attribute);
                    let value = self.value(AttributeValue::N(delta.to_string()));
                    add.push(format!("{name} {value}"));
                }
            }
        }
        let mut clauses = Vec::with_capacity(3);
        for (keyword, parts) in [("SET", set), ("REMOVE", remove), ("ADD", add)] {
            if !parts.is_empty() {
                clauses.push(format!("{keyword} {}", parts.join(", ")));
            }
        }
        clauses.join(" ")
    }

    pub(super) fn key_condition(&mut self, query: &Query) -> String {
        let (partition_attribute, sort_attribute) = schema::key_attributes(query.index);
        let partition_name = self.name(partition_attribute);
        let partition_value = self.value(AttributeValue::S(query.partition.clone()));
        let partition = format!("{partition_name} = {partition_value}");
        if query.sort == SortKeyCondition::All {
            // DynamoDB refuses placeholders an expression does not use.
            return partition;
        }
        let sort = self.name(sort_attribute);
        let mut compare = |operator: &str, value: &str| {
            let value = self.value(AttributeValue::S(value.to_string()));
            format!("{sort} {operator} {value}")
        };
        let sort_clause = match &query.sort {
            SortKeyCondition::All => return partition,
            SortKeyCondition::Equals(value) => compare("=", value),
            SortKeyCondition::LessThan(value) => compare("<", value),
            SortKeyCondition::LessOrEqual(value) => compare("<=", value),
            SortKeyCondition::GreaterThan(value) => compare(">", value),
            SortKeyCondition::GreaterOrEqual(value) => compare(">=", value),
            SortKeyCondition::BeginsWith(prefix) => {
                let prefix = self.value(AttributeValue::S(prefix.clone()));
                format!("begins_with({sort}, {prefix})")
            }
            SortKeyCondition::Between(low, high) => {
                let low = self.value(AttributeValue::S(low.clone()));
                let high = self.value(AttributeValue::S(high.clone()));
                format!("{sort} BETWEEN {low} AND {high}")
            }
        };
        format!("{partition} AND {sort_clause}")
    }
}
