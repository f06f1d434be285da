//! `spawn_app()`: the real router on 127.0.0.1:0 over a fresh embedded store, with the test
//! clock on and one user (for usage), plus typed request helpers (`spawn_app_with_emf()` adds
//! the API Lambda's EMF layer). Test-only routes (`extra`) exercise conventions no real route
//! can show on demand: a slow request and one that fails once (idempotency), a panic.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Extension;
use billing_api::auth::Authenticator;
use billing_api::{ApiConfig, ApiError, ApiState, Reply, Secret, StrictJson, router_with};
use billing_app::App;
use billing_app::clock::TestClock;
use billing_lambda::emf::EmfMetrics;
use billing_ledger::Ledger;
use billing_store::{
    Condition, EmbeddedTable, Item, Key, Page, Query, StoreError, Table, TransactItem, Update,
};
use reqwest::Method;
use reqwest::header::HeaderMap;
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub const ADMIN_TOKEN: &str = "sk_test_bootstrap_admin_token";

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub state: ApiState,
    /// How many times the test-only slow route ran.
    pub slow_runs: Arc<AtomicUsize>,
    /// A user that exists, for usage bodies.
    pub user_id: String,
    /// The DynamoDB table the app runs on (`spawn_app_on_dynamodb`), to read it back.
    pub dynamodb: Option<(aws_sdk_dynamodb::Client, String)>,
    data_dir: tempfile::TempDir,
}

/// The stores API tests run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Embedded,
    DynamoDb,
}

/// The app on `backend`, or `None` when the run skips that backend: DynamoDB needs
/// `AWS_ENDPOINT_URL_DYNAMODB` (infra/with-services.sh sets it); without it the test fails,
/// unless `BILLING_SKIP_DYNAMODB=1` skips it (`billing_store::testing::dynamodb_endpoint`).
pub async fn spawn_app_on_backend(
    backend: Backend,
    case: &str,
    configure: impl FnOnce(&mut ApiConfig),
) -> Option<TestApp> {
    match backend {
        Backend::Embedded => Some(spawn_app_with(configure).await),
        Backend::DynamoDb => spawn_app_on_dynamodb(case, configure).await,
    }
}

/// The app on a fresh table of DynamoDB Local (see [`spawn_app_on_backend`]).
pub async fn spawn_app_on_dynamodb(
    case: &str,
    configure: impl FnOnce(&mut ApiConfig),
) -> Option<TestApp> {
    billing_store::testing::dynamodb_endpoint(case)?;
    static TABLES: AtomicUsize = AtomicUsize::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let name = format!(
        "api-{}-{}-{nanos}-{}",
        case.replace('_', "-"),
        std::process::id(),
        TABLES.fetch_add(1, Ordering::Relaxed)
    );
    let client = billing_store::client_from_env().await;
    let table = billing_store::DynamoDbTable::new(client.clone(), name.clone());
    table.create_table_if_missing().await.unwrap();
    let mut app = spawn(
        configure,
        Some(Arc::new(table)),
        None,
        |_| {},
        None,
        |state| state,
    )
    .await;
    app.dynamodb = Some((client, name));
    Some(app)
}

/// A response, read whole.
#[derive(Debug)]
pub struct TestResponse {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
}

