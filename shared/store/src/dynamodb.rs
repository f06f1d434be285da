//! The DynamoDB backend. SDK types stay in this module: callers see only the port.
//!
//! Typed conditions become `ConditionExpression`s with placeholder names (`#n0`…) and values
//! (`:v0`…), so attribute names never collide with reserved words and values are never
//! spliced into expression text. Every condition and every read also treats items whose
//! `expires_at` has passed as absent, because DynamoDB deletes them only eventually.

use crate::cursor;
use crate::error::{CancellationReason, StoreError};
use crate::model::{
    Condition, Direction, Key, Page, Query, SortKeyCondition, TransactItem, Update, UpdateAction,
};
use crate::schema::{
    self, BILLING_MODE, GSIS, PARTITION_KEY, SORT_KEY, STREAM_VIEW_TYPE, TTL_ATTRIBUTE,
    VERSION_ATTRIBUTE,
};
use crate::table::Table;
use crate::ttl::now_epoch_seconds;
use crate::validate;
use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{
    self as sdk, AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType,
    Projection, ProjectionType, ScalarAttributeType, StreamSpecification, StreamViewType,
    TableStatus, TimeToLiveSpecification, TimeToLiveStatus, TransactWriteItem,
};
use serde_dynamo::{AttributeValue, Item};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

const BACKEND: &str = "dynamodb";

/// Attempts per request, including the first, under the SDK's standard retry mode (which
/// backs off on throttling and transient errors).
const RETRY_ATTEMPTS_MAX: u32 = 5;
/// Round trips one `query` call may make while skipping expired items to fill a page.
const QUERY_ROUND_TRIPS_MAX: usize = 16;
/// How long `create_table_if_missing` waits for a new table to become ACTIVE.
const TABLE_ACTIVE_WAIT_MAX: Duration = Duration::from_secs(120);
const TABLE_ACTIVE_POLL_INTERVAL: Duration = Duration::from_millis(250);

