//! Tier pricing: a quantity of one metric in one period becomes invoice lines.

use crate::error::{BillingError, Result};
use crate::invoice::{InvoiceLine, LineKind};
use crate::money::Cents;
use crate::period::Period;
use crate::plan::{Tier, TierMode, UsageCharge};
use crate::text::{push_date, push_grouped, push_uint};

/// Largest quantity of a single usage event (BILLING.md "Usage").
pub const MAX_EVENT_QUANTITY: u64 = 1_000_000_000_000;

/// Usage lines for `quantity` units of `charge` used in `period`.
///
/// Graduated: one line per tier that has units (a 0¢ line too, so "first 100,000 free" shows).
/// Volume: one line at the tier the total falls in; zero units, no line.
pub fn usage_lines(
    charge: &UsageCharge,
    quantity: u64,
    period: Period,
) -> Result<Vec<InvoiceLine>> {
    let mut lines = Vec::with_capacity(charge.tiers.len());
    push_usage_lines(&mut lines, charge, quantity, period)?;
    Ok(lines)
}

/// [`usage_lines`] appended to `lines`, so an invoice's lines are built in one vector.
pub(crate) fn push_usage_lines(
    lines: &mut Vec<InvoiceLine>,
    charge: &UsageCharge,
    quantity: u64,
    period: Period,
) -> Result<()> {
    match charge.mode {
        TierMode::Graduated => graduated_slice(lines, charge, 0, quantity, period, LineKind::Usage),
        TierMode::Volume => {
            if quantity == 0 {
                return Ok(());
            }
            let (index, tier) = volume_tier(&charge.tiers, quantity);
            let amount_cents = tier
                .unit_amount_decimal
                .line_amount(quantity, tier.flat_amount_cents)?;
            lines.push(line(
                LineKind::Usage,
                charge,
                index,
                tier,
                quantity,
                amount_cents,
                period,
            ));
            Ok(())
        }
    }
}

/// Lines for usage of `period` that arrived after the period was invoiced: `late` extra units
/// on top of the `billed` units, at the tier prices of the plan the period was billed under.
///
/// Graduated: the late units fill the tiers from where the billed units stopped (a tier's flat
/// amount is charged only if the billed units had not reached that tier). Volume: one line of
/// what the period costs with the late units minus what it was billed.
pub fn late_usage_lines(
    charge: &UsageCharge,
    billed: u64,
    late: u64,
    period: Period,
) -> Result<Vec<InvoiceLine>> {
    if late == 0 {
        return Ok(Vec::new());
    }
    let total = billed
        .checked_add(late)
        .ok_or(BillingError::AmountOverflow {
            what: "late usage quantity",
        })?;
    match charge.mode {
        TierMode::Graduated => {
            let mut lines = Vec::with_capacity(charge.tiers.len());
            graduated_slice(
                &mut lines,
                charge,
                billed,
                total,
                period,
                LineKind::UsageLate,
            )?;
            Ok(lines)
        }
        TierMode::Volume => {
            let (index, tier) = volume_tier(&charge.tiers, total);
            let with_late = tier
                .unit_amount_decimal
                .line_amount(total, tier.flat_amount_cents)?;
            let already = volume_amount(charge, billed)?;
            let amount_cents =
                with_late
                    .checked_sub(already)
                    .ok_or(BillingError::AmountOverflow {
                        what: "late usage amount",
                    })?;
            Ok(vec![line(
                LineKind::UsageLate,
                charge,
                index,
                tier,
                late,
                amount_cents,
                period,
            )])
        }
    }
}

fn volume_amount(charge: &UsageCharge, quantity: u64) -> Result<Cents> {
    if quantity == 0 {
        return Ok(0);
    }
    let (_, tier) = volume_tier(&charge.tiers, quantity);
    tier.unit_amount_decimal
        .line_amount(quantity, tier.flat_amount_cents)
}

/// The tier a total falls into: the first with `total ≤ up_to`; validation guarantees the
/// last tier is unbounded, so there always is one.
fn volume_tier(tiers: &[Tier], total: u64) -> (usize, &Tier) {
    let index = tiers
        .iter()
        .position(|t| t.up_to.is_none_or(|up_to| total <= up_to))
        .unwrap_or(tiers.len() - 1);
    (index, &tiers[index])
}

