//! The DynamoDB backend. SDK types stay in this module: callers see only the port.
//!
//! Typed conditions become `ConditionExpression`s with placeholder names (`#n0`…) and values
//! (`:v0`…), so attribute names never collide with reserved words and values are never
//! spliced into expression text. Every condition and every read also treats items whose
//! `expires_at` has passed as absent, because DynamoDB deletes them only eventually.
//!
//! One file per concern: `setup` creates the table and turns TTL on, `expressions` renders the
//! port's typed conditions, updates and key conditions, `errors` maps DynamoDB's error codes
//! to the port's typed outcomes; this file holds the handle and the port's operations.

mod errors;
mod expressions;
mod setup;

use crate::cursor;
use crate::error::StoreError;
use crate::model::{Condition, Direction, Key, Page, Query, TransactItem, Update};
use crate::schema::{self, PARTITION_KEY, SORT_KEY};
use crate::table::Table;
use crate::ttl::now_epoch_seconds;
use crate::validate;
use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{self as sdk, TransactWriteItem};
use errors::{build_error, cancellation_reason, sdk_error};
use expressions::Placeholders;
use serde_dynamo::Item;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

const BACKEND: &str = "dynamodb";

/// Attempts per request, including the first, under the SDK's standard retry mode (which
/// backs off on throttling and transient errors).
const RETRY_ATTEMPTS_MAX: u32 = 5;
/// Round trips one `query` call may make while skipping expired items to fill a page.
const QUERY_ROUND_TRIPS_MAX: usize = 16;

type SdkItem = HashMap<String, sdk::AttributeValue>;

/// A table in DynamoDB (or DynamoDB Local). Cheap to clone: the client is shared.
#[derive(Clone, Debug)]
pub struct DynamoDbTable {
    client: Client,
    table_name: String,
    /// Write capacity consumed by this handle's successful writes, in thousandths of a unit
    /// (DynamoDB reports fractions); shared by clones. What BENCHMARKS.md's write costs read.
    write_milli_units: Arc<AtomicU64>,
}

/// Adds the write units DynamoDB reported for one call to `meter`.
fn meter_writes<'a>(
    meter: &AtomicU64,
    consumed: impl IntoIterator<Item = &'a sdk::ConsumedCapacity>,
) {
    for capacity in consumed {
        let units = capacity
            .write_capacity_units()
            .or(capacity.capacity_units())
            .unwrap_or(0.0);
        // Capacity units are a metric reported as f64, not money; thousandths keep it integral.
        #[allow(
            clippy::float_arithmetic,
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss
        )]
        let milli = (units * 1000.0).round().max(0.0) as u64;
        meter.fetch_add(milli, Ordering::Relaxed);
    }
}

/// A DynamoDB client configured from the environment (region, credentials, and
/// `AWS_ENDPOINT_URL_DYNAMODB` for DynamoDB Local), with rustls on ring and standard retries.
/// Build it once per process; it only reads the environment and connects lazily.
pub async fn client_from_env() -> Client {
    let config = billing_aws::sdk_config_from_env(
        aws_config::retry::RetryConfig::standard().with_max_attempts(RETRY_ATTEMPTS_MAX),
        None,
    )
    .await;
    Client::new(&config)
}

