//! CloudWatch Embedded Metric Format (EMF): every Lambda reports its metrics as one JSON
//! document per invocation on stdout, which CloudWatch Logs turns into metrics; no agent, no
//! `PutMetricData` call, nothing on the invocation's critical path but one write.
//!
//! [`EmfMetrics`] is the app's [`Metrics`](billing_app::ports::Metrics) port: the use cases add to its counters while an
//! invocation runs, and [`EmfMetrics::flush`] writes them as that invocation's document and sets
//! them back to zero, so each document is one invocation's delta. Lambda runs one invocation
//! at a time per instance, so the counters between two flushes are exactly that invocation's.
//! [`instrument`] times an event handler's invocation and flushes it (counting `Errors` when
//! the handler fails); the API flushes from its middleware (`billing_api::emf`) after each
//! response, with `Requests` and `ServerErrors`.
//!
//! # The document
//!
//! ```json
//! {"_aws":{"Timestamp":1798761600000,"CloudWatchMetrics":[{"Namespace":"Billing",
//!   "Dimensions":[["Function"]],"Metrics":[{"Name":"Invocations","Unit":"Count"},
//!   {"Name":"Latency","Unit":"Milliseconds"},{"Name":"Errors","Unit":"Count"},
//!   {"Name":"InvoicesCreated","Unit":"Count"}]}]},
//!  "Function":"billing-InvoiceRunnerFunction-AbC123","Invocations":1,"Latency":840,
//!  "Errors":0,"InvoicesCreated":412}
//! ```
//!
//! Names, for the SAM template's dashboard and alarms (namespace [`EMF_NAMESPACE`] `Billing`,
//! one dimension [`DIMENSION_FUNCTION`] `Function`, whose value is the Lambda's
//! `AWS_LAMBDA_FUNCTION_NAME`, i.e. `!Ref` of the function resource):
//!
//! | metric | unit | in every document | what |
//! | --- | --- | --- | --- |
//! | [`METRIC_INVOCATIONS`] `Invocations` | Count | yes, 1 | one per invocation |
//! | [`METRIC_LATENCY`] `Latency` | Milliseconds | yes | the handler's (or request's) time, whole ms |
//! | [`METRIC_ERRORS`] `Errors` | Count | yes, 0 or 1 | the handler returned `Err` (or panicked) |
//! | [`METRIC_REQUESTS`] `Requests` | Count | API only, 1 | HTTP requests answered |
//! | [`METRIC_SERVER_ERRORS`] `ServerErrors` | Count | API only, 0 or 1 | answers with a 5xx status |
//! | [`METRIC_USAGE_EVENTS_INGESTED`] `UsageEventsIngested` | Count | when not 0 | usage events accepted (API) |
//! | [`METRIC_USAGE_EVENTS_COUNTED`] `UsageEventsCounted` | Count | when not 0 | usage events aggregated and counted |
//! | [`METRIC_USAGE_EVENTS_DUPLICATE`] `UsageEventsDuplicate` | Count | when not 0 | usage events dropped as duplicates |
//! | [`METRIC_USAGE_EVENTS_LATE`] `UsageEventsLate` | Count | when not 0 | usage events of an invoiced period (billed next time) |
//! | [`METRIC_INVOICES_CREATED`] `InvoicesCreated` | Count | when not 0 | invoices finalized |
//! | [`METRIC_PAYMENTS_SUCCEEDED`] `PaymentsSucceeded` | Count | when not 0 | payment attempts that succeeded |
//! | [`METRIC_PAYMENTS_FAILED`] `PaymentsFailed` | Count | when not 0 | payment attempts that failed |
//! | [`METRIC_GATEWAY_RETRIES`] `GatewayRetries` | Count | when not 0 | transient gateway errors retried within an attempt |
//! | [`METRIC_PENDING_ATTEMPTS_RESOLVED`] `PendingAttemptsResolved` | Count | when not 0 | attempts left pending by a crash, asked again |
//! | [`METRIC_EVENTS_PUBLISHED`] `EventsPublished` | Count | when not 0 | domain events the event sink accepted |
//!
//! # Decisions
//!
//! - **One document for every invocation**, with `Invocations` 1, `Latency` and `Errors` (and
//!   for the API `Requests` and `ServerErrors`) even when nothing else happened. Latency
//!   percentiles then cover every invocation, not only the busy ones, and error-rate alarms
//!   (`Errors / Invocations`, `ServerErrors / Requests`) always have both terms. The cost is
//!   one short log line per invocation, next to the JSON log lines each one writes anyway.
//! - **Business counters only when not zero.** CloudWatch bills every (metric, dimensions)
//!   pair that receives data: writing every counter from every function would create ~75
//!   metrics where ~30 mean something (the API never counts aggregated usage). A counter
//!   missing from a document is zero; dashboards and alarms on them treat missing data as
//!   zero (`FILL(m, 0)`, `TreatMissingData: notBreaching`).
//! - **Whole milliseconds, integer counters**: no floats anywhere.
//! - **One `write_all` per document**, newline included, so a document is one log line that
//!   never interleaves with the JSON logs (Rust's stdout is locked for the call). A failed
//!   write is logged and dropped: metrics never fail an invocation.

