import { describe, expect, it } from "vitest";
import { formatCents, formatUnitPrice, parseMajor } from "./money";

describe("money formatting", () => {
  it("formats cents in the invoice's currency", () => {
    expect(formatCents(123456, "usd")).toBe("$1,234.56");
    expect(formatCents(0, "usd")).toBe("$0.00");
    expect(formatCents(-677, "usd")).toBe("-$6.77");
    expect(formatCents(2900, "eur")).toBe("€29.00");
    expect(formatCents(500, "jpy")).toBe("¥500");
    expect(formatCents(null, "usd")).toBe("—");
  });

  it("formats amounts beyond 2^53 exactly", () => {
    expect(formatCents("900719925474099312", "usd")).toBe("$9,007,199,254,740,993.12");
  });

  it("shows fractional unit prices with every digit", () => {
    expect(formatUnitPrice("0.05", "usd")).toBe("$0.0005");
    expect(formatUnitPrice("2", "usd")).toBe("$0.02");
  });

  it("parses typed amounts to integer cents without floating point", () => {
    expect(parseMajor("12.50")).toBe(1250);
    expect(parseMajor("0.07")).toBe(7);
    expect(parseMajor("19.99")).toBe(1999);
    expect(parseMajor("1.005")).toBeNull();
    expect(parseMajor("-1")).toBeNull();
    expect(parseMajor("500", "jpy")).toBe(500);
  });
});
