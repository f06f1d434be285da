//! Fuzz targets of the core's parsers (issue 19.3), run with `bolero`: as a normal test each
//! replays its corpus (`tests/core/__fuzz__/fuzz__<target>/corpus`) and then tries random inputs for a
//! few seconds; `cargo bolero test -p billing-core --test core fuzz::<target>` runs it as a real,
//! coverage-guided fuzzer (see docs/RELIABILITY.md).
//!
//! The properties: no panic; a decimal unit price means exactly the number its digits say
//! (checked against an independent i128 reference), and a line is that price times the
//! quantity plus the flat amount, rounded once half away from zero, or an overflow error,
//! never a wrapped number; a plan that validates prices any quantity without panicking, and
//! its lines add up to the reference or report the overflow; a timestamp the API accepts is one
//! the rules can compute with.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use billing_core::money::{MAX_AMOUNT_CENTS, round_half_away_from_zero};
use billing_core::period::{nth_period, whole_seconds};
use billing_core::plan::{PlanDraft, TierMode, UsageCharge};
use billing_core::pricing::{MAX_EVENT_QUANTITY, late_usage_lines, usage_lines};
use billing_core::usage::UsageEventDraft;
use billing_core::{BillingError, Interval, Period, Timestamp, UnitPrice};

/// How long each target tries random inputs in a normal test run
/// (`BOLERO_RANDOM_TEST_TIME_MS` overrides it).
const TEST_TIME: Duration = Duration::from_secs(3);
const PICOCENTS_PER_CENT: i128 = 1_000_000_000_000;
const MAX_PICOCENTS: i128 = 1_000_000 * PICOCENTS_PER_CENT;

fn now() -> Timestamp {
    "2027-01-15T12:00:00Z".parse().unwrap()
}

fn report(target: &str, inputs: &AtomicU64) {
    eprintln!(
        "fuzz {target}: {} inputs, 0 findings",
        inputs.load(Ordering::Relaxed)
    );
}

// ---- decimal unit prices

/// The reference: what `unit_amount_decimal` text means in picocents (10^-12 ¢), or `None`
/// when BILLING.md refuses it (not digits[.digits], more than 12 decimals, over 10^6 ¢).
fn reference_picocents(text: &str) -> Option<i128> {
    let (whole, fraction) = match text.split_once('.') {
        Some((whole, fraction)) => (whole, fraction),
        None => (text, ""),
    };
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !digits(whole) || !digits(fraction) || fraction.len() > 12 {
        return None;
    }
    if text.contains('.') && fraction.is_empty() {
        return None;
    }
    let mut value: i128 = 0;
    for digit in whole.bytes() {
        value = value * 10 + i128::from(digit - b'0');
        if value > 1_000_000 {
            return None;
        }
    }
    let mut fraction_value: i128 = 0;
    for digit in fraction.bytes() {
        fraction_value = fraction_value * 10 + i128::from(digit - b'0');
    }
    let scale = 10_i128.pow(12 - u32::try_from(fraction.len()).unwrap());
    let picocents = value * PICOCENTS_PER_CENT + fraction_value * scale;
    (picocents <= MAX_PICOCENTS).then_some(picocents)
}

/// The canonical text of a picocent amount (no trailing fractional zeros).
fn canonical(picocents: i128) -> String {
    let whole = picocents / PICOCENTS_PER_CENT;
    let fraction = picocents % PICOCENTS_PER_CENT;
    if fraction == 0 {
        return whole.to_string();
    }
    let fraction = format!("{fraction:012}");
    format!("{whole}.{}", fraction.trim_end_matches('0'))
}

/// `parse` agrees with the reference on `text`; returns the price and its picocents.
fn check_unit_price(text: &str) -> Option<(UnitPrice, i128)> {
    let parsed = UnitPrice::parse(text);
    let reference = reference_picocents(text);
    match (&parsed, reference) {
        (Ok(price), Some(picocents)) => {
            assert_eq!(price.to_string(), canonical(picocents), "{text:?}");
            assert_eq!(UnitPrice::parse(&price.to_string()).unwrap(), *price);
            Some((*price, picocents))
        }
        (Err(_), None) => None,
        _ => panic!("{text:?}: parsed {parsed:?}, reference {reference:?}"),
    }
}

/// The reference line: `quantity × price + flat`, rounded once, half away from zero.
fn reference_line(picocents: i128, quantity: u64, flat_cents: i64) -> i128 {
    let exact = i128::from(quantity) * picocents + i128::from(flat_cents) * PICOCENTS_PER_CENT;
    let (quotient, remainder) = (exact / PICOCENTS_PER_CENT, exact % PICOCENTS_PER_CENT);
    if 2 * remainder.abs() >= PICOCENTS_PER_CENT {
        quotient + exact.signum()
    } else {
        quotient
    }
}

