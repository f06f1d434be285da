//! Starts every function of the system in this process: the API on a socket, the usage
//! aggregator draining the durable queue, and the invoice and payment runs on timers — the
//! same use cases the Lambdas run. Stops cleanly when asked.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::response::IntoResponse;
use axum::routing::get;
use billing_api::ApiState;
use billing_app::clock::{Clock, SystemClock, TestClock};
use billing_app::ports::EventSink;
use billing_app::{App, events, runs, usage};
use billing_ledger::Ledger;
use billing_store::{DynamoDbTable, EmbeddedTable, Table, client_from_env};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tower_http::services::{ServeDir, ServeFile};

use crate::config::{LocalConfig, StoreChoice};
use crate::events::LoggedEvents;
use crate::metrics::{PrometheusMetrics, record};

/// Events published per sweep; the next sweep, a second later, takes the rest.
const OUTBOX_SWEEP_LIMIT: usize = 1000;

pub struct Running {
    pub addr: SocketAddr,
    pub admin_token: String,
    pub admin_token_generated: bool,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Running {
    /// Stops accepting requests, lets in-flight ones finish, stops the timers.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

/// Why the local runner could not start; each names the variable whose setting failed, and
/// keeps the error that made it fail.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("BILLING_DATA_DIR: cannot create {}: {source}", .path.display())]
    CreateDataDir {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("BILLING_DATA_DIR: cannot open the store in {}: {source}", .path.display())]
    OpenStore {
        path: std::path::PathBuf,
        #[source]
        source: billing_store::StoreError,
    },
    #[error("BILLING_TABLE: cannot create or reach table {table}: {source}")]
    ReachTable {
        table: String,
        #[source]
        source: billing_store::StoreError,
    },
    #[error("BILLING_ADDR: cannot listen on {addr}: {source}")]
    Listen {
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

async fn open_table(store: &StoreChoice) -> Result<Arc<dyn Table>, StartError> {
    match store {
        StoreChoice::Embedded { data_dir } => {
            std::fs::create_dir_all(data_dir).map_err(|source| StartError::CreateDataDir {
                path: data_dir.clone(),
                source,
            })?;
            let table = EmbeddedTable::open(data_dir).map_err(|source| StartError::OpenStore {
                path: data_dir.clone(),
                source,
            })?;
            Ok(Arc::new(table))
        }
        StoreChoice::DynamoDb { table } => {
            let table = DynamoDbTable::new(client_from_env().await, table.clone());
            table
                .create_table_if_missing()
                .await
                .map_err(|source| StartError::ReachTable {
                    table: table.table_name().to_owned(),
                    source,
                })?;
            Ok(Arc::new(table))
        }
    }
}

pub async fn start(config: LocalConfig) -> Result<Running, StartError> {
    let table = open_table(&config.store).await?;
    let ledger = Ledger::new(table);
    let clock: Arc<dyn Clock> = if config.api.test_clock_enabled {
        Arc::new(TestClock::new(ledger.clone()))
    } else {
        Arc::new(SystemClock)
    };
    let metrics = Arc::new(PrometheusMetrics::default());
    let mut app = App::local(ledger, clock).with_metrics(metrics.clone());
    app.gateway = config.gateway.clone();
    app.dunning = config.dunning.clone();
    app.payment_lease_seconds = config.payment_lease_seconds;
    if matches!(config.store, StoreChoice::Embedded { .. }) {
        app.run_concurrency = billing_app::runs::EMBEDDED_CONCURRENCY;
    }
    let admin_token = config.api.admin_token.expose().to_owned();
    let exporter = metrics.clone();
    let mut router = billing_api::router(ApiState::new(app.clone(), config.api))
        .route("/metrics", get(move || async move { exporter.render() }));
    let index = config.web_dist.join("index.html");
    if index.is_file() {
        // The admin UI: its files, and index.html for any other path (client-side routes) —
        // but an unknown API path stays the API's 404 envelope.
        let ui = ServeDir::new(&config.web_dist).fallback(ServeFile::new(index));
        router = router.fallback(move |request: axum::extract::Request| {
            let ui = ui.clone();
            async move {
                let path = request.uri().path().to_owned();
                if path == "/v1" || path.starts_with("/v1/") {
                    let method = request.method().to_string();
                    return billing_api::ApiError::RouteNotFound { method, path }.into_response();
                }
                match tower::ServiceExt::oneshot(ui, request).await {
                    Ok(response) => response.into_response(),
                    Err(never) => match never {},
                }
            }
        });
    }
    let router = router.layer(axum::middleware::from_fn_with_state(metrics, record));

    let listen = |source| StartError::Listen {
        addr: config.addr,
        source,
    };
    let listener = tokio::net::TcpListener::bind(config.addr)
        .await
        .map_err(listen)?;
    let addr = listener.local_addr().map_err(listen)?;
    let (stop, stopped) = watch::channel(false);
    let mut tasks = Vec::new();
    let mut server_stop = stopped.clone();
    tasks.push(tokio::spawn(async move {
        let shutdown = async move {
            let _ = server_stop.wait_for(|stop| *stop).await;
        };
        if let Err(error) = axum::serve(listener, router)
            .with_graceful_shutdown(shutdown)
            .await
        {
            tracing::error!("server stopped: {error}");
        }
    }));
    tasks.push(every(
        Some(config.aggregate_every),
        stopped.clone(),
        app.clone(),
        |app| async move { usage::drain_usage_queue(&app).await.map(|_| ()) },
    ));
    tasks.push(every(
        config.invoice_run_every,
        stopped.clone(),
        app.clone(),
        |app| async move {
            usage::drain_usage_queue(&app).await?;
            let now = app.clock.now().await?;
            runs::invoice_run(&app, now).await.map(|_| ())
        },
    ));
    tasks.push(every(
        config.payment_run_every,
        stopped.clone(),
        app.clone(),
        |app| async move {
            let now = app.clock.now().await?;
            runs::payment_run(&app, now).await.map(|_| ())
        },
    ));
    // The domain events: the outbox swept into the in-process sink, as the AWS publisher
    // sweeps it into EventBridge.
    let sink: Arc<dyn EventSink> = Arc::new(LoggedEvents::new(app.metrics.clone()));
    tasks.push(every(
        Some(config.publish_every),
        stopped,
        app,
        move |app| {
            let sink = sink.clone();
            async move {
                events::publish_outbox(&app.ledger, sink.as_ref(), OUTBOX_SWEEP_LIMIT)
                    .await
                    .map(|_| ())
            }
        },
    ));
    Ok(Running {
        addr,
        admin_token,
        admin_token_generated: config.admin_token_generated,
        stop,
        tasks,
    })
}

/// Runs `job` every `period` until stopped (never, when `period` is `None`). A failing job is
/// logged and tried again next time: the runs are safe to repeat.
fn every<F, Fut>(
    period: Option<Duration>,
    mut stopped: watch::Receiver<bool>,
    app: App,
    job: F,
) -> JoinHandle<()>
where
    F: Fn(App) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<(), billing_app::AppError>> + Send,
{
    tokio::spawn(async move {
        let Some(period) = period else {
            return;
        };
        let mut ticks = tokio::time::interval(period);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                // The value only ever changes to `true`: any change means stop.
                _ = stopped.changed() => return,
                _ = ticks.tick() => {
                    if let Err(error) = job(app.clone()).await {
                        tracing::warn!("background job failed, retrying next tick: {error}");
                    }
                }
            }
        }
    })
}
