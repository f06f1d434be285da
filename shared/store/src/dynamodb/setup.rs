//! Creating the table from `schema` and turning TTL on: for local runs and tests (in AWS the
//! SAM template creates the table from the same schema).

use super::errors::{error_code, sdk_error};
use super::{BACKEND, DynamoDbTable};
use crate::error::StoreError;
use crate::schema::{
    self, BILLING_MODE, GSIS, PARTITION_KEY, SORT_KEY, STREAM_VIEW_TYPE, TTL_ATTRIBUTE,
};
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, StreamSpecification, StreamViewType, TableStatus,
    TimeToLiveSpecification, TimeToLiveStatus,
};
use std::time::Duration;

/// How long `create_table_if_missing` waits for a new table to become ACTIVE.
const TABLE_ACTIVE_WAIT_MAX: Duration = Duration::from_secs(120);
const TABLE_ACTIVE_POLL_INTERVAL: Duration = Duration::from_millis(250);

impl DynamoDbTable {
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