/// Appends the graduated lines for the units in `(from, to]`.
fn graduated_slice(
    lines: &mut Vec<InvoiceLine>,
    charge: &UsageCharge,
    from: u64,
    to: u64,
    period: Period,
    kind: LineKind,
) -> Result<()> {
    let mut tier_floor: u64 = 0; // units below this tier: the previous tier's up_to
    for (index, tier) in charge.tiers.iter().enumerate() {
        let tier_ceiling = tier.up_to.unwrap_or(u64::MAX);
        let low = from.max(tier_floor);
        let high = to.min(tier_ceiling);
        if high > low {
            let units = high - low;
            // The flat amount belongs to the tier's first unit: charged in the slice holding it.
            let flat = if low == tier_floor {
                tier.flat_amount_cents
            } else {
                0
            };
            let amount_cents = tier.unit_amount_decimal.line_amount(units, flat)?;
            lines.push(line(kind, charge, index, tier, units, amount_cents, period));
        }
        if to <= tier_ceiling {
            break;
        }
        tier_floor = tier_ceiling;
    }
    Ok(())
}

fn line(
    kind: LineKind,
    charge: &UsageCharge,
    index: usize,
    tier: &Tier,
    quantity: u64,
    amount_cents: Cents,
    period: Period,
) -> InvoiceLine {
    let tier_number = u32::try_from(index + 1).unwrap_or(u32::MAX);
    let mut description = String::with_capacity(64);
    description.push_str(&charge.metric);
    if kind == LineKind::UsageLate {
        description.push_str(" (late, usage of ");
        push_date(&mut description, period.start);
        description.push_str(" to ");
        push_date(&mut description, period.end);
        description.push(')');
    }
    description.push_str(" — tier ");
    push_uint(&mut description, u64::from(tier_number));
    description.push_str(": ");
    push_grouped(&mut description, quantity);
    description.push_str(" × ");
    tier.unit_amount_decimal.push_to(&mut description);
    description.push('¢');
    if tier.flat_amount_cents != 0 && (charge.mode == TierMode::Volume || amount_cents != 0) {
        description.push_str(" + ");
        push_uint(&mut description, tier.flat_amount_cents.unsigned_abs());
        description.push_str("¢ flat");
    }
    InvoiceLine {
        kind,
        description,
        amount_cents,
        period_start: period.start,
        period_end: period.end,
        metric: Some(charge.metric.clone()),
        quantity: Some(quantity),
        unit_amount_decimal: Some(tier.unit_amount_decimal),
        tier: Some(tier_number),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::money::UnitPrice;

    fn period() -> Period {
        Period::new(
            "2027-01-01T00:00:00Z".parse().unwrap(),
            "2027-02-01T00:00:00Z".parse().unwrap(),
        )
    }

    fn charge(mode: TierMode, tiers: &[(Option<u64>, &str, i64)]) -> UsageCharge {
        UsageCharge {
            metric: "api_calls".into(),
            mode,
            tiers: tiers
                .iter()
                .map(|(up_to, unit, flat)| Tier {
                    up_to: *up_to,
                    unit_amount_decimal: UnitPrice::parse(unit).unwrap(),
                    flat_amount_cents: *flat,
                })
                .collect(),
        }
    }

    fn amounts(lines: &[InvoiceLine]) -> Vec<(u64, i64)> {
        lines
            .iter()
            .map(|l| (l.quantity.unwrap(), l.amount_cents))
            .collect()
    }

    fn spec_graduated() -> UsageCharge {
        charge(
            TierMode::Graduated,
            &[
                (Some(100_000), "0", 0),
                (Some(1_000_000), "0.05", 0),
                (None, "0.02", 0),
            ],
        )
    }

    #[test]
    fn zero_usage_produces_no_lines() {
        assert!(
            usage_lines(&spec_graduated(), 0, period())
                .unwrap()
                .is_empty()
        );
        let volume = charge(TierMode::Volume, &[(None, "1", 100)]);
        assert!(usage_lines(&volume, 0, period()).unwrap().is_empty());
    }

    #[test]
    fn usage_exactly_on_a_tier_boundary_stays_in_that_tier() {
        let lines = usage_lines(&spec_graduated(), 100_000, period()).unwrap();
        assert_eq!(amounts(&lines), [(100_000, 0)]);
        let lines = usage_lines(&spec_graduated(), 100_001, period()).unwrap();
        assert_eq!(amounts(&lines), [(100_000, 0), (1, 0)]);
        let volume = charge(
            TierMode::Volume,
            &[(Some(10_000), "1", 0), (None, "0.5", 100)],
        );
        assert_eq!(
            amounts(&usage_lines(&volume, 10_000, period()).unwrap()),
            [(10_000, 10_000)]
        );
        assert_eq!(
            amounts(&usage_lines(&volume, 10_001, period()).unwrap()),
            [(10_001, 5_101)]
        );
    }

    #[test]
    fn graduated_flat_amounts_are_charged_once_per_tier_with_units() {
        let flats = charge(
            TierMode::Graduated,
            &[(Some(10), "1", 500), (None, "0", 300)],
        );
        assert_eq!(
            amounts(&usage_lines(&flats, 5, period()).unwrap()),
            [(5, 505)]
        );
        assert_eq!(
            amounts(&usage_lines(&flats, 11, period()).unwrap()),
            [(10, 510), (1, 300)]
        );
    }

    #[test]
    fn a_trillion_units_at_the_smallest_and_largest_prices_do_not_overflow() {
        let smallest = charge(TierMode::Graduated, &[(None, "0.000000000001", 0)]);
        assert_eq!(
            amounts(&usage_lines(&smallest, MAX_EVENT_QUANTITY, period()).unwrap()),
            [(MAX_EVENT_QUANTITY, 1)]
        );
        let largest = charge(TierMode::Volume, &[(None, "1000000", 0)]);
        assert_eq!(
            amounts(&usage_lines(&largest, MAX_EVENT_QUANTITY, period()).unwrap()),
            [(MAX_EVENT_QUANTITY, 1_000_000_000_000_000_000)]
        );
    }

    #[test]
    fn amounts_beyond_i64_cents_are_a_typed_error() {
        let largest = charge(TierMode::Volume, &[(None, "1000000", 0)]);
        assert_eq!(
            usage_lines(&largest, u64::MAX, period())
                .unwrap_err()
                .code(),
            "amount_overflow"
        );
    }

    #[test]
    fn late_graduated_usage_continues_from_the_billed_quantity() {
        // Billed 1,000,000 (tiers 1–2 full); 300,000 late units all land in tier 3.
        let lines = late_usage_lines(&spec_graduated(), 1_000_000, 300_000, period()).unwrap();
        assert_eq!(amounts(&lines), [(300_000, 6_000)]);
        assert_eq!(lines[0].kind, LineKind::UsageLate);
        // Billed 50,000: 100,000 late units fill tier 1's remaining 50,000 free, then tier 2.
        let lines = late_usage_lines(&spec_graduated(), 50_000, 100_000, period()).unwrap();
        assert_eq!(amounts(&lines), [(50_000, 0), (50_000, 2_500)]);
    }

    #[test]
    fn late_volume_usage_is_the_difference_in_what_the_period_costs() {
        let volume = charge(
            TierMode::Volume,
            &[(Some(10_000), "1", 0), (None, "0.5", 100)],
        );
        // Billed 9,000 → 9,000¢. With 3,000 late: 12,000 × 0.5 + 100 = 6,100: a −2,900 line.
        let lines = late_usage_lines(&volume, 9_000, 3_000, period()).unwrap();
        assert_eq!(amounts(&lines), [(3_000, -2_900)]);
        assert!(
            late_usage_lines(&volume, 9_000, 0, period())
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn descriptions_say_metric_tier_quantity_and_price() {
        let lines = usage_lines(&spec_graduated(), 1_250_000, period()).unwrap();
        assert_eq!(lines[1].description, "api_calls — tier 2: 900,000 × 0.05¢");
        let late = late_usage_lines(&spec_graduated(), 1_000_000, 1, period()).unwrap();
        assert_eq!(
            late[0].description,
            "api_calls (late, usage of 2027-01-01 to 2027-02-01) — tier 3: 1 × 0.02¢"
        );
    }
}
