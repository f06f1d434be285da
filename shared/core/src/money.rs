//! Money: integer cents, exact decimal unit prices, one rounding rule.
//!
//! Unit prices are fixed-point integers with 12 fractional digits of a cent ("picocents"),
//! held in `i128`. That is exact for every price BILLING.md allows (up to 12 fractional
//! digits), and `quantity × price` of the largest quantity and the largest price fits in
//! `i128` with room to spare, so pricing never rounds early and never overflows silently.
//! (A general decimal type would also be exact here; a fixed scale is simpler and faster.)

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{BillingError, FieldError, Result};

/// An amount of money in whole cents of the plan's currency. Can be negative (credits).
pub type Cents = i64;

/// Fractional digits a unit price may carry, per BILLING.md.
pub const UNIT_PRICE_SCALE_DIGITS: u32 = 12;
const PICOCENTS_PER_CENT: u64 = 1_000_000_000_000;

/// The largest unit price accepted: 1,000,000¢ ($10,000) per unit. With quantities up to
/// 10^12 per event this keeps a single event's line within i64 cents; larger totals are
/// reported as [`BillingError::AmountOverflow`], never wrapped.
pub const MAX_UNIT_PRICE_CENTS: u64 = 1_000_000;

/// The largest fixed or flat amount a plan may carry: 10^12¢ ($10 billion).
pub const MAX_AMOUNT_CENTS: Cents = 1_000_000_000_000;

/// A non-negative price per unit, in cents, with up to 12 fractional digits (`"0.05"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct UnitPrice {
    /// ≤ 10^18, so a `u64`: formatting and comparing it needs no 128-bit division.
    picocents: u64,
}

impl UnitPrice {
    pub const ZERO: UnitPrice = UnitPrice { picocents: 0 };

    /// Parses `unit_amount_decimal`: digits, optionally a point and 1–12 more digits.
    /// No sign, no exponent, no spaces: the wire format is exact or it is refused.
    pub fn parse(text: &str) -> Result<Self, FieldError> {
        let invalid = |message: &str| FieldError::new("", "invalid_decimal", message);
        let (whole, fraction) = match text.split_once('.') {
            Some((whole, fraction)) => (whole, Some(fraction)),
            None => (text, None),
        };
        if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid(
                "must be a non-negative decimal string of cents, such as \"0.05\"",
            ));
        }
        let fraction = fraction.unwrap_or("");
        if text.contains('.') && fraction.is_empty() {
            return Err(invalid("must have digits after the decimal point"));
        }
        if !fraction.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid(
                "must be a non-negative decimal string of cents, such as \"0.05\"",
            ));
        }
        if fraction.len() > UNIT_PRICE_SCALE_DIGITS as usize {
            return Err(FieldError::new(
                "",
                "too_many_decimals",
                "may have at most 12 fractional digits",
            ));
        }
        let whole = whole.trim_start_matches('0');
        // More than 7 whole digits is over the maximum whatever they are; checking the length
        // first keeps the parse below from overflowing on absurd input.
        if whole.len() > 7 {
            return Err(out_of_range());
        }
        let whole_value: u64 = if whole.is_empty() {
            0
        } else {
            whole.parse().map_err(|_| out_of_range())?
        };
        let mut fraction_value: u64 = 0;
        for digit in fraction.bytes() {
            fraction_value = fraction_value * 10 + u64::from(digit - b'0');
        }
        // fraction.len() ≤ 12 was checked above, so the shift is 0..=12.
        let missing = UNIT_PRICE_SCALE_DIGITS
            .saturating_sub(u32::try_from(fraction.len()).unwrap_or(UNIT_PRICE_SCALE_DIGITS));
        let picocents = whole_value * PICOCENTS_PER_CENT + fraction_value * 10_u64.pow(missing);
        if picocents > MAX_UNIT_PRICE_CENTS * PICOCENTS_PER_CENT {
            return Err(out_of_range());
        }
        Ok(Self { picocents })
    }

    /// Whole cents as a unit price (`from_cents(3)` is `"3"`).
    pub fn from_cents(cents: u32) -> Self {
        Self {
            picocents: u64::from(cents) * PICOCENTS_PER_CENT,
        }
    }

    pub fn is_zero(self) -> bool {
        self.picocents == 0
    }

    /// `quantity × price + flat`, rounded once to whole cents, half away from zero.
    pub fn line_amount(self, quantity: u64, flat_cents: Cents) -> Result<Cents> {
        // quantity < 2^64 and picocents ≤ 10^18, so the product stays below 2^124: no overflow.
        let scale = i128::from(PICOCENTS_PER_CENT);
        let exact =
            i128::from(quantity) * i128::from(self.picocents) + i128::from(flat_cents) * scale;
        cents_from_i128(round_half_away_from_zero(exact, scale), "usage line amount")
    }
}

fn out_of_range() -> FieldError {
    FieldError::new(
        "",
        "out_of_range",
        format!("must be at most {MAX_UNIT_PRICE_CENTS} cents per unit"),
    )
}

impl UnitPrice {
    /// Appends the canonical form (no trailing fractional zeros: `0.05`, `2`).
    pub(crate) fn push_to(self, out: &mut String) {
        crate::text::push_uint(out, self.picocents / PICOCENTS_PER_CENT);
        let mut fraction = self.picocents % PICOCENTS_PER_CENT;
        if fraction == 0 {
            return;
        }
        let mut width = UNIT_PRICE_SCALE_DIGITS as usize;
        while fraction.is_multiple_of(10) {
            fraction /= 10;
            width -= 1;
        }
        out.push('.');
        crate::text::push_padded(out, fraction, width);
    }
}

