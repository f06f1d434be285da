// The tier price preview: the same arithmetic as billing-core's pricing (BILLING.md "Tier
// pricing"), in exact decimals. Each line is quantity × unit price + flat, rounded once to
// whole cents, half away from zero; the total is the sum of the rounded lines.
import Decimal from "decimal.js";

// A private Decimal with enough precision for 10^12+ units at 12 fractional digits, so no
// intermediate is rounded.
const Exact = Decimal.clone({ precision: 80, rounding: Decimal.ROUND_HALF_UP });

export type TierMode = "graduated" | "volume";

export interface TierInput {
  /** Inclusive upper bound of the tier in units; null is the last, unbounded tier. */
  up_to: number | string | null;
  /** Cents per unit, a decimal string ("0.05"). */
  unit_amount_decimal: string;
  flat_amount_cents?: number | null;
}

export interface PreviewLine {
  /** 1-based, as on the invoice. */
  tier: number;
  quantity: string;
  unit_amount_decimal: string;
  flat_amount_cents: number;
  amount_cents: string;
}

export interface Preview {
  lines: PreviewLine[];
  total_cents: string;
}

export class PreviewError extends Error {}

function parseDecimal(text: string, what: string): Decimal {
  const trimmed = text.trim();
  if (!/^\d+(\.\d{1,12})?$/.test(trimmed)) {
    throw new PreviewError(`${what}: expected a decimal number of cents such as 0.05`);
  }
  return new Exact(trimmed);
}

function parseUnits(value: number | string, what: string): Decimal {
  const text = String(value).trim();
  if (!/^\d+$/.test(text)) throw new PreviewError(`${what}: expected a whole number of units`);
  return new Exact(text);
}

/** quantity × price + flat, rounded once, half away from zero. */
export function lineAmount(quantity: Decimal.Value, unit: string, flatCents = 0): Decimal {
  return new Exact(quantity)
    .times(parseDecimal(unit, "unit price"))
    .plus(flatCents)
    .toDecimalPlaces(0, Decimal.ROUND_HALF_UP);
}

/** The invoice lines `quantity` units produce under `tiers`. */
export function previewTiers(
  mode: TierMode,
  tiers: readonly TierInput[],
  quantity: number | string,
): Preview {
  const total = parseUnits(quantity, "quantity");
  if (tiers.length === 0) throw new PreviewError("add at least one tier");
  const bounds = tiers.map((tier, i) =>
    tier.up_to === null || tier.up_to === "" ? null : parseUnits(tier.up_to, `tier ${i + 1} up to`),
  );
  if (bounds[bounds.length - 1] !== null) throw new PreviewError("the last tier must be unbounded");
  const lines: PreviewLine[] = [];
  const push = (index: number, units: Decimal, flat: number) => {
    const tier = tiers[index];
    if (tier === undefined) return;
    lines.push({
      tier: index + 1,
      quantity: units.toFixed(0),
      unit_amount_decimal: tier.unit_amount_decimal,
      flat_amount_cents: flat,
      amount_cents: lineAmount(units, tier.unit_amount_decimal, flat).toFixed(0),
    });
  };
  if (mode === "volume") {
    if (!total.isZero()) {
      const index = bounds.findIndex((up) => up === null || total.lte(up));
      push(index, total, tiers[index]?.flat_amount_cents ?? 0);
    }
  } else {
    let floor = new Exact(0);
    for (let i = 0; i < tiers.length; i++) {
      const ceiling = bounds[i] ?? null;
      const high = ceiling === null ? total : Decimal.min(total, ceiling);
      if (high.gt(floor)) push(i, high.minus(floor), tiers[i]?.flat_amount_cents ?? 0);
      if (ceiling === null || total.lte(ceiling)) break;
      floor = ceiling;
    }
  }
  const sum = lines.reduce((acc, line) => acc.plus(line.amount_cents), new Exact(0));
  return { lines, total_cents: sum.toFixed(0) };
}
