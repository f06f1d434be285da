//! Writing numbers and dates into invoice descriptions without `core::fmt`.
//!
//! Formatting with width and padding through `core::fmt` cost over a thousand instructions per
//! date in the renewal benchmark (callgrind), more than the billing arithmetic itself. These
//! push ASCII digits directly; their output is covered by the description tests.

use chrono::{Datelike, Timelike};

use crate::period::Timestamp;

/// Appends `value` in decimal, left-padded with zeros to at least `min_width` digits.
pub(crate) fn push_padded(out: &mut String, value: u64, min_width: usize) {
    // Filled from the right, then appended in one go.
    let mut digits = [b'0'; 20]; // u64::MAX has 20 digits
    let mut start = digits.len();
    let mut rest = value;
    loop {
        start -= 1;
        #[allow(clippy::cast_possible_truncation)] // a remainder of 10 fits a u8
        let digit = (rest % 10) as u8;
        digits[start] = b'0' + digit;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    start = start.min(digits.len().saturating_sub(min_width));
    // Only ASCII digits were written.
    out.push_str(std::str::from_utf8(&digits[start..]).unwrap_or_default());
}

/// Appends `value` in decimal.
pub(crate) fn push_uint(out: &mut String, value: u64) {
    push_padded(out, value, 1);
}

/// Appends `1250000` as `1,250,000`, for descriptions people read.
pub(crate) fn push_grouped(out: &mut String, value: u64) {
    let start = out.len();
    push_uint(out, value);
    let digits = out.len() - start;
    // Insert separators from the right; at most six for a u64.
    let mut position = out.len();
    for _ in 0..(digits - 1) / 3 {
        position -= 3;
        out.insert(position, ',');
    }
}

/// Appends `2027-01-31` (UTC).
pub(crate) fn push_date(out: &mut String, at: Timestamp) {
    let year = u64::try_from(at.year()).unwrap_or(0);
    push_padded(out, year, 4);
    out.push('-');
    push_padded(out, u64::from(at.month()), 2);
    out.push('-');
    push_padded(out, u64::from(at.day()), 2);
}

/// Appends `2027-01-31 10:00:00` (UTC).
pub(crate) fn push_date_time(out: &mut String, at: Timestamp) {
    push_date(out, at);
    out.push(' ');
    push_padded(out, u64::from(at.hour()), 2);
    out.push(':');
    push_padded(out, u64::from(at.minute()), 2);
    out.push(':');
    push_padded(out, u64::from(at.second()), 2);
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn render(f: impl Fn(&mut String)) -> String {
        let mut out = String::from(">");
        f(&mut out);
        out
    }

    #[test]
    fn numbers_are_grouped_by_thousands() {
        for (value, text) in [
            (0, ">0"),
            (999, ">999"),
            (1_000, ">1,000"),
            (1_250_000, ">1,250,000"),
            (u64::MAX, ">18,446,744,073,709,551,615"),
        ] {
            assert_eq!(render(|o| push_grouped(o, value)), text);
        }
    }

    #[test]
    fn padding_applies_only_below_the_width() {
        assert_eq!(render(|o| push_padded(o, 7, 2)), ">07");
        assert_eq!(render(|o| push_padded(o, 2027, 2)), ">2027");
        assert_eq!(render(|o| push_padded(o, 0, 0)), ">0");
    }

    #[test]
    fn dates_and_times_are_iso_like() {
        let at: Timestamp = "0999-02-03T04:05:06Z".parse().unwrap();
        assert_eq!(render(|o| push_date(o, at)), ">0999-02-03");
        assert_eq!(render(|o| push_date_time(o, at)), ">0999-02-03 04:05:06");
    }
}
