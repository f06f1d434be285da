//! Usage events, validated at the edge. An event is counted once per `(user_id, id)`.

use chrono::Duration;
use serde::{Deserialize, Serialize};

use crate::error::{FieldError, Result};
use crate::period::{Timestamp, whole_seconds};
use crate::plan::validate_metric;
use crate::pricing::MAX_EVENT_QUANTITY;

/// The producer's idempotency key may be this long.
pub const MAX_EVENT_ID_LEN: usize = 255;
/// No user id is longer (ours are `usr_` and 24 more): a longer one is refused here, at the
/// edge, instead of failing the store's key limit with a 5xx when it is looked up.
pub const MAX_USER_ID_LEN: usize = 255;

/// How far ahead of the billing clock an event's timestamp may be (API.md: 5 minutes).
pub fn max_clock_skew() -> Duration {
    Duration::minutes(5)
}

/// An accepted usage event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UsageEvent {
    pub id: String,
    pub user_id: String,
    pub metric: String,
    pub quantity: u64,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub timestamp: Timestamp,
}

/// A usage event as a producer sends it; `timestamp` defaults to the billing clock's now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UsageEventDraft {
    // Bounds of `validate` (MAX_EVENT_ID_LEN bytes, plan::validate_metric, MAX_EVENT_QUANTITY).
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 255))]
    pub id: String,
    #[cfg_attr(feature = "openapi", schema(min_length = 1))]
    pub user_id: String,
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 64, pattern = "^[A-Za-z0-9_.:/-]+$")
    )]
    pub metric: String,
    #[cfg_attr(
        feature = "openapi",
        schema(minimum = 0, maximum = 1_000_000_000_000_i64)
    )]
    pub quantity: i64,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub timestamp: Option<Timestamp>,
}

impl UsageEventDraft {
    /// Checks one event; the error's `param` is relative to the event (`quantity`), for the
    /// caller to nest under `events[i]`.
    pub fn validate(self, now: Timestamp) -> Result<UsageEvent, FieldError> {
        if self.id.is_empty() || self.id.len() > MAX_EVENT_ID_LEN {
            return Err(FieldError::new(
                "id",
                "invalid_length",
                format!("must be 1 to {MAX_EVENT_ID_LEN} bytes"),
            ));
        }
        if self.user_id.is_empty() {
            return Err(FieldError::new("user_id", "required", "must not be empty"));
        }
        if self.user_id.len() > MAX_USER_ID_LEN {
            return Err(FieldError::new(
                "user_id",
                "invalid_length",
                format!("must be at most {MAX_USER_ID_LEN} bytes"),
            ));
        }
        validate_metric(&self.metric, "metric")?;
        let quantity = u64::try_from(self.quantity)
            .ok()
            .filter(|q| *q <= MAX_EVENT_QUANTITY)
            .ok_or_else(|| {
                FieldError::new(
                    "quantity",
                    "out_of_range",
                    format!("must be an integer from 0 to {MAX_EVENT_QUANTITY}"),
                )
            })?;
        let timestamp = whole_seconds(self.timestamp.unwrap_or(now));
        if timestamp > now + max_clock_skew() {
            return Err(FieldError::new(
                "timestamp",
                "timestamp_in_future",
                "is more than 5 minutes ahead of the billing clock",
            ));
        }
        Ok(UsageEvent {
            id: self.id,
            user_id: self.user_id,
            metric: self.metric,
            quantity,
            timestamp,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn now() -> Timestamp {
        "2027-01-15T12:00:00Z".parse().unwrap()
    }

    fn draft() -> UsageEventDraft {
        UsageEventDraft {
            id: "evt_1".into(),
            user_id: "usr_1".into(),
            metric: "api_calls".into(),
            quantity: 10,
            timestamp: None,
        }
    }

    #[test]
    fn a_missing_timestamp_is_the_billing_clock() {
        assert_eq!(draft().validate(now()).unwrap().timestamp, now());
    }

    #[test]
    fn quantity_is_bounded_both_ways() {
        for (quantity, ok) in [
            (0, true),
            (1_000_000_000_000, true),
            (-1, false),
            (1_000_000_000_001, false),
        ] {
            let mut event = draft();
            event.quantity = quantity;
            let result = event.validate(now());
            assert_eq!(result.is_ok(), ok, "{quantity}");
            if let Err(e) = result {
                assert_eq!(e.param, "quantity");
            }
        }
    }

    #[test]
    fn five_minutes_ahead_is_accepted_one_second_more_is_not() {
        let mut event = draft();
        event.timestamp = Some(now() + max_clock_skew());
        assert!(event.clone().validate(now()).is_ok());
        event.timestamp = Some(now() + max_clock_skew() + Duration::seconds(1));
        let error = event.validate(now()).unwrap_err();
        assert_eq!(
            (error.param.as_str(), error.code),
            ("timestamp", "timestamp_in_future")
        );
    }

    #[test]
    fn a_user_id_longer_than_any_id_is_refused_at_the_edge() {
        let mut event = draft();
        event.user_id = "u".repeat(MAX_USER_ID_LEN);
        assert!(event.clone().validate(now()).is_ok());
        event.user_id.push('u');
        let error = event.validate(now()).unwrap_err();
        assert_eq!(
            (error.param.as_str(), error.code),
            ("user_id", "invalid_length")
        );
    }

    #[test]
    fn bad_fields_are_named_and_nest_under_the_batch_index() {
        let mut event = draft();
        event.metric = "bad metric".into();
        let error = event.validate(now()).unwrap_err().within("events[3]");
        assert_eq!(error.param, "events[3].metric");
        let mut event = draft();
        event.id = String::new();
        assert_eq!(event.validate(now()).unwrap_err().param, "id");
    }
}
