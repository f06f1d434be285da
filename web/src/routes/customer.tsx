import { useState } from "react";
import {
  Button,
  Group,
  Modal,
  Paper,
  Select,
  SimpleGrid,
  Stack,
  Table,
  Tabs,
  Text,
  TextInput,
  Title,
} from "@mantine/core";
import { useDisclosure } from "@mantine/hooks";
import { useQueries } from "@tanstack/react-query";
import { Link, createRoute, useNavigate } from "@tanstack/react-router";
import { rootRoute } from "./__root";
import { api, unwrap } from "../api/client";
import { useCustomerTimeline } from "../api/audit";
import { useInvoices } from "../api/invoices";
import { usePayments } from "../api/payments";
import { usePlans } from "../api/plans";
import { useSubscriptions } from "../api/subscriptions";
import { useUpdateUser, useUser } from "../api/users";
import type { User } from "../api/types";
import { AdminOnly } from "../components/Guard";
import { CreateSubscription } from "../components/CreateSubscription";
import { paymentMethods } from "../components/CreateCustomer";
import { InvoicesTable, PaymentsTable, SubscriptionsTable } from "../components/tables";
import { AuditTimeline } from "../components/Timeline";
import { ErrorAlert, Loading, Money, Pager } from "../components/ui";
import { placeError } from "../lib/errors";
import { formatDateTime, formatPeriod } from "../lib/time";
import { formatQuantity } from "../lib/money";
import { oneOf, str } from "../lib/search";

const tabs = ["subscriptions", "invoices", "payments", "usage", "audit"] as const;
type Tab = (typeof tabs)[number];

function EditCustomer({ user }: { user: User }) {
  const [opened, { open, close }] = useDisclosure(false);
  const update = useUpdateUser(user.id);
  const [name, setName] = useState(user.name ?? "");
  const [method, setMethod] = useState<string | null>(user.payment_method ?? null);
  const [errors, setErrors] = useState<Record<string, string>>({});
  return (
    <>
      <Button variant="default" size="xs" onClick={open}>
        Edit
      </Button>
      <Modal opened={opened} onClose={close} title="Edit customer">
        <form
          onSubmit={(event) => {
            event.preventDefault();
            update.mutate(
              { name: name.trim() === "" ? null : name.trim(), payment_method: method },
              {
                onSuccess: close,
                onError: (error) => {
                  const placed = placeError(error, ["name", "payment_method"]);
                  setErrors({
                    ...placed.fields,
                    ...(placed.general ? { general: placed.general } : {}),
                  });
                },
              },
            );
          }}
        >
          <Stack>
            {errors.general && <ErrorAlert error={new Error(errors.general)} />}
            <TextInput
              label="Name"
              value={name}
              onChange={(e) => setName(e.currentTarget.value)}
              error={errors.name}
            />
            <Select
              label="Payment method"
              data={paymentMethods}
              value={method}
              onChange={setMethod}
              clearable
              error={errors.payment_method}
            />
            <Group justify="flex-end">
              <Button type="submit" loading={update.isPending}>
                Save
              </Button>
            </Group>
          </Stack>
        </form>
      </Modal>
    </>
  );
}

