//! Backends for tests, shared by every suite that runs "once per backend": the store's
//! conformance suite and the ledger's repository tests. Enabled by the `testing` feature.
//!
//! The DynamoDB fixture reads its endpoint from `AWS_ENDPOINT_URL_DYNAMODB` (see
//! `infra/with-dynamodb-local.sh`) and gives every test its own fresh table. Without that
//! variable it returns `None` (the test is skipped) — unless `BILLING_REQUIRE_DYNAMODB=1`,
//! where it fails, so the project's test command always really runs it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::Table;
use crate::{DynamoDbTable, EmbeddedTable, client_from_env};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

pub struct Fixture {
    pub table: Arc<dyn Table>,
    /// Keeps the embedded backend's data directory until the test ends.
    _data_dir: Option<tempfile::TempDir>,
}

pub async fn embedded(_case: &str) -> Option<Fixture> {
    let data_dir = tempfile::tempdir().expect("a temporary directory");
    let table = EmbeddedTable::open(data_dir.path()).expect("the embedded table opens");
    Some(Fixture {
        table: Arc::new(table),
        _data_dir: Some(data_dir),
    })
}

pub async fn dynamodb(case: &str) -> Option<Fixture> {
    let endpoint = std::env::var("AWS_ENDPOINT_URL_DYNAMODB").unwrap_or_default();
    if endpoint.is_empty() {
        let required = std::env::var("BILLING_REQUIRE_DYNAMODB").is_ok_and(|v| v == "1");
        assert!(
            !required,
            "BILLING_REQUIRE_DYNAMODB=1 but AWS_ENDPOINT_URL_DYNAMODB is unset: run the \
             tests through infra/with-dynamodb-local.sh (or point the variable at DynamoDB)"
        );
        eprintln!("skipped dynamodb::{case}: AWS_ENDPOINT_URL_DYNAMODB is unset");
        return None;
    }
    static TABLES: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let table_name = format!(
        "conformance-{}-{}-{nanos}-{}",
        case.replace('_', "-"),
        std::process::id(),
        TABLES.fetch_add(1, Ordering::Relaxed)
    );
    let table = DynamoDbTable::new(client_from_env().await, table_name);
    table
        .create_table_if_missing()
        .await
        .unwrap_or_else(|error| panic!("cannot create a table at {endpoint}: {error}"));
    Some(Fixture {
        table: Arc::new(table),
        _data_dir: None,
    })
}
