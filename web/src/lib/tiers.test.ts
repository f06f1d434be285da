import { describe, expect, it } from "vitest";
import { lineAmount, previewTiers, PreviewError } from "./tiers";

// BILLING.md "Tier pricing", the two worked examples.
const graduated = [
  { up_to: 100000, unit_amount_decimal: "0" },
  { up_to: 1000000, unit_amount_decimal: "0.05" },
  { up_to: null, unit_amount_decimal: "0.02" },
];
const volume = [
  { up_to: 10000, unit_amount_decimal: "1" },
  { up_to: null, unit_amount_decimal: "0.5", flat_amount_cents: 100 },
];

describe("tier preview", () => {
  it("graduated 1,250,000 units: 0 + 45000 + 5000, one line per tier", () => {
    const preview = previewTiers("graduated", graduated, 1_250_000);
    expect(preview.lines.map((l) => [l.tier, l.quantity, l.amount_cents])).toEqual([
      [1, "100000", "0"],
      [2, "900000", "45000"],
      [3, "250000", "5000"],
    ]);
    expect(preview.total_cents).toBe("50000");
  });

  it("graduated shows the free tier's 0 line and stops at the tier the total reaches", () => {
    const preview = previewTiers("graduated", graduated, 100_000);
    expect(preview.lines).toHaveLength(1);
    expect(preview.lines[0]?.amount_cents).toBe("0");
  });

  it("volume 12,000 units: 12,000 × 0.5 + 100 = 6100 in one line", () => {
    const preview = previewTiers("volume", volume, "12000");
    expect(preview.lines).toEqual([
      {
        tier: 2,
        quantity: "12000",
        unit_amount_decimal: "0.5",
        flat_amount_cents: 100,
        amount_cents: "6100",
      },
    ]);
    expect(preview.total_cents).toBe("6100");
  });

  it("volume at a tier's bound stays in that tier (total ≤ up_to)", () => {
    expect(previewTiers("volume", volume, 10000).total_cents).toBe("10000");
  });

  it("zero units: no line in either mode", () => {
    expect(previewTiers("volume", volume, 0).lines).toEqual([]);
    expect(previewTiers("graduated", graduated, 0).lines).toEqual([]);
  });

  it("rounds each line once, half away from zero", () => {
    expect(lineAmount(3, "0.5").toFixed(0)).toBe("2"); // 1.5 → 2 (not 3 × round(0.5))
    expect(lineAmount(1, "0.49").toFixed(0)).toBe("0");
    expect(lineAmount(1, "0.5").toFixed(0)).toBe("1");
    expect(lineAmount(5, "0.1").toFixed(0)).toBe("1"); // 0.5 → 1
    expect(lineAmount(7, "0.000000000001").toFixed(0)).toBe("0");
    expect(lineAmount(500_000_000_000, "0.000000000001").toFixed(0)).toBe("1"); // 0.5 exactly
    // 10^12 units at 12 fractional digits: exact, no floating point.
    expect(lineAmount("1000000000000", "0.123456789012").toFixed(0)).toBe("123456789012");
  });

  it("totals are sums of rounded lines, and graduated flat amounts go with each tier's first unit", () => {
    const tiers = [
      { up_to: 10, unit_amount_decimal: "0.25", flat_amount_cents: 50 },
      { up_to: null, unit_amount_decimal: "0.5", flat_amount_cents: 20 },
    ];
    const preview = previewTiers("graduated", tiers, 15);
    // 10 × 0.25 + 50 = 52.5 → 53; 5 × 0.5 + 20 = 22.5 → 23; total 76, not round(75).
    expect(preview.lines.map((l) => l.amount_cents)).toEqual(["53", "23"]);
    expect(preview.total_cents).toBe("76");
  });

  it("rejects what the server would reject", () => {
    expect(() => previewTiers("graduated", [{ up_to: 10, unit_amount_decimal: "1" }], 5)).toThrow(
      PreviewError,
    );
    expect(() => previewTiers("graduated", graduated, "1.5")).toThrow(PreviewError);
    expect(() =>
      previewTiers("volume", [{ up_to: null, unit_amount_decimal: "0.0000000000001" }], 5),
    ).toThrow(PreviewError);
  });
});
