// Instants from the API are RFC 3339 UTC; the UI shows them in UTC too, so what an admin reads
// matches the invoice periods the server computed (no local-time surprises at month ends).
const dateTime = new Intl.DateTimeFormat("en-GB", {
  dateStyle: "medium",
  timeStyle: "short",
  timeZone: "UTC",
});
const dateOnly = new Intl.DateTimeFormat("en-GB", { dateStyle: "medium", timeZone: "UTC" });

export function formatDateTime(value: string | null | undefined): string {
  if (value === null || value === undefined) return "—";
  return `${dateTime.format(new Date(value))} UTC`;
}

export function formatDate(value: string | null | undefined): string {
  if (value === null || value === undefined) return "—";
  return dateOnly.format(new Date(value));
}

export function formatPeriod(
  start: string | null | undefined,
  end: string | null | undefined,
): string {
  return `${formatDate(start)} – ${formatDate(end)}`;
}

/** A Date as the API's RFC 3339 UTC with second precision. */
export function toRfc3339(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, "Z");
}