fn check_line(price: UnitPrice, picocents: i128, quantity: u64, flat_cents: i64) {
    let reference = reference_line(picocents, quantity, flat_cents);
    match price.line_amount(quantity, flat_cents) {
        Ok(amount) => assert_eq!(
            i128::from(amount),
            reference,
            "{price} × {quantity} + {flat_cents}"
        ),
        Err(BillingError::AmountOverflow { .. }) => assert!(
            i64::try_from(reference).is_err(),
            "{price} × {quantity} + {flat_cents} = {reference} fits, yet overflowed"
        ),
        Err(other) => panic!("{price} × {quantity}: {other}"),
    }
}

#[test]
fn unit_price_text() {
    static INPUTS: AtomicU64 = AtomicU64::new(0);
    bolero::check!()
        .with_test_time(TEST_TIME)
        .for_each(|input: &[u8]| {
            INPUTS.fetch_add(1, Ordering::Relaxed);
            let text = String::from_utf8_lossy(input);
            if let Some((price, picocents)) = check_unit_price(&text) {
                for quantity in [0, 1, 3, 999_999, MAX_EVENT_QUANTITY, u64::MAX] {
                    check_line(price, picocents, quantity, 0);
                }
            }
        });
    report("unit_price_text", &INPUTS);
}

#[test]
fn unit_price_lines() {
    static INPUTS: AtomicU64 = AtomicU64::new(0);
    bolero::check!()
        .with_test_time(TEST_TIME)
        .with_type::<(u32, u64, u8, bool, u64, i64)>()
        .cloned()
        .for_each(|(whole, fraction, digits, leading_zero, quantity, flat)| {
            INPUTS.fetch_add(1, Ordering::Relaxed);
            // Mostly valid decimals, some just over a limit (7 whole digits, 13 decimals).
            let whole = whole % 1_100_000;
            let digits = u32::from(digits % 14);
            let mut text = if leading_zero {
                format!("0{whole}")
            } else {
                whole.to_string()
            };
            if digits > 0 {
                let fraction = fraction % 10_u64.pow(digits);
                text.push_str(&format!(".{fraction:0width$}", width = digits as usize));
            }
            if let Some((price, picocents)) = check_unit_price(&text) {
                let flat = flat.rem_euclid(MAX_AMOUNT_CENTS + 1);
                check_line(price, picocents, quantity, flat);
                check_line(price, picocents, quantity % (MAX_EVENT_QUANTITY + 1), flat);
            }
            let rounded = round_half_away_from_zero(i128::from(flat), 1_000);
            assert_eq!(
                rounded,
                reference_line(i128::from(flat) * 1_000_000_000, 1, 0)
            );
        });
    report("unit_price_lines", &INPUTS);
}

// ---- plans with tiers

/// The reference price of `quantity` units of `charge`, per BILLING.md "Tier pricing", with
/// each line rounded once: the lines' amounts, in i128 (nothing can overflow).
fn reference_lines(charge: &UsageCharge, quantity: u64) -> Vec<i128> {
    let price = |tier: &billing_core::plan::Tier| {
        reference_picocents(&tier.unit_amount_decimal.to_string()).unwrap()
    };
    match charge.mode {
        TierMode::Volume => {
            if quantity == 0 {
                return Vec::new();
            }
            let tier = charge
                .tiers
                .iter()
                .find(|t| t.up_to.is_none_or(|up_to| quantity <= up_to))
                .unwrap();
            vec![reference_line(
                price(tier),
                quantity,
                tier.flat_amount_cents,
            )]
        }
        TierMode::Graduated => {
            let mut lines = Vec::new();
            let mut floor = 0_u64;
            for tier in &charge.tiers {
                let ceiling = tier.up_to.unwrap_or(u64::MAX).min(quantity);
                if ceiling > floor {
                    lines.push(reference_line(
                        price(tier),
                        ceiling - floor,
                        tier.flat_amount_cents,
                    ));
                }
                match tier.up_to {
                    Some(up_to) if up_to < quantity => floor = up_to,
                    _ => break,
                }
            }
            lines
        }
    }
}

fn period() -> Period {
    Period::new(
        "2027-01-01T00:00:00Z".parse().unwrap(),
        "2027-02-01T00:00:00Z".parse().unwrap(),
    )
}

