//! HTTP calls that survive the server dying under them. A request whose answer never came
//! (connection refused or reset by a SIGKILL) is "unknown": it is sent again with the same
//! Idempotency-Key once the server is back, so its outcome becomes known. A key still locked
//! by the killed request (`request_in_progress`, for the lock's minute) is handed back to the
//! caller, which either resends under a new key (requests that are safe to repeat: usage with
//! its event ids, runs, the clock) or observes the outcome.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::server::ADMIN_TOKEN;

/// How long the server may stay unreachable before the run gives up.
const UNREACHABLE_MAX: Duration = Duration::from_secs(90);
/// Each request's own limit: a debug build on DynamoDB Local answers well within it.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Default)]
pub struct Stats {
    pub requests: AtomicU64,
    /// Requests whose first answer was lost to a kill.
    pub unknown: AtomicU64,
    /// Of those, answered later by replaying the stored response (`Idempotent-Replayed`).
    pub replayed: AtomicU64,
    pub in_progress: AtomicU64,
    /// Every 5xx is a finding: the kill produces connection errors, never a 5xx.
    pub server_errors: Mutex<Vec<String>>,
}

/// What a POST finally got.
pub enum Outcome {
    Answer {
        status: u16,
        body: Value,
    },
    /// The key is held by a request that died with its process.
    InProgress,
}

#[derive(Clone)]
pub struct Api {
    http: reqwest::Client,
    pub base: String,
    pub stats: Arc<Stats>,
}

impl Api {
    pub fn new(base: String, stats: Arc<Stats>) -> Self {
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .pool_max_idle_per_host(256)
            .build()
            .unwrap_or_default();
        Self { http, base, stats }
    }

