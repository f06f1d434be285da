import { Button, Group, Paper, Stack, Table, Text } from "@mantine/core";
import { Link, createRoute, useNavigate } from "@tanstack/react-router";
import { notifications } from "@mantine/notifications";
import { rootRoute } from "./__root";
import { useArchivePlan, usePlans } from "../api/plans";
import type { Plan } from "../api/types";
import { AdminOnly } from "../components/Guard";
import {
  Empty,
  ErrorAlert,
  Loading,
  PageTitle,
  Pager,
  StatusBadge,
  confirmAction,
} from "../components/ui";
import { errorMessage } from "../lib/errors";
import { formatCents } from "../lib/money";
import { str } from "../lib/search";

function charges(plan: Plan): string {
  if (plan.usage_charges.length === 0) return "—";
  return plan.usage_charges
    .map((c) => `${c.metric} (${c.mode}, ${c.tiers.length} tiers)`)
    .join(", ");
}

function ArchiveButton({ plan }: { plan: Plan }) {
  const archive = useArchivePlan();
  return (
    <Button
      size="xs"
      variant="light"
      color="red"
      loading={archive.isPending}
      onClick={() =>
        confirmAction({
          title: `Archive ${plan.code}?`,
          body: (
            <Text size="sm">
              No new subscriptions can start on it; existing ones continue. This cannot be undone.
            </Text>
          ),
          confirm: "Archive plan",
          onConfirm: () =>
            archive.mutate(plan.code, {
              onSuccess: () => notifications.show({ message: `${plan.code} archived` }),
              onError: (e) =>
                notifications.show({
                  color: "red",
                  title: "Archive failed",
                  message: errorMessage(e),
                }),
            }),
        })
      }
    >
      Archive
    </Button>
  );
}

function Plans() {
  const { cursor } = Route.useSearch();
  const navigate = useNavigate({ from: Route.fullPath });
  const plans = usePlans(cursor);
  return (
    <Stack gap={0}>
      <PageTitle
        actions={
          <AdminOnly>
            <Button renderRoot={(props) => <Link {...props} to="/plans/new" />}>New plan</Button>
          </AdminOnly>
        }
      >
        Plans
      </PageTitle>
      <Paper withBorder>
        {plans.isPending ? (
          <Loading />
        ) : plans.isError ? (
          <ErrorAlert error={plans.error} />
        ) : plans.data.data.length === 0 ? (
          <Empty>No plans yet.</Empty>
        ) : (
          <div className="table-scroll" tabIndex={0}>
            <Table data-list highlightOnHover aria-label="Plans">
              <Table.Thead>
                <Table.Tr>
                  <Table.Th>Code</Table.Th>
                  <Table.Th>Name</Table.Th>
                  <Table.Th className="num">Fee</Table.Th>
                  <Table.Th>Interval</Table.Th>
                  <Table.Th className="num">Trial</Table.Th>
                  <Table.Th>Usage charges</Table.Th>
                  <Table.Th>Status</Table.Th>
                  <Table.Th />
                </Table.Tr>
              </Table.Thead>
              <Table.Tbody>
                {plans.data.data.map((plan) => (
                  <Table.Tr key={plan.code}>
                    <Table.Td>
                      <Link
                        to="/plans/$code"
                        params={{ code: plan.code }}
                        style={{ fontFamily: "monospace" }}
                      >
                        {plan.code}
                      </Link>
                    </Table.Td>
                    <Table.Td>{plan.name}</Table.Td>
                    <Table.Td className="num">
                      {formatCents(plan.amount_cents, plan.currency)}
                    </Table.Td>
                    <Table.Td>{plan.interval}</Table.Td>
                    <Table.Td className="num">{plan.trial_days} d</Table.Td>
                    <Table.Td>{charges(plan)}</Table.Td>
                    <Table.Td>
                      <StatusBadge status={plan.archived ? "archived" : "active"} />
                    </Table.Td>
                    <Table.Td>
                      {!plan.archived && (
                        <AdminOnly>
                          <ArchiveButton plan={plan} />
                        </AdminOnly>
                      )}
                    </Table.Td>
                  </Table.Tr>
                ))}
              </Table.Tbody>
            </Table>
          </div>
        )}
      </Paper>
      <Pager
        cursor={cursor}
        nextCursor={plans.data?.next_cursor}
        onCursor={(c) => void navigate({ search: { cursor: c } })}
      />
      <Group />
    </Stack>
  );
}

export const Route = createRoute({
  getParentRoute: () => rootRoute,
  path: "/plans",
  validateSearch: (s: Record<string, unknown>): { cursor?: string } => ({ cursor: str(s.cursor) }),
  component: Plans,
});
