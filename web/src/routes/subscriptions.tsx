import { Group, Paper, Select, TextInput } from "@mantine/core";
import { createRoute, useNavigate } from "@tanstack/react-router";
import { useState } from "react";
import { rootRoute } from "./__root";
import { useSubscriptions } from "../api/subscriptions";
import { AdminOnly } from "../components/Guard";
import { CreateSubscription } from "../components/CreateSubscription";
import { SubscriptionsTable } from "../components/tables";
import { ErrorAlert, Loading, PageTitle, Pager } from "../components/ui";
import { oneOf, str } from "../lib/search";

const statuses = ["trialing", "active", "past_due", "canceled"] as const;

function Subscriptions() {
  const search = Route.useSearch();
  const navigate = useNavigate({ from: Route.fullPath });
  const [userId, setUserId] = useState(search.user_id ?? "");
  const list = useSubscriptions(search);
  return (
    <>
      <PageTitle
        actions={
          <AdminOnly>
            <CreateSubscription />
          </AdminOnly>
        }
      >
        Subscriptions
      </PageTitle>
      <Group mb="md" align="flex-end" wrap="wrap">
        <Select
          label="Status"
          placeholder="any"
          clearable
          data={statuses.map((s) => ({ value: s, label: s.replace("_", " ") }))}
          value={search.status ?? null}
          onChange={(value) =>
            void navigate({
              search: (s) => ({ ...s, status: oneOf(value, statuses), cursor: undefined }),
            })
          }
          w={160}
        />
        <form
          onSubmit={(e) => {
            e.preventDefault();
            void navigate({
              search: (s) => ({ ...s, user_id: userId.trim() || undefined, cursor: undefined }),
            });
          }}
        >
          <TextInput
            label="Customer id"
            placeholder="usr_… (Enter)"
            value={userId}
            onChange={(e) => setUserId(e.currentTarget.value)}
            w={260}
          />
        </form>
      </Group>
      <Paper withBorder>
        {list.isPending ? (
          <Loading />
        ) : list.isError ? (
          <ErrorAlert error={list.error} />
        ) : (
          <SubscriptionsTable rows={list.data.data} />
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
  path: "/subscriptions",
  validateSearch: (
    s: Record<string, unknown>,
  ): { status?: (typeof statuses)[number]; user_id?: string; cursor?: string } => ({
    status: oneOf(s.status, statuses),
    user_id: str(s.user_id),
    cursor: str(s.cursor),
  }),
  component: Subscriptions,
});