/// A validated charge priced at `quantity`: the lines are the reference's, or an overflow is
/// reported because some reference line does not fit i64 cents.
fn check_pricing(charge: &UsageCharge, quantity: u64) {
    let reference = reference_lines(charge, quantity);
    match usage_lines(charge, quantity, period()) {
        Ok(lines) => {
            let amounts: Vec<i128> = lines.iter().map(|l| i128::from(l.amount_cents)).collect();
            assert_eq!(amounts, reference, "{charge:?} at {quantity}");
            let units: u64 = lines.iter().map(|l| l.quantity.unwrap()).sum();
            assert_eq!(
                units, quantity,
                "{charge:?}: every unit on exactly one line"
            );
        }
        Err(BillingError::AmountOverflow { .. }) => assert!(
            reference.iter().any(|a| i64::try_from(*a).is_err()),
            "{charge:?} at {quantity}: overflow reported, reference {reference:?} fits"
        ),
        Err(other) => panic!("{charge:?} at {quantity}: {other}"),
    }
}

/// Quantities worth pricing: the edges of every tier, and some from the input.
fn quantities(charge: &UsageCharge, extra: &[u64]) -> Vec<u64> {
    let mut quantities = vec![0, 1, MAX_EVENT_QUANTITY, u64::MAX];
    for tier in &charge.tiers {
        if let Some(up_to) = tier.up_to {
            quantities.extend([up_to - 1, up_to, up_to.saturating_add(1)]);
        }
    }
    quantities.extend_from_slice(extra);
    quantities
}

/// Parses `json` as the API's plan body, validates it and prices every charge.
fn check_plan(json: &[u8], extra: &[u64]) -> bool {
    let Ok(draft) = serde_json::from_slice::<PlanDraft>(json) else {
        return false;
    };
    let Ok(plan) = draft.validate(now()) else {
        return false;
    };
    // A valid plan survives storage: its JSON decodes to the same plan.
    let stored = serde_json::to_vec(&plan).unwrap();
    assert_eq!(
        serde_json::from_slice::<billing_core::plan::Plan>(&stored).unwrap(),
        plan
    );
    for charge in &plan.usage_charges {
        for (index, quantity) in quantities(charge, extra).into_iter().enumerate() {
            check_pricing(charge, quantity);
            // Late units on top of billed ones never panic; when both price, graduated late
            // lines are what the total costs beyond the billed units.
            let late = extra.get(index).copied().unwrap_or(1) % (MAX_EVENT_QUANTITY + 1);
            let result = late_usage_lines(charge, quantity, late, period());
            if let (Ok(late_lines), Some(total)) = (&result, quantity.checked_add(late)) {
                let sum = |lines: &[i128]| lines.iter().sum::<i128>();
                let billed = sum(&reference_lines(charge, quantity));
                let whole = sum(&reference_lines(charge, total));
                let late_sum: i128 = late_lines.iter().map(|l| i128::from(l.amount_cents)).sum();
                if charge.mode == TierMode::Volume {
                    // Volume is the whole period's price minus what was billed: exact.
                    assert_eq!(late_sum, whole - billed, "{charge:?} {quantity}+{late}");
                } else {
                    // Graduated slices round once each: off by under a cent per tier touched.
                    let lines = i128::try_from(late_lines.len()).unwrap() + 1;
                    assert!(
                        (late_sum - (whole - billed)).abs() <= lines,
                        "{charge:?} {quantity}+{late}"
                    );
                }
            }
        }
    }
    true
}

#[test]
fn plan_json() {
    static INPUTS: AtomicU64 = AtomicU64::new(0);
    static VALID: AtomicU64 = AtomicU64::new(0);
    bolero::check!()
        .with_test_time(TEST_TIME)
        .for_each(|input: &[u8]| {
            INPUTS.fetch_add(1, Ordering::Relaxed);
            if check_plan(input, &[]) {
                VALID.fetch_add(1, Ordering::Relaxed);
            }
        });
    report("plan_json", &INPUTS);
    eprintln!("  of which valid plans: {}", VALID.load(Ordering::Relaxed));
}

type TierInput = (Option<u64>, u32, u64, u8, Option<i64>);

