import { useState } from "react";
import {
  Button,
  Group,
  Modal,
  Paper,
  SimpleGrid,
  Stack,
  Text,
  TextInput,
  Title,
} from "@mantine/core";
import { useDisclosure } from "@mantine/hooks";
import { notifications } from "@mantine/notifications";
import { Link, createRoute, useNavigate } from "@tanstack/react-router";
import { rootRoute } from "./__root";
import { useInvoice, useNote, usePayInvoice, useVoidInvoice, type NoteKind } from "../api/invoices";
import { usePayments } from "../api/payments";
import type { Invoice } from "../api/types";
import { AdminOnly } from "../components/Guard";
import { InvoiceLines, InvoiceTotals } from "../components/InvoiceLines";
import { PaymentsTable } from "../components/tables";
import { ErrorAlert, IdLink, Loading, StatusBadge, confirmAction } from "../components/ui";
import { ApiError, errorMessage, placeError } from "../lib/errors";
import { formatCents, parseMajor } from "../lib/money";
import { formatDateTime, formatPeriod } from "../lib/time";

function NoteButton({ invoice, kind }: { invoice: Invoice; kind: NoteKind }) {
  const [opened, { open, close }] = useDisclosure(false);
  const note = useNote(invoice.id, kind);
  const navigate = useNavigate();
  const [amount, setAmount] = useState("");
  const [reason, setReason] = useState("");
  const [errors, setErrors] = useState<Record<string, string>>({});
  const label = kind === "credit" ? "Credit note" : "Debit note";
  const submit = () => {
    const cents = parseMajor(amount, invoice.currency);
    if (cents === null) {
      setErrors({ amount_cents: "Enter an amount such as 5.00" });
      return;
    }
    setErrors({});
    note.mutate(
      { amount_cents: cents, reason: reason.trim() },
      {
        onSuccess: (created) => {
          close();
          notifications.show({ message: `${label} ${created.id} created` });
          if (created.kind === "debit")
            void navigate({ to: "/invoices/$id", params: { id: created.id } });
        },
        onError: (error) => {
          const placed = placeError(error, ["amount_cents", "reason"]);
          setErrors({ ...placed.fields, ...(placed.general ? { general: placed.general } : {}) });
        },
      },
    );
  };
  return (
    <>
      <Button variant="light" onClick={open}>
        {label}
      </Button>
      <Modal opened={opened} onClose={close} title={`${label} on ${invoice.number}`}>
        <form
          onSubmit={(e) => {
            e.preventDefault();
            submit();
          }}
        >
          <Stack>
            <Text size="sm" c="dimmed">
              {kind === "credit"
                ? "Adds the amount to the customer's credit balance (at most what was paid)."
                : "Creates a new open invoice with one adjustment line naming this invoice."}
            </Text>
            {errors.general && <ErrorAlert error={new Error(errors.general)} />}
            <TextInput
              label={`Amount (${invoice.currency.toUpperCase()})`}
              inputMode="decimal"
              required
              value={amount}
              onChange={(e) => setAmount(e.currentTarget.value)}
              error={errors.amount_cents}
            />
            <TextInput
              label="Reason"
              required
              value={reason}
              onChange={(e) => setReason(e.currentTarget.value)}
              error={errors.reason}
            />
            <Group justify="flex-end">
              <Button type="submit" loading={note.isPending}>
                Create {label.toLowerCase()}
              </Button>
            </Group>
          </Stack>
        </form>
      </Modal>
    </>
  );
}

function Actions({ invoice }: { invoice: Invoice }) {
  const pay = usePayInvoice(invoice.id);
  const voidIt = useVoidInvoice(invoice.id);
  const open = invoice.status === "open";
  const paid = invoice.status === "paid";
  return (
    <Group gap="xs" className="no-print">
      {open && (
        <Button
          loading={pay.isPending}
          onClick={() =>
            pay.mutate(undefined, {
              onSuccess: (r) =>
                notifications.show({
                  color: "green",
                  message: `Paid: ${r.payment.id}`,
                }),
              onError: (e) =>
                notifications.show({
                  color: "red",
                  title:
                    e instanceof ApiError && e.body.type === "payment"
                      ? "Payment declined"
                      : "Payment failed",
                  message: errorMessage(e),
                }),
            })
          }
        >
          Pay now
        </Button>
      )}
      {open && (
        <Button
          variant="light"
          color="red"
          loading={voidIt.isPending}
          onClick={() =>
            confirmAction({
              title: `Void ${invoice.number}?`,
              body: (
                <Text size="sm">A void invoice is never collected. This cannot be undone.</Text>
              ),
              confirm: "Void invoice",
              onConfirm: () =>
                voidIt.mutate(undefined, {
                  onSuccess: () => notifications.show({ message: `${invoice.number} voided` }),
                  onError: (e) =>
                    notifications.show({
                      color: "red",
                      title: "Void failed",
                      message: errorMessage(e),
                    }),
                }),
            })
          }
        >
          Void
        </Button>
      )}
      {paid && <NoteButton invoice={invoice} kind="credit" />}
      {paid && <NoteButton invoice={invoice} kind="debit" />}
    </Group>
  );
}

