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

/// Where an injected fault strikes a write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The write is refused before it reaches the store: a crash just before the write.
    Before,
    /// The write is applied and then reported as failed: a crash (or a lost answer) just after
    /// the write, the case where a caller cannot know that it succeeded.
    After,
}

/// A real table with faults injected into its writes, for the fault-injection suites: arm it
/// with the number of the write to break, run the code under test, then check that a rerun
/// repairs everything. Reads always pass through.
pub struct FaultyTable {
    inner: Arc<dyn Table>,
    writes: std::sync::atomic::AtomicU64,
    armed: std::sync::Mutex<Option<(u64, Fault)>>,
    struck: std::sync::atomic::AtomicBool,
}

impl FaultyTable {
    pub fn new(inner: Arc<dyn Table>) -> Self {
        Self {
            inner,
            writes: std::sync::atomic::AtomicU64::new(0),
            armed: std::sync::Mutex::new(None),
            struck: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Breaks the `nth` write (1-based) from now on, in the way `fault` says.
    pub fn arm(&self, nth: u64, fault: Fault) {
        self.writes.store(0, Ordering::SeqCst);
        self.struck.store(false, Ordering::SeqCst);
        *self.armed.lock().unwrap() = Some((nth, fault));
    }

    /// Stops injecting; returns whether the armed fault struck.
    pub fn disarm(&self) -> bool {
        *self.armed.lock().unwrap() = None;
        self.struck.load(Ordering::SeqCst)
    }

    /// The fault to inject into the write being made now, if it is the armed one.
    fn fault_now(&self) -> Option<Fault> {
        let armed = *self.armed.lock().unwrap();
        let (nth, fault) = armed?;
        let write = self.writes.fetch_add(1, Ordering::SeqCst) + 1;
        (write == nth).then(|| {
            self.struck.store(true, Ordering::SeqCst);
            fault
        })
    }

    async fn write<T, F>(&self, apply: F) -> Result<T, crate::StoreError>
    where
        F: std::future::Future<Output = Result<T, crate::StoreError>>,
    {
        let injected = || crate::StoreError::Backend {
            backend: "fault-injection",
            message: "injected fault".into(),
            source: None,
        };
        match self.fault_now() {
            None => apply.await,
            Some(Fault::Before) => Err(injected()),
            Some(Fault::After) => {
                apply.await?;
                Err(injected())
            }
        }
    }
}

#[async_trait::async_trait]
impl Table for FaultyTable {
    async fn get(&self, key: &crate::Key) -> Result<Option<crate::Item>, crate::StoreError> {
        self.inner.get(key).await
    }

    async fn put(
        &self,
        item: crate::Item,
        condition: crate::Condition,
    ) -> Result<(), crate::StoreError> {
        self.write(self.inner.put(item, condition)).await
    }

    async fn update(
        &self,
        key: &crate::Key,
        update: crate::Update,
        condition: crate::Condition,
    ) -> Result<crate::Item, crate::StoreError> {
        self.write(self.inner.update(key, update, condition)).await
    }

    async fn delete(
        &self,
        key: &crate::Key,
        condition: crate::Condition,
    ) -> Result<(), crate::StoreError> {
        self.write(self.inner.delete(key, condition)).await
    }

    async fn transact_write(
        &self,
        items: Vec<crate::TransactItem>,
    ) -> Result<(), crate::StoreError> {
        self.write(self.inner.transact_write(items)).await
    }

    async fn query(&self, query: crate::Query) -> Result<crate::Page, crate::StoreError> {
        self.inner.query(query).await
    }
}
