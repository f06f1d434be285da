// Money on screen: integer minor units (the API's `_cents`) formatted with Intl.NumberFormat in
// the invoice's own currency. The division is done in decimals, never in floating point.
import Decimal from "decimal.js";

const formatters = new Map<string, Intl.NumberFormat>();

function formatter(currency: string, locale?: string): Intl.NumberFormat {
  const key = `${locale ?? ""}|${currency}`;
  let found = formatters.get(key);
  if (found === undefined) {
    found = new Intl.NumberFormat(locale, { style: "currency", currency: currency.toUpperCase() });
    formatters.set(key, found);
  }
  return found;
}

/** Digits after the decimal point of the currency (2 for USD and EUR, 0 for JPY). */
export function minorDigits(currency: string): number {
  return formatter(currency, "en-US").resolvedOptions().maximumFractionDigits ?? 2;
}

/** 123456 usd → "$1,234.56"; negative amounts keep their sign ("-$6.77"). */
export function formatCents(
  cents: number | string | bigint | null | undefined,
  currency = "usd",
  locale = "en-US",
): string {
  if (cents === null || cents === undefined) return "—";
  const digits = minorDigits(currency);
  const major = new Decimal(cents.toString()).div(new Decimal(10).pow(digits)).toFixed(digits);
  return formatter(currency, locale).format(major as Intl.StringNumericLiteral);
}

/** Parses an amount typed in major units ("12.50") to integer cents (1250), exactly. */
export function parseMajor(text: string, currency = "usd"): number | null {
  const trimmed = text.trim();
  const digits = minorDigits(currency);
  const pattern = digits === 0 ? /^\d+$/ : new RegExp(`^\\d+(\\.\\d{1,${digits}})?$`);
  if (!pattern.test(trimmed)) return null;
  const cents = new Decimal(trimmed).times(new Decimal(10).pow(digits));
  return cents.lte(Number.MAX_SAFE_INTEGER) ? cents.toNumber() : null;
}

/** Cents per unit ("0.05") shown as money per unit ("$0.0005"). */
export function formatUnitPrice(
  unitCentsDecimal: string | null | undefined,
  currency = "usd",
): string {
  if (unitCentsDecimal === null || unitCentsDecimal === undefined) return "—";
  const digits = minorDigits(currency);
  const major = new Decimal(unitCentsDecimal).div(new Decimal(10).pow(digits));
  const fraction = Math.max(digits, major.decimalPlaces());
  return new Intl.NumberFormat("en-US", {
    style: "currency",
    currency: currency.toUpperCase(),
    minimumFractionDigits: fraction,
    maximumFractionDigits: Math.min(fraction, 20),
  }).format(major.toFixed(fraction) as Intl.StringNumericLiteral);
}

export function formatQuantity(value: number | string | bigint | null | undefined): string {
  if (value === null || value === undefined) return "—";
  return new Intl.NumberFormat("en-US").format(value.toString() as Intl.StringNumericLiteral);
}
