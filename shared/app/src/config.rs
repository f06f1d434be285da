//! Settings of the use cases that every entry point reads the same way (billing-local and
//! every Lambda), each validated when the process starts, with the variable named in the error.

use billing_core::payment::{DunningSchedule, MAX_RETRIES};
use chrono::Duration;

use crate::error::AppError;

/// When the retries of a failed payment are due, after the invoice's finalization
/// (BILLING.md: "+ 1 day, + 3 days, + 5 days (configurable)"): comma-separated durations as
/// operators write them, `1d,3d,5d`, `12h,2d`, `30m` (humantime's units).
pub const PAYMENT_RETRY_SCHEDULE_VAR: &str = "BILLING_PAYMENT_RETRY_SCHEDULE";

/// The dunning schedule `lookup` configures: BILLING.md's when the variable is unset or empty.
pub fn dunning_from_lookup(
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<DunningSchedule, AppError> {
    let Some(text) = lookup(PAYMENT_RETRY_SCHEDULE_VAR).filter(|t| !t.trim().is_empty()) else {
        return Ok(DunningSchedule::default());
    };
    let invalid = |message: String| AppError::Config {
        variable: PAYMENT_RETRY_SCHEDULE_VAR,
        message,
    };
    let offsets = text
        .split(',')
        .map(|part| {
            let part = part.trim();
            let parsed = humantime::parse_duration(part)
                .map_err(|error| invalid(format!("{part:?} is not a duration ({error})")))?;
            Duration::from_std(parsed).map_err(|_| invalid(format!("{part:?} is too long")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    DunningSchedule::new(offsets).ok_or_else(|| {
        invalid(format!(
            "{text:?}: the retries must be after finalization, in increasing order, at most {MAX_RETRIES}"
        ))
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn schedule(value: &str) -> Result<DunningSchedule, AppError> {
        dunning_from_lookup(|name| (name == PAYMENT_RETRY_SCHEDULE_VAR).then(|| value.to_owned()))
    }

    #[test]
    fn unset_is_billing_md_and_durations_are_offsets_from_finalization() {
        let default = dunning_from_lookup(|_| None).unwrap();
        assert_eq!(default, DunningSchedule::default());
        assert_eq!(schedule("").unwrap(), DunningSchedule::default());
        assert_eq!(schedule("1d, 3d,5d").unwrap(), DunningSchedule::default());
        let custom = schedule("12h,2d").unwrap();
        assert_eq!(custom.max_attempts(), 3);
        let finalized: billing_core::Timestamp = "2027-01-01T00:00:00Z".parse().unwrap();
        assert_eq!(
            custom.next_attempt_at(finalized, 1),
            Some(finalized + Duration::hours(12))
        );
        assert_eq!(
            custom.next_attempt_at(finalized, 2),
            Some(finalized + Duration::days(2))
        );
        assert_eq!(custom.next_attempt_at(finalized, 3), None);
    }

    #[test]
    fn a_bad_schedule_is_refused_naming_the_variable() {
        for bad in ["soon", "3d,1d", "0s", "1d,1d", &vec!["1h"; 21].join(",")] {
            let error = schedule(bad).unwrap_err();
            assert!(
                error.to_string().starts_with(PAYMENT_RETRY_SCHEDULE_VAR),
                "{bad}: {error}"
            );
        }
    }
}
