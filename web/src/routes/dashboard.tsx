import { Group, Paper, Select, SimpleGrid, Stack, Table, Text, Title } from "@mantine/core";
import { AreaChart, BarChart } from "@mantine/charts";
import { Link, createRoute, useNavigate } from "@tanstack/react-router";
import { rootRoute } from "./__root";
import { useDashboard } from "../api/dashboard";
import { Empty, ErrorAlert, Loading, PageTitle, StatusBadge } from "../components/ui";
import { formatCents, formatQuantity } from "../lib/money";
import { formatDateTime } from "../lib/time";
import { str } from "../lib/search";

const palette = ["indigo.8", "teal.8", "orange.8", "grape.8", "blue.8", "red.8"];

function Figure({
  label,
  value,
  hint,
  testId,
}: {
  label: string;
  value: string;
  hint?: string;
  testId?: string;
}) {
  return (
    <Paper withBorder p="md">
      <Text size="sm" c="dimmed">
        {label}
      </Text>
      <Text fw={700} fz="xl" data-testid={testId}>
        {value}
      </Text>
      {hint !== undefined && (
        <Text size="xs" c="dimmed">
          {hint}
        </Text>
      )}
    </Paper>
  );
}

function Dashboard() {
  const { currency: chosen } = Route.useSearch();
  const currency = chosen ?? "usd";
  const navigate = useNavigate({ from: Route.fullPath });
  const dashboard = useDashboard(currency);
  const money = (cents: number) => formatCents(cents, currency);
  return (
    <Stack>
      <PageTitle
        actions={
          <Select
            label="Currency"
            data={["usd", "eur", "gbp", "jpy"]}
            value={currency}
            allowDeselect={false}
            onChange={(v) => void navigate({ search: { currency: v ?? undefined } })}
            w={110}
          />
        }
      >
        Dashboard
      </PageTitle>
      {dashboard.isPending ? (
        <Loading />
      ) : dashboard.isError ? (
        <ErrorAlert error={dashboard.error} />
      ) : (
        (() => {
          const d = dashboard.data;
          const change = d.mrr_change_cents;
          const metrics = [...new Set(d.usage_by_day.map((u) => u.metric))];
          const days = [...new Set(d.usage_by_day.map((u) => u.day))].sort();
          const usage = days.map((day) => {
            const row: Record<string, string | number> = { day };
            for (const m of metrics) {
              row[m] = d.usage_by_day
                .filter((u) => u.day === day && u.metric === m)
                .reduce((a, u) => a + u.quantity, 0);
            }
            return row;
          });
          const revenue = d.revenue_by_month.map((r) => ({
            month: r.month,
            invoiced: r.invoiced_cents,
            paid: r.paid_cents,
          }));
          return (
            <>
              <Text size="xs" c="dimmed">
                As of {formatDateTime(d.as_of)} (billing clock)
              </Text>
              <SimpleGrid cols={{ base: 1, xs: 2, md: 4 }}>
                <Figure
                  label="MRR"
                  value={money(d.mrr_cents)}
                  hint={`${change >= 0 ? "+" : ""}${money(change)} this month`}
                  testId="mrr"
                />
                <Figure
                  label="Subscriptions"
                  value={String(d.active_subscriptions)}
                  hint={`active · ${d.trialing_subscriptions} trialing · ${d.past_due_subscriptions} past due`}
                />
                <Figure
                  label="Failed payments needing attention"
                  value={String(d.failing_invoices.count)}
                  hint={`${money(d.failing_invoices.amount_due_cents)} due`}
                />
                <Figure
                  label="Collected this month"
                  value={money(d.revenue_by_month.at(-1)?.paid_cents ?? 0)}
                  hint={`of ${money(d.revenue_by_month.at(-1)?.invoiced_cents ?? 0)} invoiced`}
                />
              </SimpleGrid>
              <SimpleGrid cols={{ base: 1, md: 2 }}>
                <Paper withBorder p="md">
                  <Title order={2} size="h4" mb="sm">
                    Revenue by month
                  </Title>
                  <BarChart
                    h={260}
                    data={revenue}
                    dataKey="month"
                    series={[
                      { name: "invoiced", color: "indigo.8", label: "Invoiced" },
                      { name: "paid", color: "teal.8", label: "Paid" },
                    ]}
                    withLegend
                    valueFormatter={(v) => money(v)}
                  />
                </Paper>
                <Paper withBorder p="md">
                  <Title order={2} size="h4" mb="sm">
                    Usage per day
                  </Title>
                  {usage.length === 0 ? (
                    <Empty>No usage in the last days.</Empty>
                  ) : (
                    <AreaChart
                      h={260}
                      data={usage}
                      dataKey="day"
                      series={metrics.map((m, i) => ({
                        name: m,
                        color: palette[i % palette.length] ?? "indigo.8",
                      }))}
                      withLegend
                      valueFormatter={(v) => formatQuantity(v)}
                    />
                  )}
                </Paper>
              </SimpleGrid>
              <Paper withBorder p="md">
                <Group justify="space-between" mb="sm">
                  <Title order={2} size="h4">
                    Invoices by status
                  </Title>
                  <Link to="/invoices" search={{ status: "open" }}>
                    Open invoices
                  </Link>
                </Group>
                <div className="table-scroll" tabIndex={0}>
                  <Table data-list aria-label="Invoices by status">
                    <Table.Thead>
                      <Table.Tr>
                        <Table.Th>Status</Table.Th>
                        <Table.Th className="num">Invoices</Table.Th>
                        <Table.Th className="num">Amount due</Table.Th>
                      </Table.Tr>
                    </Table.Thead>
                    <Table.Tbody>
                      {d.invoices_by_status.map((s) => (
                        <Table.Tr key={s.status}>
                          <Table.Td>
                            <StatusBadge status={s.status} />
                          </Table.Td>
                          <Table.Td className="num">{s.count}</Table.Td>
                          <Table.Td className="num">{money(s.amount_due_cents)}</Table.Td>
                        </Table.Tr>
                      ))}
                    </Table.Tbody>
                  </Table>
                </div>
              </Paper>
            </>
          );
        })()
      )}
    </Stack>
  );
}

export const Route = createRoute({
  getParentRoute: () => rootRoute,
  path: "/",
  validateSearch: (s: Record<string, unknown>): { currency?: string } => ({
    currency: str(s.currency),
  }),
  component: Dashboard,
});
