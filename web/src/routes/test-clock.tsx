// The test clock: move the billing clock forward and run the invoice and payment runs, so a
// whole billing cycle is simulated from the browser. Shown only when the API has a test clock.
import { useState } from "react";
import { Alert, Button, Group, Paper, Progress, Stack, Text, Title } from "@mantine/core";
import { DateTimePicker } from "@mantine/dates";
import { notifications } from "@mantine/notifications";
import { createRoute } from "@tanstack/react-router";
import { rootRoute } from "./__root";
import {
  useInvoiceRun,
  usePaymentRun,
  useRunProgress,
  useSetClock,
  useTestClock,
} from "../api/testClock";
import { AdminOnly } from "../components/Guard";
import { ErrorAlert, Loading, PageTitle } from "../components/ui";
import { errorMessage } from "../lib/errors";
import { formatDateTime, toRfc3339 } from "../lib/time";

function shifted(now: string, unit: "hour" | "day" | "month"): string {
  const d = new Date(now);
  if (unit === "hour") d.setUTCHours(d.getUTCHours() + 1);
  if (unit === "day") d.setUTCDate(d.getUTCDate() + 1);
  if (unit === "month") d.setUTCMonth(d.getUTCMonth() + 1);
  return toRfc3339(d);
}

/** Where a run that went on after its request stands: shards done of total. */
function RunProgressBar({ kind, runId }: { kind: "invoice" | "payment"; runId: string }) {
  const progress = useRunProgress(kind, runId);
  const run = progress.data;
  if (run === undefined) return <Loading />;
  return (
    <Stack gap={4}>
      <Text size="sm">
        {kind} run {run.run_id}: {run.status}, {run.shards_done} of {run.shards_total} shards
      </Text>
      <Progress
        value={(100 * run.shards_done) / Math.max(run.shards_total, 1)}
        aria-label={`${kind} run progress`}
      />
    </Stack>
  );
}

function TestClock() {
  const clock = useTestClock();
  const setClock = useSetClock();
  const invoiceRun = useInvoiceRun();
  const paymentRun = usePaymentRun();
  const [picked, setPicked] = useState<string | null>(null);
  const [log, setLog] = useState<string[]>([]);
  const [continuing, setContinuing] = useState<{
    kind: "invoice" | "payment";
    runId: string;
  } | null>(null);
  const note = (line: string) =>
    setLog((l) => [`${new Date().toLocaleTimeString()} ${line}`, ...l].slice(0, 20));
  const move = (to: string) =>
    setClock.mutate(to, {
      onSuccess: (c) => note(`clock moved to ${c.now}`),
      onError: (e) =>
        notifications.show({ color: "red", title: "Clock not moved", message: errorMessage(e) }),
    });
  if (clock.isPending) return <Loading />;
  if (clock.isError) return <ErrorAlert error={clock.error} />;
  if (clock.data === null)
    return <Alert>This API runs on the system clock (BILLING_TEST_CLOCK is off).</Alert>;
  const now = clock.data.now;
  return (
    <AdminOnly>
      <PageTitle>Test clock</PageTitle>
      <Stack maw={720}>
        <Paper withBorder p="md">
          <Text size="sm" c="dimmed">
            Billing clock
          </Text>
          <Title order={2} size="h3" data-testid="test-clock-now">
            {formatDateTime(now)}
          </Title>
          <Text size="xs" c="dimmed" style={{ fontFamily: "monospace" }}>
            {now}
          </Text>
          <Group mt="md" gap="xs" wrap="wrap">
            <Button
              variant="light"
              loading={setClock.isPending}
              onClick={() => move(shifted(now, "hour"))}
            >
              +1 hour
            </Button>
            <Button
              variant="light"
              loading={setClock.isPending}
              onClick={() => move(shifted(now, "day"))}
            >
              +1 day
            </Button>
            <Button
              variant="light"
              loading={setClock.isPending}
              onClick={() => move(shifted(now, "month"))}
            >
              +1 month
            </Button>
          </Group>
          <Group mt="md" align="flex-end" wrap="wrap">
            <DateTimePicker
              label="Move to (UTC)"
              placeholder="Pick a date and time"
              value={picked}
              onChange={setPicked}
              minDate={now.slice(0, 10)}
              w={260}
              withSeconds
            />
            <Button
              disabled={picked === null}
              loading={setClock.isPending}
              onClick={() => picked && move(`${picked.replace(" ", "T")}Z`)}
            >
              Move clock
            </Button>
          </Group>
          <Text size="xs" c="dimmed" mt="xs">
            The clock only moves forward.
          </Text>
        </Paper>
        <Paper withBorder p="md">
          <Title order={2} size="h4" mb="xs">
            Runs
          </Title>
          <Group gap="xs">
            <Button
              loading={invoiceRun.isPending}
              onClick={() =>
                invoiceRun.mutate(undefined, {
                  onSuccess: (r) =>
                    "run_id" in r
                      ? setContinuing({ kind: "invoice", runId: r.run_id })
                      : note(
                          `invoice run: ${r.subscriptions_renewed} renewed, ${r.invoices_created} invoices created`,
                        ),
                  onError: (e) => notifications.show({ color: "red", message: errorMessage(e) }),
                })
              }
            >
              Run invoices
            </Button>
            <Button
              loading={paymentRun.isPending}
              onClick={() =>
                paymentRun.mutate(undefined, {
                  onSuccess: (r) =>
                    "run_id" in r
                      ? setContinuing({ kind: "payment", runId: r.run_id })
                      : note(
                          `payment run: ${r.attempted} attempted, ${r.succeeded} succeeded, ${r.failed} failed`,
                        ),
                  onError: (e) => notifications.show({ color: "red", message: errorMessage(e) }),
                })
              }
            >
              Run payments
            </Button>
          </Group>
          {continuing && <RunProgressBar kind={continuing.kind} runId={continuing.runId} />}
          <Stack gap={2} mt="md" aria-live="polite" data-testid="run-log">
            {log.map((line, i) => (
              <Text key={i} size="sm" style={{ fontFamily: "monospace" }}>
                {line}
              </Text>
            ))}
          </Stack>
        </Paper>
      </Stack>
    </AdminOnly>
  );
}

export const Route = createRoute({
  getParentRoute: () => rootRoute,
  path: "/test-clock",
  component: TestClock,
});
