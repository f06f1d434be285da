//! The one backoff policy of the workspace, for every retry that waits: exponential from a
//! base, capped at a named maximum, with full jitter (the wait is drawn uniformly between zero
//! and the cap, so callers that failed together do not retry together). Pure: the caller
//! gives the random number.
//!
//! Its users, each with its limits named where it retries: a charge's transient gateway errors
//! inside one attempt ([`crate::payment::TransientRetry`], 100 ms doubling up to 2 s), the use
//! cases' lost optimistic races (`billing_app::support`, 2 ms doubling up to 100 ms), the SQS
//! and EventBridge adapters' failed calls and entries (`billing_aws::deliver_all`, 50 ms
//! doubling up to 200 ms). How often to retry is each caller's own limit. (BILLING.md's dunning
//! schedule, days between payment attempts, is a billing rule, not a backoff:
//! [`crate::payment::DunningSchedule`].)

/// Waits before retries: before retry `n` (1-based), at most `min(max_ms, base_ms × 2^(n−1))`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The cap of the wait before the first retry.
    pub base_ms: u64,
    /// The cap never grows beyond this.
    pub max_ms: u64,
}

impl Backoff {
    pub const fn new(base_ms: u64, max_ms: u64) -> Self {
        Self { base_ms, max_ms }
    }

    /// The longest wait before retry `retry` (1-based; 0 counts as 1).
    pub fn cap_ms(&self, retry: u32) -> u64 {
        let exponent = retry.saturating_sub(1).min(63);
        self.base_ms
            .saturating_mul(1_u64.checked_shl(exponent).unwrap_or(u64::MAX))
            .min(self.max_ms)
    }

    /// The wait before retry `retry`: `random mod (cap + 1)`, where `random` is any uniformly
    /// random number, so every wait from 0 to the cap is as likely.
    pub fn delay_ms(&self, retry: u32, random: u64) -> u64 {
        random % (self.cap_ms(retry) + 1)
    }

    /// [`Backoff::delay_ms`] as a duration.
    pub fn delay(&self, retry: u32, random: u64) -> std::time::Duration {
        std::time::Duration::from_millis(self.delay_ms(retry, random))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_doubles_from_the_base_up_to_the_maximum() {
        let backoff = Backoff::new(50, 200);
        let caps: Vec<u64> = (1..=5).map(|n| backoff.cap_ms(n)).collect();
        assert_eq!(caps, [50, 100, 200, 200, 200]);
        assert_eq!(backoff.cap_ms(0), 50);
        assert_eq!(Backoff::new(2, 100).cap_ms(1000), 100, "no overflow");
        assert_eq!(Backoff::new(u64::MAX, u64::MAX).cap_ms(3), u64::MAX);
    }

    #[test]
    fn the_wait_is_anything_from_zero_to_the_cap() {
        let backoff = Backoff::new(100, 2_000);
        assert_eq!(backoff.delay_ms(1, 0), 0);
        assert_eq!(backoff.delay_ms(1, 100), 100);
        assert_eq!(backoff.delay_ms(1, 101), 0);
        assert_eq!(backoff.delay_ms(2, 200), 200);
        assert!((0..10_000).all(|r| backoff.delay_ms(3, r * 7919) <= 400));
        assert_eq!(backoff.delay(2, 150), std::time::Duration::from_millis(150));
    }
}
