// The printable invoice: the document alone, laid out for one A4 page (styles.css @media print).
import { Button, Container, Group, Paper, Stack, Text, Title } from "@mantine/core";
import { Link, createRoute } from "@tanstack/react-router";
import { rootRoute } from "./__root";
import { useInvoice } from "../api/invoices";
import { useUser } from "../api/users";
import { InvoiceLines, InvoiceTotals } from "../components/InvoiceLines";
import { ErrorAlert, Loading } from "../components/ui";
import { formatDate, formatPeriod } from "../lib/time";

function PrintInvoice() {
  const { id } = Route.useParams();
  const invoice = useInvoice(id);
  const user = useUser(invoice.data?.user_id);
  if (invoice.isPending) return <Loading />;
  if (invoice.isError) return <ErrorAlert error={invoice.error} title="Invoice not found" />;
  const inv = invoice.data;
  return (
    <Container size="md" py="md" component="main">
      <Group justify="space-between" mb="md" className="no-print">
        <Button
          variant="default"
          renderRoot={(props) => <Link {...props} to="/invoices/$id" params={{ id }} />}
        >
          Back to invoice
        </Button>
        <Button onClick={() => window.print()}>Print</Button>
      </Group>
      <Paper withBorder p="xl" className="print-doc">
        <Stack>
          <Group justify="space-between" align="flex-start" wrap="wrap">
            <div>
              <Title order={1} size="h2">
                Invoice {inv.number}
              </Title>
              <Text size="sm">Status: {inv.status}</Text>
            </div>
            <Stack gap={0} ta="right">
              <Text size="sm">Issued {formatDate(inv.created_at)}</Text>
              <Text size="sm">Period {formatPeriod(inv.period_start, inv.period_end)}</Text>
              {inv.paid_at && <Text size="sm">Paid {formatDate(inv.paid_at)}</Text>}
            </Stack>
          </Group>
          <div>
            <Text size="xs" c="dimmed">
              Billed to
            </Text>
            <Text>{user.data?.name ?? user.data?.email ?? inv.user_id}</Text>
            {user.data?.name && <Text size="sm">{user.data.email}</Text>}
            <Text size="xs" style={{ fontFamily: "monospace" }}>
              {inv.user_id}
            </Text>
          </div>
          <InvoiceLines lines={inv.lines} currency={inv.currency} />
          <InvoiceTotals
            subtotal={inv.subtotal_cents}
            creditApplied={inv.credit_applied_cents}
            amountDue={inv.amount_due_cents}
            currency={inv.currency}
          />
        </Stack>
      </Paper>
    </Container>
  );
}

export const Route = createRoute({
  getParentRoute: () => rootRoute,
  path: "/invoices/$id/print",
  component: PrintInvoice,
});