    async fn once(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
        key: Option<&str>,
    ) -> Result<(u16, bool, Value), reqwest::Error> {
        self.stats.requests.fetch_add(1, Ordering::Relaxed);
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(ADMIN_TOKEN);
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        if let Some(key) = key {
            request = request.header("idempotency-key", key);
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        let replayed = response.headers().contains_key("idempotent-replayed");
        let text = response.text().await?;
        Ok((
            status,
            replayed,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        ))
    }

    fn server_error(&self, what: String) {
        if let Ok(mut errors) = self.stats.server_errors.lock() {
            errors.push(what);
        }
    }

    /// POST with `key`, retried through kills until an answer comes.
    pub async fn post(&self, path: &str, body: &Value, key: &str) -> Result<Outcome, String> {
        let started = Instant::now();
        let mut lost = false;
        loop {
            match self
                .once(reqwest::Method::POST, path, Some(body), Some(key))
                .await
            {
                Err(error) => {
                    if !lost {
                        lost = true;
                        self.stats.unknown.fetch_add(1, Ordering::Relaxed);
                    }
                    if started.elapsed() > UNREACHABLE_MAX {
                        return Err(format!(
                            "POST {path}: no answer for {UNREACHABLE_MAX:?}: {error}"
                        ));
                    }
                    tokio::time::sleep(Duration::from_millis(30)).await;
                }
                Ok((409, _, body)) if body["error"]["code"] == "request_in_progress" => {
                    self.stats.in_progress.fetch_add(1, Ordering::Relaxed);
                    return Ok(Outcome::InProgress);
                }
                Ok((status, _, body)) if status >= 500 => {
                    self.server_error(format!("POST {path} -> {status} {body}"));
                    if started.elapsed() > UNREACHABLE_MAX {
                        return Err(format!(
                            "POST {path}: still {status} after {UNREACHABLE_MAX:?}"
                        ));
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Ok((429, _, _)) => tokio::time::sleep(Duration::from_millis(200)).await,
                Ok((status, replayed, body)) => {
                    if replayed && lost {
                        self.stats.replayed.fetch_add(1, Ordering::Relaxed);
                    }
                    return Ok(Outcome::Answer { status, body });
                }
            }
        }
    }

    /// POST of a request that is safe to repeat: a held key is replaced by a fresh one.
    pub async fn post_repeatable(
        &self,
        path: &str,
        body: &Value,
        key: &str,
    ) -> Result<(u16, Value), String> {
        let mut attempt_key = key.to_owned();
        for attempt in 1.. {
            match self.post(path, body, &attempt_key).await? {
                Outcome::Answer { status, body } => return Ok((status, body)),
                Outcome::InProgress => attempt_key = repeat_key(key, attempt),
            }
        }
        unreachable!("the loop only ends by returning")
    }

    /// A Stripe webhook delivery (no token, no Idempotency-Key: the event id is the key),
    /// delivered again when its answer is lost, as Stripe does.
    pub async fn deliver_webhook(
        &self,
        body: &str,
        signature: &str,
    ) -> Result<(u16, Value), String> {
        let started = Instant::now();
        loop {
            self.stats.requests.fetch_add(1, Ordering::Relaxed);
            let sent = self
                .http
                .post(format!("{}/v1/webhooks/stripe", self.base))
                .header("content-type", "application/json")
                .header("stripe-signature", signature)
                .body(body.to_owned())
                .send()
                .await;
            match sent {
                Ok(response) => {
                    let status = response.status().as_u16();
                    let text = response.text().await.unwrap_or_default();
                    let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
                    if status < 500 {
                        return Ok((status, value));
                    }
                    self.server_error(format!("POST /v1/webhooks/stripe -> {status} {value}"));
                }
                Err(_) => {
                    self.stats.unknown.fetch_add(1, Ordering::Relaxed);
                }
            }
            if started.elapsed() > UNREACHABLE_MAX {
                return Err(format!("webhook: no answer for {UNREACHABLE_MAX:?}"));
            }
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
    }

    /// GET, retried through kills; anything but 200 is an error.
    pub async fn get(&self, path: &str) -> Result<Value, String> {
        let started = Instant::now();
        loop {
            match self.once(reqwest::Method::GET, path, None, None).await {
                Ok((200, _, body)) => return Ok(body),
                Ok((status, _, body)) if status >= 500 => {
                    self.server_error(format!("GET {path} -> {status} {body}"));
                }
                Ok((status, _, body)) => return Err(format!("GET {path} -> {status} {body}")),
                Err(_) => {}
            }
            if started.elapsed() > UNREACHABLE_MAX {
                return Err(format!("GET {path}: no answer for {UNREACHABLE_MAX:?}"));
            }
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
    }

    /// Every item of a list endpoint, following `next_cursor`.
    pub async fn list(&self, path: &str) -> Result<Vec<Value>, String> {
        let separator = if path.contains('?') { '&' } else { '?' };
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let page = match &cursor {
                None => self.get(&format!("{path}{separator}limit=100")).await?,
                Some(c) => {
                    let c: String = form_urlencoded::byte_serialize(c.as_bytes()).collect();
                    self.get(&format!("{path}{separator}limit=100&cursor={c}"))
                        .await?
                }
            };
            if let Some(data) = page["data"].as_array() {
                items.extend(data.iter().cloned());
            }
            match page["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => return Ok(items),
            }
        }
    }
}

/// The key of the `attempt`th resend of a repeatable request first sent under `key`. Built
/// from the first key, not the last: on DynamoDB Local a resend is often killed in its turn,
/// and a key grown by a suffix per resend passed API.md's 255 characters in the 10-minute
/// soak (the API rightly refused it with a 400).
fn repeat_key(key: &str, attempt: u32) -> String {
    format!("{key}-r{attempt}")
}

#[cfg(test)]
mod tests {
    use super::repeat_key;

    #[test]
    fn a_resend_key_stays_short_however_many_resends() {
        let first = "soak-1796172996-invoice-runs-000123";
        let keys: Vec<String> = (1..=10_000)
            .map(|attempt| repeat_key(first, attempt))
            .collect();
        assert!(keys.iter().all(|key| key.len() <= first.len() + 7));
        assert!(keys.iter().all(|key| key.len() <= 255));
        let distinct: std::collections::HashSet<&String> = keys.iter().collect();
        assert_eq!(distinct.len(), keys.len(), "every resend has its own key");
    }
}
