//! Instants on the wire (RFC 3339, second precision) and in the model (epoch seconds).

use chrono::{DateTime, SecondsFormat, Utc};

pub const DAY: i64 = 86_400;

pub fn rfc3339(epoch: i64) -> String {
    DateTime::<Utc>::from_timestamp(epoch, 0)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Secs, true)
}

pub fn parse(value: &serde_json::Value) -> Option<i64> {
    DateTime::parse_from_rfc3339(value.as_str()?)
        .ok()
        .map(|t| t.timestamp())
}

/// 2027-01-01T00:00:00Z, where every run's clock starts.
pub const START: i64 = 1_798_761_600;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_start_is_new_year_2027_and_round_trips() {
        assert_eq!(rfc3339(START), "2027-01-01T00:00:00Z");
        assert_eq!(
            parse(&serde_json::json!("2027-01-01T00:00:00Z")),
            Some(START)
        );
    }
}