#[test]
fn plan_tiers() {
    static INPUTS: AtomicU64 = AtomicU64::new(0);
    static VALID: AtomicU64 = AtomicU64::new(0);
    bolero::check!()
        .with_test_time(TEST_TIME)
        .with_type::<(bool, Vec<TierInput>, Vec<u64>)>()
        .for_each(|(volume, tiers, extra)| {
            INPUTS.fetch_add(1, Ordering::Relaxed);
            // Ascending bounds by construction (mostly), the last one unbounded.
            let mut up_to = 0_u64;
            let count = tiers.len();
            let tiers: Vec<serde_json::Value> = tiers
                .iter()
                .enumerate()
                .map(|(index, (step, whole, fraction, digits, flat))| {
                    let bound = if index + 1 == count {
                        None
                    } else {
                        up_to = up_to.saturating_add(step.unwrap_or(1) % 10_000_000_000_000);
                        Some(up_to)
                    };
                    let digits = u32::from(*digits % 13);
                    let mut price = (whole % 1_000_001).to_string();
                    if digits > 0 {
                        let fraction = fraction % 10_u64.pow(digits);
                        price.push_str(&format!(".{fraction:0width$}", width = digits as usize));
                    }
                    serde_json::json!({
                        "up_to": bound,
                        "unit_amount_decimal": price,
                        "flat_amount_cents": flat.map(|f| f.rem_euclid(MAX_AMOUNT_CENTS + 2)),
                    })
                })
                .collect();
            let plan = serde_json::json!({
                "code": "fuzz", "name": "Fuzz", "amount_cents": 0, "interval": "month",
                "usage_charges": [{"metric": "units", "mode": if *volume { "volume" } else { "graduated" }, "tiers": tiers}],
            });
            let extra: Vec<u64> = extra.iter().take(8).copied().collect();
            if check_plan(plan.to_string().as_bytes(), &extra) {
                VALID.fetch_add(1, Ordering::Relaxed);
            }
        });
    report("plan_tiers", &INPUTS);
    eprintln!("  of which valid plans: {}", VALID.load(Ordering::Relaxed));
}

// ---- RFC 3339 timestamps

/// A timestamp accepted in a JSON body is one the rules compute with: whole seconds, its
/// RFC 3339 form parses back to it, periods anchored on it are computed or refused with
/// `DateOutOfRange`, and a usage event carrying it validates or is refused, without a panic.
fn check_timestamp(text: &str) {
    let Ok(at) = serde_json::from_value::<Timestamp>(serde_json::Value::String(text.to_owned()))
    else {
        return;
    };
    let whole = whole_seconds(at);
    assert!(
        whole <= at && at - whole < chrono::Duration::seconds(1),
        "{text}"
    );
    let wire = whole.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    assert_eq!(wire.parse::<Timestamp>().unwrap(), whole, "{text}");
    for interval in [Interval::Month, Interval::Year] {
        for k in [0, 1, 12, 1_000] {
            match nth_period(whole, interval, k) {
                Ok(period) => assert!(period.start < period.end, "{text} {k}"),
                Err(BillingError::DateOutOfRange { .. }) => {}
                Err(other) => panic!("{text}: {other}"),
            }
        }
    }
    let draft = UsageEventDraft {
        id: "e".into(),
        user_id: "usr_1".into(),
        metric: "api_calls".into(),
        quantity: 1,
        timestamp: Some(at),
    };
    if let Ok(event) = draft.validate(now()) {
        assert_eq!(event.timestamp, whole);
        assert!(event.timestamp <= now() + billing_core::usage::max_clock_skew());
    }
}

#[test]
fn rfc3339_text() {
    static INPUTS: AtomicU64 = AtomicU64::new(0);
    bolero::check!()
        .with_test_time(TEST_TIME)
        .for_each(|input: &[u8]| {
            INPUTS.fetch_add(1, Ordering::Relaxed);
            check_timestamp(&String::from_utf8_lossy(input));
        });
    report("rfc3339_text", &INPUTS);
}

#[test]
fn rfc3339_fields() {
    static INPUTS: AtomicU64 = AtomicU64::new(0);
    bolero::check!()
        .with_test_time(TEST_TIME)
        .with_type::<(u16, u8, u8, u8, u8, u8, u32, i16, u8)>()
        .cloned()
        .for_each(
            |(year, month, day, hour, minute, second, nanos, offset, style)| {
                INPUTS.fetch_add(1, Ordering::Relaxed);
                let fraction = match style % 3 {
                    0 => String::new(),
                    1 => format!(".{:03}", nanos % 1000),
                    _ => format!(".{:09}", nanos % 1_000_000_000),
                };
                let zone = match (style / 3) % 3 {
                    0 => "Z".to_owned(),
                    1 => "z".to_owned(),
                    _ => {
                        let offset = i32::from(offset) % (24 * 60);
                        let sign = if offset < 0 { '-' } else { '+' };
                        format!("{sign}{:02}:{:02}", offset.abs() / 60, offset.abs() % 60)
                    }
                };
                let text = format!(
                    "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}{fraction}{zone}",
                    year % 10_000,
                    month % 14,
                    day % 33,
                    hour % 25,
                    minute % 61,
                    second % 62
                );
                check_timestamp(&text);
            },
        );
    report("rfc3339_fields", &INPUTS);
}
