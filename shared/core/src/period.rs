//! Billing periods: computed from an anchor, never from the previous period's end.

use chrono::{DateTime, Duration, Months, SubsecRound, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{BillingError, Result};

/// An instant on the billing clock: UTC, second precision.
pub type Timestamp = DateTime<Utc>;

/// Drops sub-second precision; every instant the rules see has whole seconds.
pub fn whole_seconds(at: Timestamp) -> Timestamp {
    at.trunc_subsecs(0)
}

/// How often a plan's fixed fee recurs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Interval {
    Month,
    Year,
}

impl Interval {
    pub fn months(self) -> u32 {
        match self {
            Self::Month => 1,
            Self::Year => 12,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Month => "month",
            Self::Year => "year",
        }
    }

    /// "monthly" / "yearly", for invoice line descriptions.
    pub fn adjective(self) -> &'static str {
        match self {
            Self::Month => "monthly",
            Self::Year => "yearly",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "month" => Some(Self::Month),
            "year" => Some(Self::Year),
            _ => None,
        }
    }
}

/// A half-open interval of time `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Period {
    pub start: Timestamp,
    pub end: Timestamp,
}

impl Period {
    pub fn new(start: Timestamp, end: Timestamp) -> Self {
        Self { start, end }
    }

    /// Length in whole seconds (what proration counts).
    pub fn seconds(&self) -> i64 {
        (self.end - self.start).num_seconds()
    }

    pub fn contains(&self, at: Timestamp) -> bool {
        self.start <= at && at < self.end
    }
}

/// `anchor + months`, keeping the anchor's day of month and time of day, clamped to the last
/// day of the target month (Jan 31 + 1 month = Feb 28, or Feb 29 in a leap year).
pub fn add_months(anchor: Timestamp, months: u32) -> Result<Timestamp> {
    anchor
        .checked_add_months(Months::new(months))
        .ok_or(BillingError::DateOutOfRange {
            what: "billing period",
        })
}

pub fn add_days(at: Timestamp, days: u32) -> Result<Timestamp> {
    at.checked_add_signed(Duration::days(i64::from(days)))
        .ok_or(BillingError::DateOutOfRange {
            what: "trial period",
        })
}

/// Period k of a subscription anchored at `anchor`: `[A + k·interval, A + (k+1)·interval)`.
pub fn nth_period(anchor: Timestamp, interval: Interval, k: u32) -> Result<Period> {
    let step = interval.months();
    let start_months = k.checked_mul(step).ok_or(BillingError::DateOutOfRange {
        what: "billing period",
    })?;
    let end_months = start_months
        .checked_add(step)
        .ok_or(BillingError::DateOutOfRange {
            what: "billing period",
        })?;
    Ok(Period::new(
        add_months(anchor, start_months)?,
        add_months(anchor, end_months)?,
    ))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    #[test]
    fn periods_are_computed_from_the_anchor_not_chained() {
        // Chaining Feb 28 + 1 month would give Mar 28; from the anchor it is Mar 31.
        let anchor = at("2027-01-31T00:00:00Z");
        let second = nth_period(anchor, Interval::Month, 1).unwrap();
        assert_eq!(second.start, at("2027-02-28T00:00:00Z"));
        assert_eq!(second.end, at("2027-03-31T00:00:00Z"));
    }

    #[test]
    fn far_future_periods_are_an_error_not_a_panic() {
        let anchor = at("2027-01-31T00:00:00Z");
        assert!(nth_period(anchor, Interval::Year, u32::MAX / 12).is_err());
        assert!(nth_period(anchor, Interval::Year, u32::MAX).is_err());
    }

    #[test]
    fn whole_seconds_drops_fractions() {
        assert_eq!(
            whole_seconds(at("2027-01-01T00:00:00.999Z")),
            at("2027-01-01T00:00:00Z")
        );
    }
}
