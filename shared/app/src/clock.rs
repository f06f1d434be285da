//! "Now", as the billing rules see it: the system clock in production, or the stored test
//! clock (API.md `BILLING_TEST_CLOCK=true`) that only moves forward.

use async_trait::async_trait;
use billing_core::Timestamp;
use billing_core::period::whole_seconds;
use billing_ledger::Ledger;
use chrono::Utc;

use crate::error::AppError;

#[async_trait]
pub trait Clock: Send + Sync {
    async fn now(&self) -> Result<Timestamp, AppError>;
}

pub struct SystemClock;

#[async_trait]
impl Clock for SystemClock {
    async fn now(&self) -> Result<Timestamp, AppError> {
        Ok(whole_seconds(Utc::now()))
    }
}

/// The test clock, stored in the ledger so every function (and a restarted local runner) sees
/// the same instant. Until it is first set it reads as the system time of the first read,
/// which is stored so it cannot drift from then on.
pub struct TestClock {
    ledger: Ledger,
}

impl TestClock {
    pub fn new(ledger: Ledger) -> Self {
        Self { ledger }
    }
}

#[async_trait]
impl Clock for TestClock {
    async fn now(&self) -> Result<Timestamp, AppError> {
        if let Some(now) = self.ledger.test_clock().await? {
            return Ok(now);
        }
        let start = whole_seconds(Utc::now());
        match self.ledger.set_test_clock(None, start).await {
            Ok(()) => Ok(start),
            // Someone else started it first: theirs is the clock.
            Err(_) => Ok(self.ledger.test_clock().await?.unwrap_or(start)),
        }
    }
}