function UsagePerMetric({ userId }: { userId: string }) {
  const subscriptions = useSubscriptions({ user_id: userId }, 100);
  const plans = usePlans(undefined, 100);
  const live = (subscriptions.data?.data ?? []).filter((s) => s.status !== "canceled");
  const rows = live.flatMap((s) => {
    const plan = plans.data?.data.find((p) => p.code === s.plan_code);
    return (plan?.usage_charges ?? []).map((c) => ({ subscription: s, metric: c.metric }));
  });
  const sums = useQueries({
    queries: rows.map((row) => {
      const params = {
        user_id: userId,
        metric: row.metric,
        from: row.subscription.current_period_start,
        to: row.subscription.current_period_end,
      };
      return {
        queryKey: ["usage", "summary", params],
        queryFn: () => unwrap(api.GET("/v1/usage/summary", { params: { query: params } })),
      };
    }),
  });
  if (subscriptions.isPending || plans.isPending) return <Loading />;
  if (rows.length === 0) return <Text c="dimmed">No live subscription prices a metric.</Text>;
  return (
    <div className="table-scroll" tabIndex={0}>
      <Table aria-label="Usage in the current period">
        <Table.Thead>
          <Table.Tr>
            <Table.Th>Metric</Table.Th>
            <Table.Th>Subscription</Table.Th>
            <Table.Th>Current period</Table.Th>
            <Table.Th className="num">Quantity so far</Table.Th>
            <Table.Th />
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {rows.map((row, i) => (
            <Table.Tr key={`${row.subscription.id}-${row.metric}`}>
              <Table.Td>{row.metric}</Table.Td>
              <Table.Td>{row.subscription.plan_code}</Table.Td>
              <Table.Td>
                {formatPeriod(
                  row.subscription.current_period_start,
                  row.subscription.current_period_end,
                )}
              </Table.Td>
              <Table.Td className="num">{formatQuantity(sums[i]?.data?.quantity)}</Table.Td>
              <Table.Td>
                <Link to="/usage" search={{ user_id: userId, metric: row.metric }}>
                  Explore
                </Link>
              </Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
    </div>
  );
}

function Customer() {
  const { id } = Route.useParams();
  const { tab, cursor } = Route.useSearch();
  const navigate = useNavigate({ from: Route.fullPath });
  const user = useUser(id);
  const current: Tab = tab ?? "subscriptions";
  const subscriptions = useSubscriptions({
    user_id: id,
    cursor: current === "subscriptions" ? cursor : undefined,
  });
  const invoices = useInvoices({
    user_id: id,
    cursor: current === "invoices" ? cursor : undefined,
  });
  const payments = usePayments({
    user_id: id,
    cursor: current === "payments" ? cursor : undefined,
  });
  const timeline = useCustomerTimeline(
    id,
    [
      ...(subscriptions.data?.data ?? []).map((s) => s.id),
      ...(invoices.data?.data ?? []).map((i) => i.id),
    ],
    current === "audit",
  );
  const setCursor = (c: string | undefined) =>
    void navigate({ search: (s) => ({ ...s, cursor: c }) });

  if (user.isPending) return <Loading />;
  if (user.isError) return <ErrorAlert error={user.error} title="Customer not found" />;
  const u = user.data;
  const pager = (next: string | null | undefined) => (
    <Pager cursor={cursor} nextCursor={next} onCursor={setCursor} />
  );
  return (
    <Stack>
      <Group justify="space-between" wrap="wrap">
        <div>
          <Title order={1} size="h2">
            {u.name ?? u.email}
          </Title>
          <Text c="dimmed" size="sm" style={{ fontFamily: "monospace" }}>
            {u.id}
          </Text>
        </div>
        <AdminOnly>
          <Group gap="xs">
            <EditCustomer user={u} />
            <CreateSubscription userId={u.id} />
          </Group>
        </AdminOnly>
      </Group>
      <SimpleGrid cols={{ base: 1, xs: 2, md: 4 }}>
        <Paper withBorder p="sm">
          <Text size="xs" c="dimmed">
            Email
          </Text>
          <Text style={{ wordBreak: "break-all" }}>{u.email}</Text>
        </Paper>
        <Paper withBorder p="sm">
          <Text size="xs" c="dimmed">
            Payment method
          </Text>
          <Text>{u.payment_method ?? "none"}</Text>
        </Paper>
        <Paper withBorder p="sm">
          <Text size="xs" c="dimmed">
            Credit balance
          </Text>
          <Text fw={700} data-testid="credit-balance">
            <Money cents={u.credit_balance_cents} />
          </Text>
        </Paper>
        <Paper withBorder p="sm">
          <Text size="xs" c="dimmed">
            Customer since
          </Text>
          <Text>{formatDateTime(u.created_at)}</Text>
        </Paper>
      </SimpleGrid>
      <Tabs
        value={current}
        onChange={(value) =>
          void navigate({ search: { tab: oneOf(value, tabs), cursor: undefined } })
        }
      >
        <Tabs.List>
          <Tabs.Tab value="subscriptions">Subscriptions</Tabs.Tab>
          <Tabs.Tab value="invoices">Invoices</Tabs.Tab>
          <Tabs.Tab value="payments">Payments</Tabs.Tab>
          <Tabs.Tab value="usage">Usage</Tabs.Tab>
          <Tabs.Tab value="audit">Audit</Tabs.Tab>
        </Tabs.List>
        <Tabs.Panel value="subscriptions" pt="sm">
          {subscriptions.isPending ? (
            <Loading />
          ) : subscriptions.isError ? (
            <ErrorAlert error={subscriptions.error} />
          ) : (
            <>
              <SubscriptionsTable rows={subscriptions.data.data} />
              {pager(subscriptions.data.next_cursor)}
            </>
          )}
        </Tabs.Panel>
        <Tabs.Panel value="invoices" pt="sm">
          {invoices.isPending ? (
            <Loading />
          ) : invoices.isError ? (
            <ErrorAlert error={invoices.error} />
          ) : (
            <>
              <InvoicesTable rows={invoices.data.data} />
              {pager(invoices.data.next_cursor)}
            </>
          )}
        </Tabs.Panel>
        <Tabs.Panel value="payments" pt="sm">
          {payments.isPending ? (
            <Loading />
          ) : payments.isError ? (
            <ErrorAlert error={payments.error} />
          ) : (
            <>
              <PaymentsTable rows={payments.data.data} />
              {pager(payments.data.next_cursor)}
            </>
          )}
        </Tabs.Panel>
        <Tabs.Panel value="usage" pt="sm">
          {current === "usage" && <UsagePerMetric userId={u.id} />}
        </Tabs.Panel>
        <Tabs.Panel value="audit" pt="sm">
          {timeline.isPending ? (
            <Loading />
          ) : timeline.error !== null ? (
            <ErrorAlert error={timeline.error} />
          ) : (
            <>
              <Text size="xs" c="dimmed" mb="xs">
                The latest entries of this customer and of their subscriptions and invoices;{" "}
                <Link to="/audit" search={{ entity_id: u.id }}>
                  every entry of the customer
                </Link>{" "}
                in the audit log.
              </Text>
              <AuditTimeline entries={timeline.entries} />
            </>
          )}
        </Tabs.Panel>
      </Tabs>
    </Stack>
  );
}

export const Route = createRoute({
  getParentRoute: () => rootRoute,
  path: "/customers/$id",
  validateSearch: (s: Record<string, unknown>): { tab?: Tab; cursor?: string } => ({
    tab: oneOf(s.tab, tabs),
    cursor: str(s.cursor),
  }),
  component: Customer,
});