impl TestResponse {
    /// The error envelope's `(type, code, param)`.
    pub fn error(&self) -> (String, String, Option<String>) {
        let error = &self.body["error"];
        (
            error["type"].as_str().unwrap_or_default().to_owned(),
            error["code"].as_str().unwrap_or_default().to_owned(),
            error["param"].as_str().map(str::to_owned),
        )
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(configure: impl FnOnce(&mut ApiConfig)) -> TestApp {
    spawn(configure, None, None, |_| {}, None, |state| state).await
}

/// The app with accepted usage sent to `queue` (SQS in the tests that use it).
pub async fn spawn_app_with_usage_queue(queue: Arc<dyn billing_app::ports::UsageQueue>) -> TestApp {
    spawn(
        |_| {},
        None,
        None,
        move |app| app.usage_queue = queue,
        None,
        |state| state,
    )
    .await
}

/// The app over `table` instead of a fresh embedded store.
pub async fn spawn_app_on(table: Arc<dyn Table>) -> TestApp {
    spawn(|_| {}, Some(table), None, |_| {}, None, |state| state).await
}

/// The app with a token cache that trusts a lookup for `ttl` only.
pub async fn spawn_app_with_token_ttl(ttl: Duration) -> TestApp {
    spawn(|_| {}, None, Some(ttl), |_| {}, None, |state| state).await
}

/// The app as the API Lambda wires it: its use cases report to `metrics`, and the router is
/// wrapped in the EMF layer that flushes them after each response.
pub async fn spawn_app_with_emf(metrics: Arc<EmfMetrics>) -> TestApp {
    let reporting = metrics.clone();
    spawn(
        |_| {},
        None,
        None,
        move |app| app.metrics = reporting,
        Some(metrics),
        |state| state,
    )
    .await
}

/// The app as the API Lambda wires its runs: `POST /v1/invoice-runs` and `/v1/payment-runs`
/// run for at most `budget`, then hand what is left to these work queues.
pub async fn spawn_app_with_run_queues(
    budget: Duration,
    invoice_queue: Arc<dyn billing_app::ports::WorkQueue>,
    payment_queue: Arc<dyn billing_app::ports::WorkQueue>,
) -> TestApp {
    spawn(
        |_| {},
        None,
        None,
        |_| {},
        None,
        move |state: ApiState| {
            let mut state = state.with_run_queues(Some(invoice_queue), Some(payment_queue));
            state.runs.budget = Some(budget);
            state
        },
    )
    .await
}

async fn spawn(
    configure: impl FnOnce(&mut ApiConfig),
    table: Option<Arc<dyn Table>>,
    token_ttl: Option<Duration>,
    configure_app: impl FnOnce(&mut App),
    emf: Option<Arc<EmfMetrics>>,
    configure_state: impl FnOnce(ApiState) -> ApiState,
) -> TestApp {
    let data_dir = tempfile::tempdir().unwrap();
    let table = match table {
        Some(table) => table,
        None => Arc::new(EmbeddedTable::open(data_dir.path()).unwrap()),
    };
    let ledger = Ledger::new(table);
    let mut app = App::local(ledger.clone(), Arc::new(TestClock::new(ledger)));
    configure_app(&mut app);
    let mut config = ApiConfig::new(Secret::new(ADMIN_TOKEN));
    config.test_clock_enabled = true;
    configure(&mut config);
    let mut state = ApiState::new(app, config);
    if let Some(ttl) = token_ttl {
        state.auth = Arc::new(Authenticator::with_ttl(ADMIN_TOKEN, ttl));
    }
    let state = configure_state(state);
    let slow_runs = Arc::new(AtomicUsize::new(0));
    let extra = OpenApiRouter::new()
        .routes(routes!(slow))
        .routes(routes!(fail_once))
        .routes(routes!(panics))
        .routes(routes!(optional_body))
        .layer(Extension(SlowRuns(slow_runs.clone())))
        .layer(Extension(Failures(Arc::new(AtomicUsize::new(0)))));
    // A store that cannot be reached (the 503 tests) has no user; usage tests use one that can.
    let user_id = billing_app::users::create_user(
        &state.app,
        billing_app::users::CreateUser {
            email: "usage@example.com".into(),
            name: None,
            payment_method: None,
        },
        &billing_app::Actor("test".into()),
    )
    .await
    .map(|user| user.id)
    .unwrap_or_default();
    let mut router = router_with(state.clone(), extra);
    if let Some(metrics) = emf {
        router = billing_api::emf::with_emf(router, metrics);
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    TestApp {
        address,
        client: reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap(),
        state,
        slow_runs,
        user_id,
        dynamodb: None,
        data_dir,
    }
}

impl TestApp {
    /// Everything the store holds, as text to search: every file of the embedded store's data
    /// directory (its raw bytes), or every item of the DynamoDB table.
    pub async fn stored_text(&self) -> String {
        let mut text = String::new();
        match &self.dynamodb {
            Some((client, table)) => {
                let mut start = None;
                loop {
                    let page = client
                        .scan()
                        .table_name(table)
                        .set_exclusive_start_key(start)
                        .send()
                        .await
                        .unwrap();
                    for item in page.items() {
                        text.push_str(&format!("{item:?}\n"));
                    }
                    start = page.last_evaluated_key().cloned();
                    if start.is_none() {
                        break;
                    }
                }
            }
            None => {
                let mut dirs = vec![self.data_dir.path().to_path_buf()];
                while let Some(dir) = dirs.pop() {
                    for entry in std::fs::read_dir(dir).unwrap() {
                        let path = entry.unwrap().path();
                        if path.is_dir() {
                            dirs.push(path);
                        } else {
                            text.push_str(&String::from_utf8_lossy(&std::fs::read(path).unwrap()));
                        }
                    }
                }
            }
        }
        text
    }

    pub async fn request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> TestResponse {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.address));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        read(request.send().await.unwrap()).await
    }

    pub async fn get(&self, path: &str, token: &str) -> TestResponse {
        self.request(Method::GET, path, Some(token), None, &[])
            .await
    }

    pub async fn post(&self, path: &str, token: &str, body: &Value) -> TestResponse {
        self.request(Method::POST, path, Some(token), Some(body), &[])
            .await
    }

    pub async fn post_with_key(
        &self,
        path: &str,
        token: &str,
        key: &str,
        body: &Value,
    ) -> TestResponse {
        self.request(
            Method::POST,
            path,
            Some(token),
            Some(body),
            &[("Idempotency-Key", key)],
        )
        .await
    }

    pub async fn delete(&self, path: &str, token: &str) -> TestResponse {
        self.request(Method::DELETE, path, Some(token), None, &[])
            .await
    }

    /// A new API token with `scopes`: `(id, secret)`.
    pub async fn create_token(&self, name: &str, scopes: &[&str]) -> (String, String) {
        let response = self
            .post(
                "/v1/tokens",
                ADMIN_TOKEN,
                &json!({"name": name, "scopes": scopes}),
            )
            .await;
        assert_eq!(response.status, 201, "{:?}", response.body);
        (
            response.body["id"].as_str().unwrap().to_owned(),
            response.body["token"].as_str().unwrap().to_owned(),
        )
    }

    /// A valid body for `POST /v1/usage`.
    pub fn usage_body(&self) -> Value {
        json!({"events": [{"id": "e1", "user_id": self.user_id, "metric": "api_calls", "quantity": 1}]})
    }
}

pub async fn read(response: reqwest::Response) -> TestResponse {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.unwrap();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| panic!("not JSON ({status}): {}", String::from_utf8_lossy(&bytes)))
    };
    TestResponse {
        status,
        headers,
        body,
    }
}

