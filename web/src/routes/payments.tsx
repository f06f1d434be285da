import { useState } from "react";
import { Button, Group, Paper, TextInput } from "@mantine/core";
import { useQueries } from "@tanstack/react-query";
import { createRoute, useNavigate } from "@tanstack/react-router";
import { rootRoute } from "./__root";
import { api, unwrap } from "../api/client";
import { usePayments } from "../api/payments";
import { PaymentsTable } from "../components/tables";
import { ErrorAlert, Loading, PageTitle, Pager } from "../components/ui";
import { str } from "../lib/search";

function Payments() {
  const search = Route.useSearch();
  const navigate = useNavigate({ from: Route.fullPath });
  const [userId, setUserId] = useState(search.user_id ?? "");
  const [invoiceId, setInvoiceId] = useState(search.invoice_id ?? "");
  const list = usePayments(search);
  // The next retry is the invoice's: read once per failing invoice on this page.
  const failing = [
    ...new Set(
      (list.data?.data ?? []).filter((p) => p.status === "failed").map((p) => p.invoice_id),
    ),
  ];
  const invoices = useQueries({
    queries: failing.map((id) => ({
      queryKey: ["invoices", "one", id],
      queryFn: () => unwrap(api.GET("/v1/invoices/{id}", { params: { path: { id } } })),
    })),
  });
  const nextRetry = (id: string) =>
    invoices.find((q) => q.data?.id === id)?.data?.next_payment_attempt;
  return (
    <>
      <PageTitle>Payments</PageTitle>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          void navigate({
            search: {
              user_id: userId.trim() || undefined,
              invoice_id: invoiceId.trim() || undefined,
              cursor: undefined,
            },
          });
        }}
      >
        <Group mb="md" align="flex-end" wrap="wrap">
          <TextInput
            label="Customer id"
            placeholder="usr_…"
            value={userId}
            onChange={(e) => setUserId(e.currentTarget.value)}
            w={240}
          />
          <TextInput
            label="Invoice id"
            placeholder="inv_…"
            value={invoiceId}
            onChange={(e) => setInvoiceId(e.currentTarget.value)}
            w={240}
          />
          <Button type="submit" variant="light">
            Apply
          </Button>
        </Group>
      </form>
      <Paper withBorder>
        {list.isPending ? (
          <Loading />
        ) : list.isError ? (
          <ErrorAlert error={list.error} />
        ) : (
          <PaymentsTable rows={list.data.data} nextRetry={nextRetry} />
        )}
      </Paper>
      <Pager
        cursor={search.cursor}
        nextCursor={list.data?.next_cursor}
        onCursor={(c) => void navigate({ search: (s) => ({ ...s, cursor: c }) })}
      />
    </>
  );
}

export const Route = createRoute({
  getParentRoute: () => rootRoute,
  path: "/payments",
  validateSearch: (
    s: Record<string, unknown>,
  ): { user_id?: string; invoice_id?: string; cursor?: string } => ({
    user_id: str(s.user_id),
    invoice_id: str(s.invoice_id),
    cursor: str(s.cursor),
  }),
  component: Payments,
});
