import { Paper, SimpleGrid, Stack, Table, Text, Title } from "@mantine/core";
import { createRoute } from "@tanstack/react-router";
import { rootRoute } from "./__root";
import { usePlan } from "../api/plans";
import { TierPreview } from "../components/TierPreview";
import { ErrorAlert, Loading, StatusBadge } from "../components/ui";
import { formatCents, formatUnitPrice } from "../lib/money";
import { formatDateTime } from "../lib/time";

function PlanPage() {
  const { code } = Route.useParams();
  const plan = usePlan(code);
  if (plan.isPending) return <Loading />;
  if (plan.isError) return <ErrorAlert error={plan.error} title="Plan not found" />;
  const p = plan.data;
  return (
    <Stack>
      <div>
        <Title order={1} size="h2">
          {p.name} <StatusBadge status={p.archived ? "archived" : "active"} />
        </Title>
        <Text c="dimmed" size="sm" style={{ fontFamily: "monospace" }}>
          {p.code}
        </Text>
      </div>
      <SimpleGrid cols={{ base: 2, md: 4 }}>
        <Paper withBorder p="sm">
          <Text size="xs" c="dimmed">
            Fee
          </Text>
          <Text fw={700}>
            {formatCents(p.amount_cents, p.currency)} / {p.interval}
          </Text>
        </Paper>
        <Paper withBorder p="sm">
          <Text size="xs" c="dimmed">
            Trial
          </Text>
          <Text>{p.trial_days} days</Text>
        </Paper>
        <Paper withBorder p="sm">
          <Text size="xs" c="dimmed">
            Currency
          </Text>
          <Text>{p.currency.toUpperCase()}</Text>
        </Paper>
        <Paper withBorder p="sm">
          <Text size="xs" c="dimmed">
            Created
          </Text>
          <Text>{formatDateTime(p.created_at)}</Text>
        </Paper>
      </SimpleGrid>
      {p.usage_charges.map((charge) => (
        <Paper withBorder p="md" key={charge.metric}>
          <Title order={2} size="h4" mb="xs">
            {charge.metric} · {charge.mode}
          </Title>
          <div className="table-scroll" tabIndex={0}>
            <Table aria-label={`Tiers of ${charge.metric}`} mb="md">
              <Table.Thead>
                <Table.Tr>
                  <Table.Th className="num">Tier</Table.Th>
                  <Table.Th className="num">Up to</Table.Th>
                  <Table.Th className="num">Unit price</Table.Th>
                  <Table.Th className="num">Flat</Table.Th>
                </Table.Tr>
              </Table.Thead>
              <Table.Tbody>
                {charge.tiers.map((tier, i) => (
                  <Table.Tr key={i}>
                    <Table.Td className="num">{i + 1}</Table.Td>
                    <Table.Td className="num">
                      {tier.up_to === null || tier.up_to === undefined
                        ? "∞"
                        : tier.up_to.toLocaleString("en-US")}
                    </Table.Td>
                    <Table.Td className="num">
                      {formatUnitPrice(tier.unit_amount_decimal, p.currency)}
                    </Table.Td>
                    <Table.Td className="num">
                      {formatCents(tier.flat_amount_cents, p.currency)}
                    </Table.Td>
                  </Table.Tr>
                ))}
              </Table.Tbody>
            </Table>
          </div>
          <TierPreview
            mode={charge.mode === "volume" ? "volume" : "graduated"}
            tiers={charge.tiers.map((t) => ({ ...t, up_to: t.up_to ?? null }))}
            currency={p.currency}
          />
        </Paper>
      ))}
    </Stack>
  );
}

export const Route = createRoute({
  getParentRoute: () => rootRoute,
  path: "/plans/$code",
  component: PlanPage,
});
