import { useState } from "react";
import { Button, Group, Paper, SegmentedControl, TextInput } from "@mantine/core";
import { createRoute, useNavigate } from "@tanstack/react-router";
import { rootRoute } from "./__root";
import { useInvoices } from "../api/invoices";
import { InvoicesTable } from "../components/tables";
import { ErrorAlert, Loading, PageTitle, Pager } from "../components/ui";
import { oneOf, str } from "../lib/search";

const statuses = ["open", "paid", "void", "uncollectible"] as const;

function Invoices() {
  const search = Route.useSearch();
  const navigate = useNavigate({ from: Route.fullPath });
  const [userId, setUserId] = useState(search.user_id ?? "");
  const [subscriptionId, setSubscriptionId] = useState(search.subscription_id ?? "");
  const list = useInvoices(search);
  return (
    <>
      <PageTitle>Invoices</PageTitle>
      <Group mb="md" align="flex-end" wrap="wrap">
        <div>
          <SegmentedControl
            aria-label="Status"
            data={[{ value: "", label: "All" }, ...statuses.map((s) => ({ value: s, label: s }))]}
            value={search.status ?? ""}
            onChange={(v) =>
              void navigate({
                search: (s) => ({ ...s, status: oneOf(v, statuses), cursor: undefined }),
              })
            }
          />
        </div>
        <form
          onSubmit={(e) => {
            e.preventDefault();
            void navigate({
              search: (s) => ({
                ...s,
                user_id: userId.trim() || undefined,
                subscription_id: subscriptionId.trim() || undefined,
                cursor: undefined,
              }),
            });
          }}
        >
          <Group align="flex-end" wrap="wrap">
            <TextInput
              label="Customer id"
              placeholder="usr_…"
              value={userId}
              onChange={(e) => setUserId(e.currentTarget.value)}
              w={240}
            />
            <TextInput
              label="Subscription id"
              placeholder="sub_…"
              value={subscriptionId}
              onChange={(e) => setSubscriptionId(e.currentTarget.value)}
              w={240}
            />
            <Button type="submit" variant="light">
              Apply
            </Button>
          </Group>
        </form>
      </Group>
      <Paper withBorder>
        {list.isPending ? (
          <Loading />
        ) : list.isError ? (
          <ErrorAlert error={list.error} />
        ) : (
          <InvoicesTable rows={list.data.data} />
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
  path: "/invoices",
  validateSearch: (
    s: Record<string, unknown>,
  ): {
    status?: (typeof statuses)[number];
    user_id?: string;
    subscription_id?: string;
    cursor?: string;
  } => ({
    status: oneOf(s.status, statuses),
    user_id: str(s.user_id),
    subscription_id: str(s.subscription_id),
    cursor: str(s.cursor),
  }),
  component: Invoices,
});