use std::collections::BTreeMap;
use std::future::Future;
use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use billing_app::counters::{CounterValues, Counters, HasCounters};
use serde_json::{Map, Value, json};

/// The CloudWatch namespace of every metric.
pub const EMF_NAMESPACE: &str = "Billing";
/// The one dimension: the Lambda function's name.
pub const DIMENSION_FUNCTION: &str = "Function";
/// Where the function's name comes from in Lambda.
pub const FUNCTION_NAME_VAR: &str = "AWS_LAMBDA_FUNCTION_NAME";

pub const UNIT_COUNT: &str = "Count";
pub const UNIT_MILLISECONDS: &str = "Milliseconds";

pub const METRIC_INVOCATIONS: &str = "Invocations";
pub const METRIC_LATENCY: &str = "Latency";
pub const METRIC_ERRORS: &str = "Errors";
pub const METRIC_REQUESTS: &str = "Requests";
pub const METRIC_SERVER_ERRORS: &str = "ServerErrors";
pub const METRIC_USAGE_EVENTS_INGESTED: &str = "UsageEventsIngested";
pub const METRIC_USAGE_EVENTS_COUNTED: &str = "UsageEventsCounted";
pub const METRIC_USAGE_EVENTS_DUPLICATE: &str = "UsageEventsDuplicate";
pub const METRIC_USAGE_EVENTS_LATE: &str = "UsageEventsLate";
pub const METRIC_INVOICES_CREATED: &str = "InvoicesCreated";
pub const METRIC_PAYMENTS_SUCCEEDED: &str = "PaymentsSucceeded";
pub const METRIC_PAYMENTS_FAILED: &str = "PaymentsFailed";
pub const METRIC_GATEWAY_RETRIES: &str = "GatewayRetries";
pub const METRIC_PENDING_ATTEMPTS_RESOLVED: &str = "PendingAttemptsResolved";
pub const METRIC_EVENTS_PUBLISHED: &str = "EventsPublished";

/// Every metric a document may carry, with its unit.
pub const METRICS: [(&str, &str); 15] = [
    (METRIC_INVOCATIONS, UNIT_COUNT),
    (METRIC_LATENCY, UNIT_MILLISECONDS),
    (METRIC_ERRORS, UNIT_COUNT),
    (METRIC_REQUESTS, UNIT_COUNT),
    (METRIC_SERVER_ERRORS, UNIT_COUNT),
    (METRIC_USAGE_EVENTS_INGESTED, UNIT_COUNT),
    (METRIC_USAGE_EVENTS_COUNTED, UNIT_COUNT),
    (METRIC_USAGE_EVENTS_DUPLICATE, UNIT_COUNT),
    (METRIC_USAGE_EVENTS_LATE, UNIT_COUNT),
    (METRIC_INVOICES_CREATED, UNIT_COUNT),
    (METRIC_PAYMENTS_SUCCEEDED, UNIT_COUNT),
    (METRIC_PAYMENTS_FAILED, UNIT_COUNT),
    (METRIC_GATEWAY_RETRIES, UNIT_COUNT),
    (METRIC_PENDING_ATTEMPTS_RESOLVED, UNIT_COUNT),
    (METRIC_EVENTS_PUBLISHED, UNIT_COUNT),
];

/// How one invocation ended, for its document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvocationReport {
    pub latency: Duration,
    /// The handler returned `Err` (or never finished: it panicked).
    pub error: bool,
    /// The HTTP status answered, for the API: adds `Requests` and `ServerErrors`.
    pub http_status: Option<u16>,
}