impl DynamoDbTable {
    pub fn new(client: Client, table_name: impl Into<String>) -> Self {
        Self {
            client,
            table_name: table_name.into(),
            write_milli_units: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Write capacity consumed so far by successful writes through this handle (and its
    /// clones), in thousandths of a write capacity unit.
    pub fn consumed_write_milli_units(&self) -> u64 {
        self.write_milli_units.load(Ordering::Relaxed)
    }

    pub fn table_name(&self) -> &str {
        &self.table_name
    }
}

fn sdk_key(key: &Key) -> SdkItem {
    HashMap::from([
        (
            PARTITION_KEY.to_string(),
            sdk::AttributeValue::S(key.pk.clone()),
        ),
        (SORT_KEY.to_string(), sdk::AttributeValue::S(key.sk.clone())),
    ])
}

// ---------------------------------------------------------------------------------------------
// The port

#[async_trait]
impl Table for DynamoDbTable {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        validate::validate_key(key)?;
        let output = self
            .client
            .get_item()
            .table_name(&self.table_name)
            .set_key(Some(sdk_key(key)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|error| sdk_error("get", error))?;
        let now = now_epoch_seconds();
        Ok(output
            .item
            .map(Item::from)
            .filter(|item| !crate::ttl::is_expired(item, now)))
    }

    async fn put(&self, item: Item, condition: Condition) -> Result<(), StoreError> {
        validate::validate_item(&item)?;
        let mut placeholders = Placeholders::default();
        let condition = placeholders.condition(&condition, now_epoch_seconds());
        let (names, values) = placeholders.into_parts();
        let output = self
            .client
            .put_item()
            .table_name(&self.table_name)
            .set_item(Some(item.into()))
            .set_condition_expression(condition)
            .set_expression_attribute_names(names)
            .set_expression_attribute_values(values)
            .return_consumed_capacity(sdk::ReturnConsumedCapacity::Total)
            .send()
            .await
            .map_err(|error| sdk_error("put", error))?;
        meter_writes(&self.write_milli_units, output.consumed_capacity());
        Ok(())
    }

    async fn update(
        &self,
        key: &Key,
        update: Update,
        condition: Condition,
    ) -> Result<Item, StoreError> {
        validate::validate_key(key)?;
        validate::validate_update(&update)?;
        let mut placeholders = Placeholders::default();
        let expression = placeholders.update(&update);
        let condition = placeholders.condition(&condition, now_epoch_seconds());
        let (names, values) = placeholders.into_parts();
        let output = self
            .client
            .update_item()
            .table_name(&self.table_name)
            .set_key(Some(sdk_key(key)))
            .update_expression(expression)
            .set_condition_expression(condition)
            .set_expression_attribute_names(names)
            .set_expression_attribute_values(values)
            .return_values(sdk::ReturnValue::AllNew)
            .return_consumed_capacity(sdk::ReturnConsumedCapacity::Total)
            .send()
            .await
            .map_err(|error| sdk_error("update", error))?;
        meter_writes(&self.write_milli_units, output.consumed_capacity());
        Ok(Item::from(output.attributes.unwrap_or_default()))
    }

    async fn delete(&self, key: &Key, condition: Condition) -> Result<(), StoreError> {
        validate::validate_key(key)?;
        let mut placeholders = Placeholders::default();
        let condition = placeholders.condition(&condition, now_epoch_seconds());
        let (names, values) = placeholders.into_parts();
        let output = self
            .client
            .delete_item()
            .table_name(&self.table_name)
            .set_key(Some(sdk_key(key)))
            .set_condition_expression(condition)
            .set_expression_attribute_names(names)
            .set_expression_attribute_values(values)
            .return_consumed_capacity(sdk::ReturnConsumedCapacity::Total)
            .send()
            .await
            .map_err(|error| sdk_error("delete", error))?;
        meter_writes(&self.write_milli_units, output.consumed_capacity());
        Ok(())
    }

    async fn transact_write(&self, items: Vec<TransactItem>) -> Result<(), StoreError> {
        validate::validate_transaction(&items)?;
        let now = now_epoch_seconds();
        let actions = items
            .into_iter()
            .map(|action| self.transact_action(action, now))
            .collect::<Result<Vec<_>, _>>()?;
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(actions))
            .return_consumed_capacity(sdk::ReturnConsumedCapacity::Total)
            .send()
            .await;
        match result {
            Ok(output) => {
                meter_writes(&self.write_milli_units, output.consumed_capacity());
                Ok(())
            }
            Err(error) => match error.as_service_error() {
                Some(
                    aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(
                        canceled,
                    ),
                ) => Err(StoreError::TransactionCanceled {
                    reasons: canceled
                        .cancellation_reasons()
                        .iter()
                        .map(|reason| cancellation_reason(reason.code()))
                        .collect(),
                }),
                _ => Err(sdk_error("transact_write", error)),
            },
        }
    }

    async fn query(&self, query: Query) -> Result<Page, StoreError> {
        validate::validate_query(&query)?;
        let mut start = query
            .cursor
            .as_deref()
            .map(|cursor| cursor::decode_for(&query, cursor))
            .transpose()?
            .map(|position| {
                position
                    .into_iter()
                    .map(|(name, value)| (name, sdk::AttributeValue::S(value)))
                    .collect::<SdkItem>()
            });
        let now = now_epoch_seconds();
        let mut items: Vec<Item> = Vec::with_capacity(query.limit.min(64));
        let mut next_start: Option<SdkItem> = None;
        for _ in 0..QUERY_ROUND_TRIPS_MAX {
            let mut placeholders = Placeholders::default();
            let key_condition = placeholders.key_condition(&query);
            let filter = placeholders.live(now);
            let (names, values) = placeholders.into_parts();
            let remaining = query.limit - items.len();
            let index_name = schema::gsi(query.index).map(|gsi| gsi.name.to_string());
            let output = self
                .client
                .query()
                .table_name(&self.table_name)
                .set_index_name(index_name.clone())
                .key_condition_expression(key_condition)
                .filter_expression(filter)
                .set_expression_attribute_names(names)
                .set_expression_attribute_values(values)
                .scan_index_forward(query.direction == Direction::Forward)
                // GSIs only offer eventually consistent reads.
                .consistent_read(index_name.is_none())
                .limit(i32::try_from(remaining).unwrap_or(i32::MAX))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|error| sdk_error("query", error))?;
            items.extend(output.items.unwrap_or_default().into_iter().map(Item::from));
            next_start = output.last_evaluated_key;
            if items.len() >= query.limit || next_start.is_none() {
                break;
            }
            start = next_start.clone();
        }
        // Resume after the last item returned, which is exactly where this page stopped; if
        // the round-trip budget ran out first, resume where DynamoDB stopped evaluating.
        let next = match (next_start, items.last()) {
            (None, _) => None,
            (Some(_), Some(last)) if items.len() >= query.limit => {
                cursor::key_of(query.index, last).map(|key| cursor::encode(&key))
            }
            (Some(evaluated), _) => {
                let key = evaluated
                    .into_iter()
                    .filter_map(|(name, value)| match value {
                        sdk::AttributeValue::S(text) => Some((name, text)),
                        _ => None,
                    })
                    .collect();
                Some(cursor::encode(&key))
            }
        };
        Ok(Page { items, next })
    }
}

impl DynamoDbTable {
    fn transact_action(
        &self,
        action: TransactItem,
        now: i64,
    ) -> Result<TransactWriteItem, StoreError> {
        let mut placeholders = Placeholders::default();
        let built = match action {
            TransactItem::Put { item, condition } => {
                let condition = placeholders.condition(&condition, now);
                let (names, values) = placeholders.into_parts();
                let put = sdk::Put::builder()
                    .table_name(&self.table_name)
                    .set_item(Some(item.into()))
                    .set_condition_expression(condition)
                    .set_expression_attribute_names(names)
                    .set_expression_attribute_values(values)
                    .build()
                    .map_err(build_error)?;
                TransactWriteItem::builder().put(put)
            }
            TransactItem::Update {
                key,
                update,
                condition,
            } => {
                let expression = placeholders.update(&update);
                let condition = placeholders.condition(&condition, now);
                let (names, values) = placeholders.into_parts();
                let update = sdk::Update::builder()
                    .table_name(&self.table_name)
                    .set_key(Some(sdk_key(&key)))
                    .update_expression(expression)
                    .set_condition_expression(condition)
                    .set_expression_attribute_names(names)
                    .set_expression_attribute_values(values)
                    .build()
                    .map_err(build_error)?;
                TransactWriteItem::builder().update(update)
            }
            TransactItem::Delete { key, condition } => {
                let condition = placeholders.condition(&condition, now);
                let (names, values) = placeholders.into_parts();
                let delete = sdk::Delete::builder()
                    .table_name(&self.table_name)
                    .set_key(Some(sdk_key(&key)))
                    .set_condition_expression(condition)
                    .set_expression_attribute_names(names)
                    .set_expression_attribute_values(values)
                    .build()
                    .map_err(build_error)?;
                TransactWriteItem::builder().delete(delete)
            }
            TransactItem::ConditionCheck { key, condition } => {
                // A condition check needs an expression; `Always` checks that nothing at all
                // is required, which DynamoDB cannot express, so it becomes a tautology.
                let condition = placeholders.condition(&condition, now).unwrap_or_else(|| {
                    let pk = placeholders.name(PARTITION_KEY);
                    format!("(attribute_exists({pk}) OR attribute_not_exists({pk}))")
                });
                let (names, values) = placeholders.into_parts();
                let check = sdk::ConditionCheck::builder()
                    .table_name(&self.table_name)
                    .set_key(Some(sdk_key(&key)))
                    .condition_expression(condition)
                    .set_expression_attribute_names(names)
                    .set_expression_attribute_values(values)
                    .build()
                    .map_err(build_error)?;
                TransactWriteItem::builder().condition_check(check)
            }
        };
        Ok(built.build())
    }
}