impl fmt::Display for UnitPrice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut text = String::with_capacity(24);
        self.push_to(&mut text);
        f.write_str(&text)
    }
}

impl FromStr for UnitPrice {
    type Err = FieldError;
    fn from_str(s: &str) -> Result<Self, FieldError> {
        Self::parse(s)
    }
}

impl Serialize for UnitPrice {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for UnitPrice {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(|e| serde::de::Error::custom(e.message))
    }
}

/// `numerator / denominator` rounded to the nearest integer, ties away from zero.
/// `denominator` must be positive.
pub fn round_half_away_from_zero(numerator: i128, denominator: i128) -> i128 {
    debug_assert!(denominator > 0);
    // 128-bit division is a library call; nearly every real line fits 64 bits.
    if let (Ok(n), Ok(d)) = (i64::try_from(numerator), i64::try_from(denominator)) {
        let (quotient, remainder) = (n / d, n % d);
        let rounded = if i128::from(remainder.unsigned_abs()) * 2 >= i128::from(d) {
            quotient + n.signum()
        } else {
            quotient
        };
        return i128::from(rounded);
    }
    let quotient = numerator / denominator;
    let remainder = numerator % denominator;
    if 2 * remainder.abs() >= denominator {
        quotient + numerator.signum()
    } else {
        quotient
    }
}

pub(crate) fn cents_from_i128(value: i128, what: &'static str) -> Result<Cents> {
    Cents::try_from(value).map_err(|_| BillingError::AmountOverflow { what })
}

/// Sums line amounts without wrapping.
pub(crate) fn checked_sum(
    amounts: impl IntoIterator<Item = Cents>,
    what: &'static str,
) -> Result<Cents> {
    amounts.into_iter().try_fold(0_i64, |total, amount| {
        total
            .checked_add(amount)
            .ok_or(BillingError::AmountOverflow { what })
    })
}

/// A lowercase ISO 4217 code (`usd`). No conversion happens anywhere: one currency per plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Currency([u8; 3]);

impl Currency {
    pub const USD: Currency = Currency(*b"usd");

    /// Accepts three ASCII letters in either case and stores them lowercase.
    pub fn parse(text: &str) -> Result<Self, FieldError> {
        let bytes = text.as_bytes();
        if bytes.len() != 3 || !bytes.iter().all(u8::is_ascii_alphabetic) {
            return Err(FieldError::new(
                "currency",
                "invalid_currency",
                "must be a three-letter ISO 4217 code such as \"usd\"",
            ));
        }
        Ok(Self([
            bytes[0].to_ascii_lowercase(),
            bytes[1].to_ascii_lowercase(),
            bytes[2].to_ascii_lowercase(),
        ]))
    }

    pub fn as_str(&self) -> &str {
        // Constructed only from ASCII letters.
        std::str::from_utf8(&self.0).unwrap_or("???")
    }
}

impl Default for Currency {
    fn default() -> Self {
        Self::USD
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Currency {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(|e| serde::de::Error::custom(e.message))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn unit_prices_parse_exactly_and_print_canonically() {
        for (input, printed) in [
            ("0", "0"),
            ("0.05", "0.05"),
            ("0.050", "0.05"),
            ("1", "1"),
            ("007.5", "7.5"),
            ("0.000000000001", "0.000000000001"),
            ("1000000", "1000000"),
        ] {
            assert_eq!(
                UnitPrice::parse(input).unwrap().to_string(),
                printed,
                "{input}"
            );
        }
    }

    #[test]
    fn malformed_unit_prices_are_refused_with_a_code() {
        for (input, code) in [
            ("", "invalid_decimal"),
            ("-1", "invalid_decimal"),
            ("+1", "invalid_decimal"),
            ("1e3", "invalid_decimal"),
            (".5", "invalid_decimal"),
            ("5.", "invalid_decimal"),
            ("1.2.3", "invalid_decimal"),
            (" 1", "invalid_decimal"),
            ("0.0000000000001", "too_many_decimals"),
            ("1000000.000000000001", "out_of_range"),
            ("99999999999999999999999999999999999999999", "out_of_range"),
        ] {
            assert_eq!(UnitPrice::parse(input).unwrap_err().code, code, "{input:?}");
        }
    }

    #[test]
    fn rounding_is_half_away_from_zero() {
        assert_eq!(round_half_away_from_zero(5, 10), 1);
        assert_eq!(round_half_away_from_zero(4, 10), 0);
        assert_eq!(round_half_away_from_zero(-5, 10), -1);
        assert_eq!(round_half_away_from_zero(-4, 10), 0);
        assert_eq!(round_half_away_from_zero(15, 10), 2);
        assert_eq!(round_half_away_from_zero(-15, 10), -2);
        assert_eq!(round_half_away_from_zero(0, 7), 0);
    }

    #[test]
    fn a_line_is_rounded_once() {
        // 3 × 0.5 = 1.5 → 2, not 3 × round(0.5).
        assert_eq!(
            UnitPrice::parse("0.5").unwrap().line_amount(3, 0).unwrap(),
            2
        );
        // 1 × 0.49 + 0 → 0; flat amounts are whole cents and added exactly.
        assert_eq!(
            UnitPrice::parse("0.49")
                .unwrap()
                .line_amount(1, 100)
                .unwrap(),
            100
        );
    }

    #[test]
    fn currencies_are_lowercase_three_letter_codes() {
        assert_eq!(Currency::parse("USD").unwrap(), Currency::USD);
        assert_eq!(Currency::parse("eur").unwrap().to_string(), "eur");
        assert!(Currency::parse("us").is_err());
        assert!(Currency::parse("u$d").is_err());
    }
}
