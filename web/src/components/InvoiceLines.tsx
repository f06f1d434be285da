// Every line of an invoice (or a preview of one): kind, tier, quantity, unit price, period,
// amount; then the totals as BILLING.md computes them.
import { Group, Stack, Table, Text } from "@mantine/core";
import type { InvoiceLine } from "../api/types";
import { formatCents, formatQuantity, formatUnitPrice } from "../lib/money";
import { formatPeriod } from "../lib/time";

const kindLabels: Record<string, string> = {
  base_fee: "base fee",
  usage: "usage",
  usage_late: "late usage",
  proration_credit: "proration credit",
  adjustment: "adjustment",
};

export function InvoiceLines({
  lines,
  currency,
  caption,
}: {
  lines: InvoiceLine[];
  currency: string;
  caption?: string;
}) {
  return (
    <div className="table-scroll" tabIndex={0}>
      <Table
        striped
        verticalSpacing="xs"
        aria-label={caption ?? "Invoice lines"}
        data-testid="invoice-lines"
      >
        <Table.Thead>
          <Table.Tr>
            <Table.Th>Description</Table.Th>
            <Table.Th>Kind</Table.Th>
            <Table.Th className="num">Tier</Table.Th>
            <Table.Th className="num">Quantity</Table.Th>
            <Table.Th className="num">Unit price</Table.Th>
            <Table.Th>Period</Table.Th>
            <Table.Th className="num">Amount</Table.Th>
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {lines.map((line, i) => (
            <Table.Tr key={i} data-kind={line.kind}>
              <Table.Td>{line.description}</Table.Td>
              <Table.Td>
                <Text size="sm" style={{ whiteSpace: "nowrap" }}>
                  {kindLabels[line.kind] ?? line.kind}
                </Text>
              </Table.Td>
              <Table.Td className="num">{line.tier ?? "—"}</Table.Td>
              <Table.Td className="num">{formatQuantity(line.quantity)}</Table.Td>
              <Table.Td className="num">
                {formatUnitPrice(line.unit_amount_decimal, currency)}
              </Table.Td>
              <Table.Td style={{ whiteSpace: "nowrap" }}>
                {formatPeriod(line.period_start, line.period_end)}
              </Table.Td>
              <Table.Td className="num" data-testid="line-amount">
                {formatCents(line.amount_cents, currency)}
              </Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
    </div>
  );
}

export function InvoiceTotals({
  subtotal,
  creditApplied,
  amountDue,
  currency,
}: {
  subtotal: number;
  creditApplied: number;
  amountDue: number;
  currency: string;
}) {
  const row = (label: string, value: number, testId: string, strong = false) => (
    <Group justify="space-between" gap="xl" wrap="nowrap">
      <Text size="sm" fw={strong ? 700 : 400}>
        {label}
      </Text>
      <Text size="sm" fw={strong ? 700 : 400} className="num" data-testid={testId}>
        {formatCents(value, currency)}
      </Text>
    </Group>
  );
  return (
    <Stack gap={4} ml="auto" w={{ base: "100%", xs: 280 }}>
      {row("Subtotal", subtotal, "subtotal")}
      {row("Credit applied", -creditApplied, "credit-applied")}
      {row("Amount due", amountDue, "amount-due", true)}
    </Stack>
  );
}
