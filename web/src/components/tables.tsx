// The lists every page shares: subscriptions, invoices, payments.
import { Table, Text } from "@mantine/core";
import type { Invoice, Payment, Subscription } from "../api/types";
import { formatCents } from "../lib/money";
import { formatDate, formatDateTime, formatPeriod } from "../lib/time";
import { Empty, IdLink, StatusBadge } from "./ui";

export function SubscriptionsTable({ rows }: { rows: Subscription[] }) {
  if (rows.length === 0) return <Empty>No subscriptions.</Empty>;
  return (
    <div className="table-scroll" tabIndex={0}>
      <Table data-list highlightOnHover aria-label="Subscriptions">
        <Table.Thead>
          <Table.Tr>
            <Table.Th>Subscription</Table.Th>
            <Table.Th>Customer</Table.Th>
            <Table.Th>Plan</Table.Th>
            <Table.Th>Status</Table.Th>
            <Table.Th>Current period</Table.Th>
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {rows.map((s) => (
            <Table.Tr key={s.id}>
              <Table.Td>
                <IdLink to="/subscriptions/$id" id={s.id} />
              </Table.Td>
              <Table.Td>
                <IdLink to="/customers/$id" id={s.user_id} />
              </Table.Td>
              <Table.Td>
                {s.plan_code}
                {s.pending_plan_code && (
                  <Text span size="xs" c="dimmed">
                    {" "}
                    → {s.pending_plan_code} at period end
                  </Text>
                )}
              </Table.Td>
              <Table.Td>
                <StatusBadge status={s.status} />
                {s.cancel_at_period_end && (
                  <Text span size="xs" c="dimmed">
                    {" "}
                    cancels at period end
                  </Text>
                )}
              </Table.Td>
              <Table.Td style={{ whiteSpace: "nowrap" }}>
                {formatPeriod(s.current_period_start, s.current_period_end)}
              </Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
    </div>
  );
}

export function InvoicesTable({ rows }: { rows: Invoice[] }) {
  if (rows.length === 0) return <Empty>No invoices.</Empty>;
  return (
    <div className="table-scroll" tabIndex={0}>
      <Table data-list highlightOnHover aria-label="Invoices">
        <Table.Thead>
          <Table.Tr>
            <Table.Th>Number</Table.Th>
            <Table.Th>Customer</Table.Th>
            <Table.Th>Reason</Table.Th>
            <Table.Th>Status</Table.Th>
            <Table.Th>Period</Table.Th>
            <Table.Th className="num">Amount due</Table.Th>
            <Table.Th>Created</Table.Th>
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {rows.map((inv) => (
            <Table.Tr key={inv.id} data-number={inv.number}>
              <Table.Td>
                <IdLink to="/invoices/$id" id={inv.number} linkId={inv.id} />
              </Table.Td>
              <Table.Td>
                <IdLink to="/customers/$id" id={inv.user_id} />
              </Table.Td>
              <Table.Td>{inv.billing_reason.replace(/_/g, " ")}</Table.Td>
              <Table.Td>
                <StatusBadge status={inv.status} />
              </Table.Td>
              <Table.Td style={{ whiteSpace: "nowrap" }}>
                {formatPeriod(inv.period_start, inv.period_end)}
              </Table.Td>
              <Table.Td className="num">{formatCents(inv.amount_due_cents, inv.currency)}</Table.Td>
              <Table.Td>{formatDate(inv.created_at)}</Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
    </div>
  );
}

export function PaymentsTable({
  rows,
  nextRetry,
}: {
  rows: Payment[];
  /** The invoice's next automatic attempt, when known. */
  nextRetry?: (invoiceId: string) => string | null | undefined;
}) {
  if (rows.length === 0) return <Empty>No payments.</Empty>;
  return (
    <div className="table-scroll" tabIndex={0}>
      <Table data-list highlightOnHover aria-label="Payments">
        <Table.Thead>
          <Table.Tr>
            <Table.Th>Payment</Table.Th>
            <Table.Th>Invoice</Table.Th>
            <Table.Th>Customer</Table.Th>
            <Table.Th className="num">Amount</Table.Th>
            <Table.Th>Status</Table.Th>
            <Table.Th className="num">Attempt</Table.Th>
            <Table.Th>Failure code</Table.Th>
            <Table.Th>Next retry</Table.Th>
            <Table.Th>At</Table.Th>
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {rows.map((p) => (
            <Table.Tr key={p.id} data-invoice={p.invoice_id}>
              <Table.Td style={{ fontFamily: "monospace" }}>{p.id}</Table.Td>
              <Table.Td>
                <IdLink to="/invoices/$id" id={p.invoice_id} />
              </Table.Td>
              <Table.Td>
                <IdLink to="/customers/$id" id={p.user_id} />
              </Table.Td>
              <Table.Td className="num">{formatCents(p.amount_cents)}</Table.Td>
              <Table.Td>
                <StatusBadge status={p.status} />
              </Table.Td>
              <Table.Td className="num">{p.attempt}</Table.Td>
              <Table.Td>{p.failure_code ?? "—"}</Table.Td>
              <Table.Td>
                {p.status === "failed" ? formatDateTime(nextRetry?.(p.invoice_id)) : "—"}
              </Table.Td>
              <Table.Td>{formatDateTime(p.created_at)}</Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
    </div>
  );
}
