//! Per-token rate limiting of `POST /v1/usage` (API.md: 429 with `Retry-After`).
//!
//! [`RateLimiter`] is the port; [`TokenBucketLimiter`] keeps the buckets in this process, which
//! is exact for the local runner (one process). In AWS every Lambda instance would hold its
//! own buckets, so a client spread over N instances would get up to N times the rate: there
//! [`TableWindowLimiter`] counts in the table instead, plugged in through
//! [`crate::ApiState::with_rate_limiter`] by the Lambda's `main.rs`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use async_trait::async_trait;

/// Bucket units per request: integer micro-requests, so refills need no floating point.
const UNITS_PER_REQUEST: u64 = 1_000_000;
/// Most buckets kept; full (idle) buckets are dropped beyond it. Only authenticated tokens
/// get a bucket, so this is rarely reached.
const BUCKETS_MAX: usize = 10_000;

/// Refused: retry after this many whole seconds (at least 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryAfter {
    pub seconds: u64,
}

#[async_trait]
pub trait RateLimiter: Send + Sync {
    /// Takes one request from `key`'s allowance, or says when to retry.
    async fn acquire(&self, key: &str) -> Result<(), RetryAfter>;
}

struct Bucket {
    units: u64,
    refilled_at: Instant,
}

/// A token bucket per key: `rate_per_second` requests per second, bursts of twice that.
pub struct TokenBucketLimiter {
    rate_per_second: u64,
    capacity_units: u64,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl TokenBucketLimiter {
    pub fn new(rate_per_second: u32) -> Self {
        let rate_per_second = u64::from(rate_per_second.max(1));
        Self {
            rate_per_second,
            capacity_units: rate_per_second
                .saturating_mul(2)
                .saturating_mul(UNITS_PER_REQUEST),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// [`RateLimiter::acquire`] at a given instant (tests drive time with it).
    pub fn acquire_at(&self, key: &str, now: Instant) -> Result<(), RetryAfter> {
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if buckets.len() >= BUCKETS_MAX && !buckets.contains_key(key) {
            let (rate, capacity) = (self.rate_per_second, self.capacity_units);
            buckets.retain(|_, bucket| refilled(bucket, now, rate, capacity) < capacity);
        }
        // Look up before inserting: the key is copied only for a new bucket.
        if !buckets.contains_key(key) {
            buckets.insert(
                key.to_owned(),
                Bucket {
                    units: self.capacity_units,
                    refilled_at: now,
                },
            );
        }
        let Some(bucket) = buckets.get_mut(key) else {
            // Inserted just above, under the same lock: cannot happen.
            return Ok(());
        };
        bucket.units = refilled(bucket, now, self.rate_per_second, self.capacity_units);
        bucket.refilled_at = now;
        if bucket.units >= UNITS_PER_REQUEST {
            bucket.units -= UNITS_PER_REQUEST;
            return Ok(());
        }
        // Units come back at `rate` per microsecond: wait for the missing ones, rounded up.
        let missing = UNITS_PER_REQUEST - bucket.units;
        let wait_micros = missing.div_ceil(self.rate_per_second);
        Err(RetryAfter {
            seconds: wait_micros.div_ceil(1_000_000).max(1),
        })
    }
}

/// The bucket's units at `now`: one request's worth of units per `1 / rate` seconds, i.e.
/// `rate` units per microsecond, capped at the burst.
fn refilled(bucket: &Bucket, now: Instant, rate_per_second: u64, capacity: u64) -> u64 {
    let elapsed_micros = u64::try_from(
        now.saturating_duration_since(bucket.refilled_at)
            .as_micros(),
    )
    .unwrap_or(u64::MAX);
    bucket
        .units
        .saturating_add(elapsed_micros.saturating_mul(rate_per_second))
        .min(capacity)
}

#[async_trait]
impl RateLimiter for TokenBucketLimiter {
    async fn acquire(&self, key: &str) -> Result<(), RetryAfter> {
        self.acquire_at(key, Instant::now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_burst_of_twice_the_rate_passes_then_requests_wait_for_refill() {
        let limiter = TokenBucketLimiter::new(2);
        let start = Instant::now();
        for _ in 0..4 {
            assert_eq!(limiter.acquire_at("tok_a", start), Ok(()));
        }
        assert_eq!(
            limiter.acquire_at("tok_a", start),
            Err(RetryAfter { seconds: 1 })
        );
        // Another token has its own bucket.
        assert_eq!(limiter.acquire_at("tok_b", start), Ok(()));
        // Half a second refills one request at 2/s.
        let later = start + Duration::from_millis(500);
        assert_eq!(limiter.acquire_at("tok_a", later), Ok(()));
        assert!(limiter.acquire_at("tok_a", later).is_err());
    }

    #[test]
    fn slow_rates_ask_for_a_longer_wait() {
        let limiter = TokenBucketLimiter::new(1);
        let start = Instant::now();
        assert!(limiter.acquire_at("k", start).is_ok());
        assert!(limiter.acquire_at("k", start).is_ok());
        assert_eq!(
            limiter.acquire_at("k", start),
            Err(RetryAfter { seconds: 1 })
        );
        let refused = limiter.acquire_at("k", start + Duration::from_millis(100));
        assert_eq!(refused, Err(RetryAfter { seconds: 1 }));
    }
}

/// The limiter for AWS, where a client's requests land on many Lambda instances: the count
/// lives in the table, one item per key and window (`ADD count 1`, one write per request),
/// gone by TTL. A window of 2 seconds admits `2 × rate` requests: the token bucket's sustained
/// rate and its burst.
pub struct TableWindowLimiter {
    table: std::sync::Arc<dyn billing_store::Table>,
    per_window: u64,
}

/// Length of a counting window, in seconds.
const WINDOW_SECONDS: i64 = 2;
/// How long a window's counter outlives it (TTL), in seconds.
const WINDOW_ITEM_TTL_SECONDS: i64 = 60;

impl TableWindowLimiter {
    pub fn new(table: std::sync::Arc<dyn billing_store::Table>, rate_per_second: u32) -> Self {
        Self {
            table,
            per_window: u64::from(rate_per_second.max(1)) * 2,
        }
    }

    /// [`RateLimiter::acquire`] at a given epoch second (tests drive time with it).
    pub async fn acquire_at(&self, key: &str, now_epoch: i64) -> Result<(), RetryAfter> {
        use billing_store::{AttributeValue, Condition, Key, Update};
        let window = now_epoch - now_epoch.rem_euclid(WINDOW_SECONDS);
        let update = Update::new().add("count", 1).set(
            "expires_at",
            AttributeValue::N((window + WINDOW_ITEM_TTL_SECONDS).to_string()),
        );
        let counter = Key::new(format!("RATE#{key}"), window.to_string());
        match self.table.update(&counter, update, Condition::Always).await {
            Ok(item) => {
                let count = match item.get("count") {
                    Some(AttributeValue::N(text)) => text.parse::<u64>().unwrap_or(0),
                    _ => 0,
                };
                if count > self.per_window {
                    let seconds = u64::try_from(window + WINDOW_SECONDS - now_epoch)
                        .unwrap_or(1)
                        .max(1);
                    return Err(RetryAfter { seconds });
                }
                Ok(())
            }
            // Fail open: a store that cannot count cannot take the usage either, and the
            // request will say so itself; refusing here would only hide the cause.
            Err(error) => {
                tracing::warn!("rate limiter could not count: {error}");
                Ok(())
            }
        }
    }
}

#[async_trait]
impl RateLimiter for TableWindowLimiter {
    async fn acquire(&self, key: &str) -> Result<(), RetryAfter> {
        self.acquire_at(key, billing_store::now_epoch_seconds())
            .await
    }
}

#[cfg(test)]
mod table_window_tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[tokio::test]
    async fn a_shared_window_admits_twice_the_rate_then_says_when_to_retry() {
        let dir = tempfile::tempdir().unwrap();
        let table: std::sync::Arc<dyn billing_store::Table> =
            std::sync::Arc::new(billing_store::EmbeddedTable::open(dir.path()).unwrap());
        // Two "instances" sharing one table count together.
        let (a, b) = (
            TableWindowLimiter::new(table.clone(), 2),
            TableWindowLimiter::new(table, 2),
        );
        let now = 1_800_000_000; // even: the start of a window
        for limiter in [&a, &b, &a, &b] {
            assert!(limiter.acquire_at("tok_1", now).await.is_ok());
        }
        assert_eq!(
            a.acquire_at("tok_1", now + 1).await,
            Err(RetryAfter { seconds: 1 })
        );
        assert_eq!(
            b.acquire_at("tok_1", now).await,
            Err(RetryAfter { seconds: 2 })
        );
        assert!(
            a.acquire_at("tok_2", now).await.is_ok(),
            "another token has its own allowance"
        );
        assert!(
            b.acquire_at("tok_1", now + 2).await.is_ok(),
            "a new window starts afresh"
        );
    }
}
