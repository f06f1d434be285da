//! Backends for tests, shared by every suite that runs "once per backend": the store's
//! conformance suite, the ledger's repository tests, the app's flows and faults. Enabled by the
//! `testing` feature. [`on_every_backend!`](crate::on_every_backend) writes a suite's tests.
//!
//! The DynamoDB fixture reads its endpoint from `AWS_ENDPOINT_URL_DYNAMODB` (see
//! `infra/with-services.sh`) and gives every test its own fresh table. Without that variable a
//! DynamoDB test fails, so it cannot pass without running, unless the run says it skips
//! DynamoDB (`BILLING_SKIP_DYNAMODB=1`): then each such test reports its skip on the terminal
//! (past the test harness's capture) and returns.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::Table;
use crate::{DynamoDbTable, EmbeddedTable, client_from_env};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

/// The variable naming DynamoDB's endpoint (DynamoDB Local in tests).
pub const DYNAMODB_ENDPOINT_VAR: &str = "AWS_ENDPOINT_URL_DYNAMODB";
/// `1` skips the DynamoDB tests when no endpoint is set (otherwise they fail).
pub const SKIP_DYNAMODB_VAR: &str = "BILLING_SKIP_DYNAMODB";

/// The backends a suite runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Embedded,
    DynamoDb,
}

impl Backend {
    /// A fresh table of this backend for `case`; `None` only for a skipped DynamoDB test.
    pub async fn fixture(self, case: &str) -> Option<Fixture> {
        match self {
            Self::Embedded => embedded(case).await,
            Self::DynamoDb => dynamodb(case).await,
        }
    }
}

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

/// The DynamoDB endpoint test `case` runs against. Without one it panics, unless
/// `BILLING_SKIP_DYNAMODB=1`: then it reports the skip where the terminal shows it and
/// answers `None` (the caller returns without running).
pub fn dynamodb_endpoint(case: &str) -> Option<String> {
    let endpoint = std::env::var(DYNAMODB_ENDPOINT_VAR).unwrap_or_default();
    if !endpoint.trim().is_empty() {
        return Some(endpoint);
    }
    let skip = std::env::var(SKIP_DYNAMODB_VAR).is_ok_and(|v| v == "1");
    assert!(
        skip,
        "{DYNAMODB_ENDPOINT_VAR} is unset, so {case} cannot run on DynamoDB: run the tests \
         through infra/with-services.sh (or point the variable at DynamoDB), or set \
         {SKIP_DYNAMODB_VAR}=1 to skip the DynamoDB tests"
    );
    // Written to the process's stderr itself, not through `eprintln!`, which the test harness
    // captures and hides for a passing test: a skip must be seen.
    use std::io::Write as _;
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED on DynamoDB (not run): {case} ({SKIP_DYNAMODB_VAR}=1, {DYNAMODB_ENDPOINT_VAR} unset)"
    );
    None
}

pub async fn dynamodb(case: &str) -> Option<Fixture> {
    let endpoint = dynamodb_endpoint(case)?;
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

/// Writes a suite's tests once per backend: for every case, `embedded::case` and
/// `dynamodb::case`, each a multi-threaded tokio test on a fresh table of its backend that
/// calls `cases::case(arg).await`, `arg` built from the backend and the table:
///
/// ```ignore
/// billing_store::on_every_backend! {
///     |_backend, table| Ledger::new(table) => emails_are_unique, stale_versions_are_refused;
///     |backend, _table| backend => a_rerun_repairs_every_fault;
/// }
/// ```
///
/// The calling module has a `cases` module and `tokio` (with `macros` and `rt-multi-thread`).
#[macro_export]
macro_rules! on_every_backend {
    ($( |$backend:ident, $table:ident| $arg:expr => $($case:ident),+ $(,)? );+ $(;)?) => {
        $crate::on_every_backend!(@backend embedded Embedded
            $( |$backend, $table| $arg => $($case),+ );+);
        $crate::on_every_backend!(@backend dynamodb DynamoDb
            $( |$backend, $table| $arg => $($case),+ );+);
    };
    (@backend $module:ident $variant:ident
        $( |$backend:ident, $table:ident| $arg:expr => $($case:ident),+ );+) => {
        mod $module {
            #[allow(unused_imports)]
            use super::*;
            $($(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    let $backend = $crate::testing::Backend::$variant;
                    let Some(fixture) = $backend.fixture(stringify!($case)).await else {
                        return;
                    };
                    let $table = ::std::sync::Arc::clone(&fixture.table);
                    cases::$case($arg).await;
                }
            )+)+
        }
    };
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