// ---- stand-in routes

#[derive(Clone)]
struct SlowRuns(Arc<AtomicUsize>);

#[derive(Clone)]
struct Failures(Arc<AtomicUsize>);

/// Takes a while, so a second request can arrive while it runs.
#[utoipa::path(post, path = "/v1/test-only/slow", responses((status = 200)))]
async fn slow(Extension(SlowRuns(runs)): Extension<SlowRuns>) -> Reply<Value> {
    let run = runs.fetch_add(1, Ordering::SeqCst) + 1;
    tokio::time::sleep(Duration::from_millis(500)).await;
    Reply::ok(json!({"run": run}))
}

/// Fails with a 500 the first time, succeeds after.
#[utoipa::path(post, path = "/v1/test-only/fail-once", responses((status = 200), (status = 500)))]
async fn fail_once(
    Extension(Failures(failures)): Extension<Failures>,
) -> Result<Reply<Value>, ApiError> {
    if failures.fetch_add(1, Ordering::SeqCst) == 0 {
        return Err(ApiError::Internal("the first call fails".into()));
    }
    Ok(Reply::ok(json!({"ok": true})))
}

/// A bug: the handler panics.
#[utoipa::path(get, path = "/v1/test-only/panic", responses((status = 500)))]
async fn panics() -> Reply<Value> {
    panic!("a deliberate panic with a secret detail")
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OptionalBody {
    flag: bool,
}

/// Echoes `flag`, true when the body is absent.
#[utoipa::path(post, path = "/v1/test-only/optional", request_body = Option<OptionalBody>, responses((status = 200)))]
async fn optional_body(body: Option<StrictJson<OptionalBody>>) -> Reply<Value> {
    let flag = body.is_none_or(|StrictJson(body)| body.flag);
    Reply::ok(json!({"flag": flag}))
}

/// A store that cannot be reached.
pub struct UnreachableTable;

fn unreachable_store() -> StoreError {
    StoreError::Backend {
        backend: "test",
        message: "connection refused".into(),
        source: None,
    }
}

#[async_trait::async_trait]
impl Table for UnreachableTable {
    async fn get(&self, _key: &Key) -> Result<Option<Item>, StoreError> {
        Err(unreachable_store())
    }
    async fn put(&self, _item: Item, _condition: Condition) -> Result<(), StoreError> {
        Err(unreachable_store())
    }
    async fn update(
        &self,
        _key: &Key,
        _update: Update,
        _condition: Condition,
    ) -> Result<Item, StoreError> {
        Err(unreachable_store())
    }
    async fn delete(&self, _key: &Key, _condition: Condition) -> Result<(), StoreError> {
        Err(unreachable_store())
    }
    async fn transact_write(&self, _items: Vec<TransactItem>) -> Result<(), StoreError> {
        Err(unreachable_store())
    }
    async fn query(&self, _query: Query) -> Result<Page, StoreError> {
        Err(unreachable_store())
    }
}