type SdkItem = HashMap<String, sdk::AttributeValue>;
type NamePlaceholders = Option<HashMap<String, String>>;
type ValuePlaceholders = Option<HashMap<String, sdk::AttributeValue>>;

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

    /// Creates the table from `schema` unless it exists, waits until it is ACTIVE, and makes
    /// sure TTL on `expires_at` is enabled. For local runs and tests; in AWS the SAM template
    /// creates the table from the same schema.
    pub async fn create_table_if_missing(&self) -> Result<(), StoreError> {
        match self
            .client
            .describe_table()
            .table_name(&self.table_name)
            .send()
            .await
        {
            Ok(_) => {}
            Err(error) if error_code(&error) == Some("ResourceNotFoundException") => {
                match self.create_table().await {
                    Ok(()) => {}
                    // Someone else created it between our describe and create.
                    Err(error) if error_code(&error) == Some("ResourceInUseException") => {}
                    Err(error) => return Err(sdk_error("cannot create the table", error)),
                }
            }
            Err(error) => return Err(sdk_error("cannot describe the table", error)),
        }
        self.wait_until_active().await?;
        self.enable_ttl().await
    }

    async fn create_table(
        &self,
    ) -> Result<(), SdkError<aws_sdk_dynamodb::operation::create_table::CreateTableError>> {
        let string_attribute = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
        };
        let key_element = |name: &str, key_type: KeyType| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(key_type)
                .build()
        };
        let built = || -> Result<_, aws_sdk_dynamodb::error::BuildError> {
            let definitions = schema::all_key_attributes()
                .into_iter()
                .map(string_attribute)
                .collect::<Result<Vec<_>, _>>()?;
            let key_schema = vec![
                key_element(PARTITION_KEY, KeyType::Hash)?,
                key_element(SORT_KEY, KeyType::Range)?,
            ];
            let indexes = GSIS
                .iter()
                .map(|gsi| {
                    GlobalSecondaryIndex::builder()
                        .index_name(gsi.name)
                        .key_schema(key_element(gsi.partition_key, KeyType::Hash)?)
                        .key_schema(key_element(gsi.sort_key, KeyType::Range)?)
                        .projection(
                            Projection::builder()
                                .projection_type(ProjectionType::All)
                                .build(),
                        )
                        .build()
                })
                .collect::<Result<Vec<_>, _>>()?;
            let stream = StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::from(STREAM_VIEW_TYPE))
                .build()?;
            Ok((definitions, key_schema, indexes, stream))
        };
        let (definitions, key_schema, indexes, stream) =
            built().map_err(SdkError::construction_failure)?;
        self.client
            .create_table()
            .table_name(&self.table_name)
            .billing_mode(BillingMode::from(BILLING_MODE))
            .set_attribute_definitions(Some(definitions))
            .set_key_schema(Some(key_schema))
            .set_global_secondary_indexes(Some(indexes))
            .stream_specification(stream)
            .send()
            .await
            .map(|_| ())
    }

    async fn wait_until_active(&self) -> Result<(), StoreError> {
        let deadline = tokio::time::Instant::now() + TABLE_ACTIVE_WAIT_MAX;
        loop {
            let description = self
                .client
                .describe_table()
                .table_name(&self.table_name)
                .send()
                .await
                .map_err(|error| sdk_error("cannot describe the table", error))?;
            let status = description.table().and_then(|table| table.table_status());
            if status == Some(&TableStatus::Active) {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(StoreError::Backend {
                    backend: BACKEND,
                    message: format!(
                        "table {} not ACTIVE after {TABLE_ACTIVE_WAIT_MAX:?} (status {status:?})",
                        self.table_name
                    ),
                    source: None,
                });
            }
            tokio::time::sleep(TABLE_ACTIVE_POLL_INTERVAL).await;
        }
    }

    async fn enable_ttl(&self) -> Result<(), StoreError> {
        let current = self
            .client
            .describe_time_to_live()
            .table_name(&self.table_name)
            .send()
            .await
            .map_err(|error| sdk_error("cannot describe the table's TTL", error))?;
        let status = current
            .time_to_live_description()
            .and_then(|description| description.time_to_live_status());
        if matches!(
            status,
            Some(TimeToLiveStatus::Enabled | TimeToLiveStatus::Enabling)
        ) {
            return Ok(());
        }
        let specification = TimeToLiveSpecification::builder()
            .attribute_name(TTL_ATTRIBUTE)
            .enabled(true)
            .build()
            .map_err(|error| StoreError::backend(BACKEND, "cannot describe TTL", error))?;
        self.client
            .update_time_to_live()
            .table_name(&self.table_name)
            .time_to_live_specification(specification)
            .send()
            .await
            .map_err(|error| sdk_error("cannot enable TTL", error))?;
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Expressions

/// Placeholder names and values of one request's expressions.
#[derive(Default)]
struct Placeholders {
    names: HashMap<String, String>,
    values: HashMap<String, sdk::AttributeValue>,
}

impl Placeholders {
    fn name(&mut self, attribute: &str) -> String {
        if let Some((placeholder, _)) = self.names.iter().find(|(_, name)| *name == attribute) {
            return placeholder.clone();
        }
        let placeholder = format!("#n{}", self.names.len());
        self.names
            .insert(placeholder.clone(), attribute.to_string());
        placeholder
    }

    fn value(&mut self, value: AttributeValue) -> String {
        let placeholder = format!(":v{}", self.values.len());
        self.values.insert(placeholder.clone(), value.into());
        placeholder
    }

    /// DynamoDB rejects empty placeholder maps, so absent means `None`.
    fn into_parts(self) -> (NamePlaceholders, ValuePlaceholders) {
        let names = (!self.names.is_empty()).then_some(self.names);
        let values = (!self.values.is_empty()).then_some(self.values);
        (names, values)
    }

    /// The item has no `expires_at`, or one that is not a number, or one still in the future.
    fn live(&mut self, now: i64) -> String {
        let ttl = self.name(TTL_ATTRIBUTE);
        let number_type = self.value(AttributeValue::S("N".to_string()));
        let now = self.value(AttributeValue::N(now.to_string()));
        format!(
            "(attribute_not_exists({ttl}) OR NOT attribute_type({ttl}, {number_type}) OR {ttl} > {now})"
        )
    }

    /// The condition expression for `condition`, `None` for `Always`.
    fn condition(&mut self, condition: &Condition, now: i64) -> Option<String> {
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

    fn update(&mut self, update: &Update) -> String {
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

    fn key_condition(&mut self, query: &Query) -> String {
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

// ---------------------------------------------------------------------------------------------
// Errors

fn error_code<E: ProvideErrorMetadata, R>(error: &SdkError<E, R>) -> Option<&str> {
    error
        .as_service_error()
        .and_then(ProvideErrorMetadata::code)
}

/// Maps an SDK failure to the port's typed outcomes by DynamoDB's error codes.
fn sdk_error<E, R>(context: &str, error: SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    match error_code(&error) {
        Some("ConditionalCheckFailedException") => StoreError::ConditionFailed,
        Some("TransactionConflictException") => StoreError::TransactionConflict,
        Some("ValidationException") => StoreError::InvalidRequest(
            error
                .as_service_error()
                .and_then(ProvideErrorMetadata::message)
                .unwrap_or("DynamoDB refused the request")
                .to_string(),
        ),
        _ => {
            let message = format!(
                "{context}: {}",
                aws_sdk_dynamodb::error::DisplayErrorContext(&error)
            );
            StoreError::backend(BACKEND, message, error)
        }
    }
}

fn cancellation_reason(code: Option<&str>) -> CancellationReason {
    match code {
        None | Some("None") => CancellationReason::None,
        Some("ConditionalCheckFailed") => CancellationReason::ConditionFailed,
        Some("TransactionConflict") => CancellationReason::TransactionConflict,
        Some(other) => CancellationReason::Other {
            code: other.to_string(),
        },
    }
}

fn build_error(error: aws_sdk_dynamodb::error::BuildError) -> StoreError {
    StoreError::backend(BACKEND, "cannot build a request", error)
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