/// The [`Metrics`](billing_app::ports::Metrics) port as CloudWatch EMF: counters added to during an invocation, written and
/// reset by [`EmfMetrics::flush`].
pub struct EmfMetrics {
    function: String,
    output: Mutex<Box<dyn Write + Send>>,
    counters: Counters,
}

impl EmfMetrics {
    /// Documents for `function` written to `output` (tests capture them with [`Captured`]).
    pub fn new(function: impl Into<String>, output: Box<dyn Write + Send>) -> Self {
        Self {
            function: function.into(),
            output: Mutex::new(output),
            counters: Counters::default(),
        }
    }

    /// What a Lambda uses: documents on stdout, the `Function` dimension from
    /// `AWS_LAMBDA_FUNCTION_NAME`, or `fallback` outside Lambda.
    pub fn from_env(fallback: &str) -> Self {
        let function = std::env::var(FUNCTION_NAME_VAR)
            .ok()
            .filter(|name| !name.trim().is_empty())
            .unwrap_or_else(|| fallback.to_owned());
        Self::new(function, Box::new(std::io::stdout()))
    }

    /// The `Function` dimension's value.
    pub fn function(&self) -> &str {
        &self.function
    }

    /// Starts timing an invocation; [`Invocation::finish`] flushes it. Dropped unfinished (the
    /// handler panicked), it flushes as an error.
    pub fn start(&self) -> Invocation<'_> {
        Invocation {
            metrics: self,
            started: Instant::now(),
            finished: false,
        }
    }

    /// Writes this invocation's document (one line) and resets the counters.
    pub fn flush(&self, report: &InvocationReport) {
        let mut line = match serde_json::to_vec(&self.take_document(report)) {
            Ok(line) => line,
            Err(error) => {
                tracing::warn!(%error, "the EMF document was not serialized");
                return;
            }
        };
        line.push(b'\n');
        let written = {
            let mut output = self.output.lock().unwrap_or_else(PoisonError::into_inner);
            output.write_all(&line).and_then(|()| output.flush())
        };
        if let Err(error) = written {
            tracing::warn!(%error, "the EMF document was not written");
        }
    }

    /// The document for `report`, taking (zeroing) the counters.
    fn take_document(&self, report: &InvocationReport) -> Value {
        let latency_ms = u64::try_from(report.latency.as_millis()).unwrap_or(u64::MAX);
        let mut values: Vec<(&'static str, u64)> = vec![
            (METRIC_INVOCATIONS, 1),
            (METRIC_LATENCY, latency_ms),
            (METRIC_ERRORS, u64::from(report.error)),
        ];
        if let Some(status) = report.http_status {
            values.push((METRIC_REQUESTS, 1));
            values.push((METRIC_SERVER_ERRORS, u64::from(status >= 500)));
        }
        for (name, value) in named(self.counters.take()) {
            if value != 0 {
                values.push((name, value));
            }
        }
        let declared: Vec<Value> = values
            .iter()
            .map(|(name, _)| json!({"Name": name, "Unit": unit_of(name)}))
            .collect();
        let timestamp_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| {
                u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
            });
        let mut document = Map::new();
        document.insert(
            "_aws".into(),
            json!({
                "Timestamp": timestamp_ms,
                "CloudWatchMetrics": [{
                    "Namespace": EMF_NAMESPACE,
                    "Dimensions": [[DIMENSION_FUNCTION]],
                    "Metrics": declared,
                }],
            }),
        );
        document.insert(DIMENSION_FUNCTION.into(), json!(self.function));
        for (name, value) in values {
            document.insert(name.into(), json!(value));
        }
        Value::Object(document)
    }
}