function InvoicePage() {
  const { id } = Route.useParams();
  const invoice = useInvoice(id);
  const payments = usePayments({ invoice_id: id }, 100);
  if (invoice.isPending) return <Loading />;
  if (invoice.isError) return <ErrorAlert error={invoice.error} title="Invoice not found" />;
  const inv = invoice.data;
  const fact = (label: string, value: React.ReactNode) => (
    <Paper withBorder p="sm">
      <Text size="xs" c="dimmed">
        {label}
      </Text>
      <Text component="div" style={{ overflowWrap: "anywhere" }}>
        {value}
      </Text>
    </Paper>
  );
  return (
    <Stack>
      <Group justify="space-between" wrap="wrap">
        <div>
          <Title order={1} size="h2" data-testid="invoice-number">
            {inv.number} <StatusBadge status={inv.status} />
          </Title>
          <Text c="dimmed" size="sm" style={{ fontFamily: "monospace" }}>
            {inv.id}
          </Text>
        </div>
        <Group gap="xs">
          <Button
            variant="default"
            renderRoot={(props) => (
              <Link {...props} to="/invoices/$id/print" params={{ id: inv.id }} />
            )}
          >
            Printable view
          </Button>
          <AdminOnly>
            <Actions invoice={inv} />
          </AdminOnly>
        </Group>
      </Group>
      <SimpleGrid cols={{ base: 1, xs: 2, md: 4 }}>
        {fact("Customer", <IdLink to="/customers/$id" id={inv.user_id} />)}
        {fact(
          "Subscription",
          inv.subscription_id ? <IdLink to="/subscriptions/$id" id={inv.subscription_id} /> : "—",
        )}
        {fact("Reason", `${inv.billing_reason.replace(/_/g, " ")} · ${inv.kind.replace("_", " ")}`)}
        {fact("Period", formatPeriod(inv.period_start, inv.period_end))}
        {fact("Created", formatDateTime(inv.created_at))}
        {fact("Paid", formatDateTime(inv.paid_at))}
        {fact(
          "Attempts",
          `${inv.attempt_count}${inv.next_payment_attempt ? `, next ${formatDateTime(inv.next_payment_attempt)}` : ""}`,
        )}
        {fact(
          "Related invoice",
          inv.related_invoice_id ? <IdLink to="/invoices/$id" id={inv.related_invoice_id} /> : "—",
        )}
      </SimpleGrid>
      <Paper withBorder p="md">
        <Title order={2} size="h4" mb="sm">
          Lines
        </Title>
        <InvoiceLines lines={inv.lines} currency={inv.currency} />
        <InvoiceTotals
          subtotal={inv.subtotal_cents}
          creditApplied={inv.credit_applied_cents}
          amountDue={inv.amount_due_cents}
          currency={inv.currency}
        />
      </Paper>
      <Paper withBorder p="md">
        <Title order={2} size="h4" mb="sm">
          Payments (
          {formatCents(
            payments.data?.data
              .filter((p) => p.status === "succeeded")
              .reduce((a, p) => a + p.amount_cents, 0) ?? 0,
            inv.currency,
          )}{" "}
          collected)
        </Title>
        {payments.isPending ? (
          <Loading />
        ) : payments.isError ? (
          <ErrorAlert error={payments.error} />
        ) : (
          <PaymentsTable rows={payments.data.data} nextRetry={() => inv.next_payment_attempt} />
        )}
      </Paper>
    </Stack>
  );
}

export const Route = createRoute({
  getParentRoute: () => rootRoute,
  path: "/invoices/$id",
  component: InvoicePage,
});
