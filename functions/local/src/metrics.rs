//! `/metrics` in Prometheus text: requests and latency by route and status, and the business
//! counters the use cases report through the app's metrics port.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use billing_app::counters::{Counters, HasCounters};

/// Latency histogram bucket bounds, in seconds.
const BUCKETS_SECONDS: [f64; 10] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0];

#[derive(Default)]
struct RouteStats {
    count: u64,
    /// Cumulative counts per bucket, as Prometheus wants them.
    buckets: [u64; BUCKETS_SECONDS.len()],
    sum_micros: u64,
}

#[derive(Default)]
pub struct PrometheusMetrics {
    requests: Mutex<BTreeMap<(String, String, u16), RouteStats>>,
    counters: Counters,
}

// The use cases' reports (the Metrics port) add to these counters.
impl HasCounters for PrometheusMetrics {
    fn counters(&self) -> &Counters {
        &self.counters
    }
}

impl PrometheusMetrics {
    fn observe(&self, method: &str, route: &str, status: u16, micros: u64) {
        let mut requests = self
            .requests
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let stats = requests
            .entry((method.to_owned(), route.to_owned(), status))
            .or_default();
        stats.count += 1;
        stats.sum_micros += micros;
        for (bucket, bound) in stats.buckets.iter_mut().zip(BUCKETS_SECONDS) {
            // Bounds are fixed small constants; comparing in microseconds avoids float money-like math.
            #[allow(
                clippy::float_arithmetic,
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss
            )]
            let bound_micros = (bound * 1_000_000.0) as u64;
            if micros <= bound_micros {
                *bucket += 1;
            }
        }
    }

    /// The exposition text.
    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str("# HELP billing_http_requests_total HTTP requests by route and status.\n# TYPE billing_http_requests_total counter\n");
        let requests = self
            .requests
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for ((method, route, status), stats) in requests.iter() {
            out.push_str(&format!("billing_http_requests_total{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}} {}\n", stats.count));
        }
        out.push_str("# HELP billing_http_request_duration_seconds Request latency by route and status.\n# TYPE billing_http_request_duration_seconds histogram\n");
        for ((method, route, status), stats) in requests.iter() {
            let labels = format!("method=\"{method}\",route=\"{route}\",status=\"{status}\"");
            for (bound, count) in BUCKETS_SECONDS.iter().zip(stats.buckets) {
                out.push_str(&format!("billing_http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {count}\n"));
            }
            out.push_str(&format!(
                "billing_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}\n",
                stats.count
            ));
            out.push_str(&format!(
                "billing_http_request_duration_seconds_sum{{{labels}}} {}.{:06}\n",
                stats.sum_micros / 1_000_000,
                stats.sum_micros % 1_000_000
            ));
            out.push_str(&format!(
                "billing_http_request_duration_seconds_count{{{labels}}} {}\n",
                stats.count
            ));
        }
        drop(requests);
        let counted = self.counters.read();
        for (name, help, value) in [
            (
                "billing_usage_events_ingested_total",
                "Usage events accepted by the API.",
                counted.usage_ingested,
            ),
            (
                "billing_usage_events_aggregated_total",
                "Usage events counted by aggregation.",
                counted.usage_counted,
            ),
            (
                "billing_usage_events_duplicate_total",
                "Usage events dropped as duplicates.",
                counted.usage_duplicates,
            ),
            (
                "billing_usage_events_late_total",
                "Usage events aggregated after their period was invoiced.",
                counted.usage_late,
            ),
            (
                "billing_invoices_created_total",
                "Invoices finalized.",
                counted.invoices_created,
            ),
            (
                "billing_gateway_retries_total",
                "Transient gateway errors retried inside an attempt.",
                counted.gateway_retries,
            ),
            (
                "billing_pending_attempts_resolved_total",
                "Payment attempts left pending by a crash, asked again with their own request.",
                counted.pending_attempts_resolved,
            ),
            (
                "billing_events_published_total",
                "Domain events handed to the event sink.",
                counted.events_published,
            ),
        ] {
            out.push_str(&format!(
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}\n"
            ));
        }
        out.push_str("# HELP billing_payments_total Payment attempts by outcome.\n# TYPE billing_payments_total counter\n");
        out.push_str(&format!(
            "billing_payments_total{{outcome=\"succeeded\"}} {}\n",
            counted.payments_succeeded
        ));
        out.push_str(&format!(
            "billing_payments_total{{outcome=\"failed\"}} {}\n",
            counted.payments_failed
        ));
        out
    }
}

/// Records each request under its route template (`/v1/invoices/{id}`), not its raw path.
pub async fn record(
    State(metrics): State<std::sync::Arc<PrometheusMetrics>>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let method = request.method().to_string();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let response = next.run(request).await;
    let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
    metrics.observe(&method, &route, response.status().as_u16(), micros);
    response
}