/// Each counter under its metric name.
fn named(counted: CounterValues) -> [(&'static str, u64); 10] {
    [
        (METRIC_USAGE_EVENTS_INGESTED, counted.usage_ingested),
        (METRIC_USAGE_EVENTS_COUNTED, counted.usage_counted),
        (METRIC_USAGE_EVENTS_DUPLICATE, counted.usage_duplicates),
        (METRIC_USAGE_EVENTS_LATE, counted.usage_late),
        (METRIC_INVOICES_CREATED, counted.invoices_created),
        (METRIC_PAYMENTS_SUCCEEDED, counted.payments_succeeded),
        (METRIC_PAYMENTS_FAILED, counted.payments_failed),
        (METRIC_GATEWAY_RETRIES, counted.gateway_retries),
        (
            METRIC_PENDING_ATTEMPTS_RESOLVED,
            counted.pending_attempts_resolved,
        ),
        (METRIC_EVENTS_PUBLISHED, counted.events_published),
    ]
}

fn unit_of(name: &str) -> &'static str {
    METRICS
        .iter()
        .find(|(metric, _)| *metric == name)
        .map_or(UNIT_COUNT, |(_, unit)| unit)
}

// The use cases' reports (the Metrics port) add to these counters.
impl HasCounters for EmfMetrics {
    fn counters(&self) -> &Counters {
        &self.counters
    }
}

/// One invocation being timed. Finish it with [`Invocation::finish`] or
/// [`Invocation::finish_http`]; dropped unfinished (a panic unwinding through the handler), it
/// flushes with `Errors` 1, so a crashing handler still shows in the metrics.
pub struct Invocation<'a> {
    metrics: &'a EmfMetrics,
    started: Instant,
    finished: bool,
}

impl Invocation<'_> {
    /// Flushes an event handler's invocation; `error` when it returned `Err`.
    pub fn finish(mut self, error: bool) {
        self.flush(error, None);
    }

    /// Flushes an HTTP request's invocation, answered with `status`.
    pub fn finish_http(mut self, status: u16) {
        self.flush(false, Some(status));
    }

    fn flush(&mut self, error: bool, http_status: Option<u16>) {
        self.finished = true;
        self.metrics.flush(&InvocationReport {
            latency: self.started.elapsed(),
            error,
            http_status,
        });
    }
}

impl Drop for Invocation<'_> {
    fn drop(&mut self) {
        if !self.finished {
            self.flush(true, None);
        }
    }
}

/// Runs an event handler's invocation `work`, timed, and flushes its document: `Errors` is 1
/// when it returns `Err` (or panics). The result is handed back unchanged.
pub async fn instrument<T, E>(
    metrics: &EmfMetrics,
    work: impl Future<Output = Result<T, E>>,
) -> Result<T, E> {
    let invocation = metrics.start();
    let result = work.await;
    invocation.finish(result.is_err());
    result
}

