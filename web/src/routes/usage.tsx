import { useState } from "react";
import { Button, Group, Paper, SegmentedControl, Stack, Text, TextInput } from "@mantine/core";
import { BarChart } from "@mantine/charts";
import { DatePickerInput } from "@mantine/dates";
import { createRoute, useNavigate } from "@tanstack/react-router";
import { rootRoute } from "./__root";
import { useUsageSeries, type Bucket } from "../api/usage";
import { useTestClock } from "../api/testClock";
import { Empty, ErrorAlert, Loading, PageTitle } from "../components/ui";
import { formatQuantity } from "../lib/money";
import { oneOf, str } from "../lib/search";

const buckets = ["hour", "day"] as const;
const day = (d: Date) => d.toISOString().slice(0, 10);

function addDays(date: string, n: number): string {
  const d = new Date(`${date}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + n);
  return day(d);
}

function UsageExplorer() {
  const search = Route.useSearch();
  const navigate = useNavigate({ from: Route.fullPath });
  const clock = useTestClock();
  // The range ends today by the billing clock (the test clock when there is one).
  const today = day(clock.data ? new Date(clock.data.now) : new Date());
  const bucket: Bucket = search.bucket ?? "day";
  const to = search.to ?? today;
  const from = search.from ?? addDays(to, bucket === "hour" ? -1 : -29);
  const [userId, setUserId] = useState(search.user_id ?? "");
  const [metric, setMetric] = useState(search.metric ?? "");
  const ready = Boolean(search.user_id && search.metric);
  const params = {
    user_id: search.user_id ?? "",
    metric: search.metric ?? "",
    from: `${from}T00:00:00Z`,
    to: `${addDays(to, 1)}T00:00:00Z`,
    bucket,
  };
  const series = useUsageSeries(params, ready);
  const points = (series.data?.points ?? []).map((p) => ({
    start: bucket === "hour" ? p.start.slice(5, 16).replace("T", " ") : p.start.slice(0, 10),
    quantity: p.quantity,
  }));
  const total = (series.data?.points ?? []).reduce((a, p) => a + p.quantity, 0);
  return (
    <Stack>
      <PageTitle>Usage explorer</PageTitle>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          void navigate({
            search: (s) => ({
              ...s,
              user_id: userId.trim() || undefined,
              metric: metric.trim() || undefined,
            }),
          });
        }}
      >
        <Group align="flex-end" wrap="wrap">
          <TextInput
            label="Customer id"
            placeholder="usr_…"
            required
            value={userId}
            onChange={(e) => setUserId(e.currentTarget.value)}
            w={240}
          />
          <TextInput
            label="Metric"
            placeholder="api_calls"
            required
            value={metric}
            onChange={(e) => setMetric(e.currentTarget.value)}
            w={180}
          />
          <DatePickerInput
            type="range"
            label="Range (UTC days)"
            value={[from, to]}
            onChange={([start, end]) => {
              if (start && end) void navigate({ search: (s) => ({ ...s, from: start, to: end }) });
            }}
            w={300}
          />
          <div>
            <Text size="sm" fw={500} mb={4} id="bucket-label">
              Buckets
            </Text>
            <SegmentedControl
              aria-labelledby="bucket-label"
              data={[
                { value: "hour", label: "Hourly" },
                { value: "day", label: "Daily" },
              ]}
              value={bucket}
              onChange={(v) =>
                void navigate({ search: (s) => ({ ...s, bucket: oneOf(v, buckets) }) })
              }
            />
          </div>
          <Button type="submit">Show</Button>
        </Group>
      </form>
      <Paper withBorder p="md">
        {!ready ? (
          <Empty>Choose a customer and a metric.</Empty>
        ) : series.isPending ? (
          <Loading />
        ) : series.isError ? (
          <ErrorAlert error={series.error} />
        ) : (
          <Stack>
            <Text>
              <b data-testid="usage-total">{formatQuantity(total)}</b> {params.metric} from {from}{" "}
              to {to} (UTC)
            </Text>
            <BarChart
              h={300}
              data={points}
              dataKey="start"
              series={[{ name: "quantity", color: "indigo.6", label: params.metric }]}
              tickLine="y"
              valueFormatter={(v) => formatQuantity(v)}
            />
          </Stack>
        )}
      </Paper>
    </Stack>
  );
}

export const Route = createRoute({
  getParentRoute: () => rootRoute,
  path: "/usage",
  validateSearch: (
    s: Record<string, unknown>,
  ): { user_id?: string; metric?: string; from?: string; to?: string; bucket?: Bucket } => ({
    user_id: str(s.user_id),
    metric: str(s.metric),
    from: str(s.from),
    to: str(s.to),
    bucket: oneOf(s.bucket, buckets),
  }),
  component: UsageExplorer,
});