/// An in-memory output that tests read documents back from (clones share the buffer).
#[derive(Clone, Default)]
pub struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    /// An [`EmfMetrics`] for `function` writing here, and this buffer.
    pub fn metrics(function: &str) -> (Arc<EmfMetrics>, Self) {
        let captured = Self::default();
        let metrics = Arc::new(EmfMetrics::new(function, Box::new(captured.clone())));
        (metrics, captured)
    }

    /// What was written, as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(PoisonError::into_inner)).into_owned()
    }

    /// Every document written, one per line, parsed.
    pub fn documents(&self) -> Result<Vec<Value>, serde_json::Error> {
        self.text().lines().map(serde_json::from_str).collect()
    }
}

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Reads an EMF document back: checks it is one this module writes (namespace, the
/// `Function` dimension with a value, every declared metric with a whole-number value and the
/// unit of [`METRICS`]) and returns its metric values by name. For tests and tools.
pub fn read_document(document: &Value) -> Result<BTreeMap<String, u64>, String> {
    let aws = &document["_aws"];
    if !aws["Timestamp"].is_u64() {
        return Err("_aws.Timestamp is not a whole number of milliseconds".into());
    }
    let directives = aws["CloudWatchMetrics"]
        .as_array()
        .ok_or("_aws.CloudWatchMetrics is not an array")?;
    let [directive] = directives.as_slice() else {
        return Err(format!(
            "{} metric directives, expected 1",
            directives.len()
        ));
    };
    if directive["Namespace"] != EMF_NAMESPACE {
        return Err(format!("namespace {}", directive["Namespace"]));
    }
    if directive["Dimensions"] != json!([[DIMENSION_FUNCTION]]) {
        return Err(format!("dimensions {}", directive["Dimensions"]));
    }
    if document[DIMENSION_FUNCTION]
        .as_str()
        .is_none_or(str::is_empty)
    {
        return Err(format!("no {DIMENSION_FUNCTION} value"));
    }
    let declared = directive["Metrics"]
        .as_array()
        .ok_or("Metrics is not an array")?;
    let mut values = BTreeMap::new();
    for metric in declared {
        let name = metric["Name"].as_str().ok_or("a metric without a name")?;
        let unit = METRICS
            .iter()
            .find(|(known, _)| *known == name)
            .map(|(_, unit)| *unit)
            .ok_or_else(|| format!("unknown metric {name}"))?;
        if metric["Unit"] != unit {
            return Err(format!("{name} has unit {}", metric["Unit"]));
        }
        let value = document[name]
            .as_u64()
            .ok_or_else(|| format!("{name} is declared without a value"))?;
        if values.insert(name.to_owned(), value).is_some() {
            return Err(format!("{name} is declared twice"));
        }
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use billing_app::ports::Metrics;

    fn one_document(captured: &Captured) -> (Value, BTreeMap<String, u64>) {
        let documents = captured.documents().unwrap();
        assert_eq!(documents.len(), 1, "{}", captured.text());
        let values = read_document(&documents[0]).unwrap();
        (documents[0].clone(), values)
    }

    fn values(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
        pairs
            .iter()
            .map(|(name, value)| ((*name).to_owned(), *value))
            .collect()
    }

    fn report(millis: u64) -> InvocationReport {
        InvocationReport {
            latency: Duration::from_millis(millis),
            error: false,
            http_status: None,
        }
    }

    #[test]
    fn a_flush_writes_one_emf_document_with_what_was_recorded() {
        let (metrics, captured) = Captured::metrics("billing-test");
        metrics.usage_ingested(5);
        metrics.usage_ingested(2);
        metrics.usage_aggregated(4, 2, 1);
        metrics.invoices_created(3);
        metrics.payment_recorded(true);
        metrics.payment_recorded(true);
        metrics.payment_recorded(false);
        metrics.gateway_retry();
        metrics.pending_attempt_resolved();
        metrics.events_published(9);
        metrics.flush(&report(42));

        let text = captured.text();
        assert_eq!(text.matches('\n').count(), 1, "one line: {text}");
        assert!(text.ends_with('\n'));
        let (document, values_read) = one_document(&captured);
        let directive = &document["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "Billing");
        assert_eq!(directive["Dimensions"], json!([["Function"]]));
        assert_eq!(document["Function"], "billing-test");
        let now_ms = u64::try_from(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_millis(),
        )
        .unwrap();
        let timestamp = document["_aws"]["Timestamp"].as_u64().unwrap();
        assert!(
            timestamp <= now_ms && now_ms - timestamp < 60_000,
            "milliseconds since the epoch: {timestamp}"
        );
        assert_eq!(
            directive["Metrics"][1],
            json!({"Name": "Latency", "Unit": "Milliseconds"})
        );
        assert_eq!(
            values_read,
            values(&[
                ("Invocations", 1),
                ("Latency", 42),
                ("Errors", 0),
                ("UsageEventsIngested", 7),
                ("UsageEventsCounted", 4),
                ("UsageEventsDuplicate", 2),
                ("UsageEventsLate", 1),
                ("InvoicesCreated", 3),
                ("PaymentsSucceeded", 2),
                ("PaymentsFailed", 1),
                ("GatewayRetries", 1),
                ("PendingAttemptsResolved", 1),
                ("EventsPublished", 9),
            ])
        );
    }

    #[test]
    fn counters_reset_on_flush_so_each_document_is_one_invocations_delta() {
        let (metrics, captured) = Captured::metrics("billing-test");
        metrics.invoices_created(2);
        metrics.payment_recorded(false);
        metrics.flush(&report(1));
        metrics.invoices_created(1);
        metrics.flush(&report(2));
        metrics.flush(&report(3));
        let documents = captured.documents().unwrap();
        let read: Vec<_> = documents
            .iter()
            .map(|document| read_document(document).unwrap())
            .collect();
        assert_eq!(
            read,
            [
                values(&[
                    ("Invocations", 1),
                    ("Latency", 1),
                    ("Errors", 0),
                    ("InvoicesCreated", 2),
                    ("PaymentsFailed", 1),
                ]),
                values(&[
                    ("Invocations", 1),
                    ("Latency", 2),
                    ("Errors", 0),
                    ("InvoicesCreated", 1),
                ]),
                // Nothing happened but the invocation: still a document (see Decisions).
                values(&[("Invocations", 1), ("Latency", 3), ("Errors", 0)]),
            ]
        );
    }

    #[test]
    fn an_http_invocation_counts_requests_and_5xx_as_server_errors() {
        let (metrics, captured) = Captured::metrics("billing-api");
        for status in [200, 404, 500, 503] {
            metrics.flush(&InvocationReport {
                http_status: Some(status),
                ..report(7)
            });
        }
        let read: Vec<(u64, u64)> = captured
            .documents()
            .unwrap()
            .iter()
            .map(|document| {
                let values = read_document(document).unwrap();
                (values["Requests"], values["ServerErrors"])
            })
            .collect();
        assert_eq!(read, [(1, 0), (1, 0), (1, 1), (1, 1)]);
    }

    #[test]
    fn every_metric_name_is_declared_once_with_its_unit() {
        let mut names: Vec<&str> = METRICS.iter().map(|(name, _)| *name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), METRICS.len());
        // Every counter of the port is one of them, and so are the invocation metrics.
        for (name, _) in named(CounterValues::default()) {
            assert!(names.contains(&name), "{name}");
        }
        assert_eq!(unit_of(METRIC_LATENCY), "Milliseconds");
        assert_eq!(unit_of(METRIC_EVENTS_PUBLISHED), "Count");
    }

    #[test]
    fn the_function_dimension_falls_back_to_the_given_name_outside_lambda() {
        // The test runner is not a Lambda; when it is (CI in Lambda?), the variable wins.
        let metrics = EmfMetrics::from_env("billing-fallback");
        match std::env::var(FUNCTION_NAME_VAR) {
            Ok(name) if !name.trim().is_empty() => assert_eq!(metrics.function(), name),
            _ => assert_eq!(metrics.function(), "billing-fallback"),
        }
    }

    fn block_on<F: Future>(future: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap()
            .block_on(future)
    }

    #[test]
    fn instrument_counts_an_err_as_an_error_and_records_latency() {
        let (metrics, captured) = Captured::metrics("billing-test");
        let failed: Result<(), String> = block_on(instrument(&metrics, async {
            metrics.invoices_created(1);
            tokio::time::sleep(Duration::from_millis(30)).await;
            Err("the store is down".to_owned())
        }));
        assert_eq!(failed, Err("the store is down".to_owned()));
        let ok: Result<u8, String> = block_on(instrument(&metrics, async { Ok(7) }));
        assert_eq!(ok, Ok(7));

        let documents = captured.documents().unwrap();
        assert_eq!(documents.len(), 2);
        let first = read_document(&documents[0]).unwrap();
        assert_eq!(
            (
                first["Invocations"],
                first["Errors"],
                first["InvoicesCreated"]
            ),
            (1, 1, 1)
        );
        assert!(first["Latency"] >= 30, "{first:?}");
        let second = read_document(&documents[1]).unwrap();
        assert_eq!((second["Invocations"], second["Errors"]), (1, 0));
        assert!(!second.contains_key("InvoicesCreated"));
        assert!(
            !second.contains_key("Requests"),
            "an event invocation is no request"
        );
    }

    #[test]
    fn a_handler_that_panics_is_flushed_as_an_error() {
        let (metrics, captured) = Captured::metrics("billing-test");
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            block_on(instrument(&metrics, async {
                metrics.payment_recorded(true);
                if metrics.function() == "billing-test" {
                    panic!("a bug");
                }
                Ok::<(), String>(())
            }))
        }));
        assert!(panicked.is_err());
        let documents = captured.documents().unwrap();
        assert_eq!(documents.len(), 1);
        let values = read_document(&documents[0]).unwrap();
        assert_eq!((values["Errors"], values["PaymentsSucceeded"]), (1, 1));
    }

    #[test]
    fn read_document_refuses_a_declared_metric_without_a_value() {
        let document = json!({
            "_aws": {"Timestamp": 1, "CloudWatchMetrics": [{"Namespace": "Billing",
                "Dimensions": [["Function"]], "Metrics": [{"Name": "Invocations", "Unit": "Count"}]}]},
            "Function": "f",
        });
        assert_eq!(
            read_document(&document),
            Err("Invocations is declared without a value".to_owned())
        );
    }
}
