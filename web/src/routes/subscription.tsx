import { useState } from "react";
import {
  Alert,
  Button,
  Group,
  Modal,
  Paper,
  Radio,
  Select,
  SimpleGrid,
  Stack,
  Text,
  Title,
} from "@mantine/core";
import { useDisclosure } from "@mantine/hooks";
import { notifications } from "@mantine/notifications";
import { Link, createRoute, useNavigate } from "@tanstack/react-router";
import { rootRoute } from "./__root";
import { useAudit } from "../api/audit";
import { useInvoices } from "../api/invoices";
import { usePlans } from "../api/plans";
import {
  useCancelSubscription,
  useChangePlan,
  useChangePlanPreview,
  useSubscription,
  useUpcomingInvoice,
  type Effective,
} from "../api/subscriptions";
import type { Subscription } from "../api/types";
import { AdminOnly } from "../components/Guard";
import { InvoiceLines, InvoiceTotals } from "../components/InvoiceLines";
import { InvoicesTable } from "../components/tables";
import { AuditTimeline } from "../components/Timeline";
import { ErrorAlert, IdLink, Loading, StatusBadge, confirmAction } from "../components/ui";
import { errorMessage } from "../lib/errors";
import { formatDateTime, formatPeriod } from "../lib/time";

function ChangePlan({ subscription }: { subscription: Subscription }) {
  const [opened, { open, close }] = useDisclosure(false);
  const plans = usePlans(undefined, 100);
  const [planCode, setPlanCode] = useState<string | null>(null);
  const [effective, setEffective] = useState<Effective>("now");
  const preview = useChangePlanPreview(subscription.id, opened ? planCode : null, effective);
  const change = useChangePlan(subscription.id);
  const navigate = useNavigate();
  const options = (plans.data?.data ?? [])
    .filter((p) => !p.archived && p.code !== subscription.plan_code)
    .map((p) => ({ value: p.code, label: `${p.name} (${p.code})` }));
  const confirm = () =>
    change.mutate(
      { plan_code: planCode ?? "", effective },
      {
        onSuccess: (result) => {
          close();
          setPlanCode(null);
          notifications.show({
            message:
              effective === "now"
                ? `Plan changed to ${result.subscription.plan_code}`
                : `Change to ${result.subscription.pending_plan_code ?? ""} scheduled for period end`,
          });
          if (result.invoice)
            void navigate({ to: "/invoices/$id", params: { id: result.invoice.id } });
        },
      },
    );
  return (
    <>
      <Button variant="light" onClick={open}>
        Change plan
      </Button>
      <Modal opened={opened} onClose={close} title="Change plan" size="xl">
        <Stack>
          <Select
            label="New plan"
            data={options}
            value={planCode}
            onChange={setPlanCode}
            searchable
          />
          <Radio.Group
            label="Effective"
            value={effective}
            onChange={(v) => setEffective(v === "period_end" ? "period_end" : "now")}
          >
            <Group mt="xs">
              <Radio value="now" label="Now (prorated)" />
              <Radio
                value="period_end"
                label={`At period end (${formatDateTime(subscription.current_period_end)})`}
              />
            </Group>
          </Radio.Group>
          {planCode !== null && (
            <Paper withBorder p="sm" data-testid="change-preview">
              <Title order={3} size="h5" mb="xs">
                What this change will invoice
              </Title>
              {preview.isPending ? (
                <Loading label="Previewing" />
              ) : preview.isError ? (
                <ErrorAlert error={preview.error} title="This change is not possible" />
              ) : preview.data.invoice === null || preview.data.invoice === undefined ? (
                <Text size="sm">
                  No invoice now.{" "}
                  {effective === "period_end"
                    ? `The new plan's fee is billed at renewal on ${formatDateTime(subscription.current_period_end)}.`
                    : "During a trial only the plan switches."}
                </Text>
              ) : (
                <Stack gap="xs">
                  <InvoiceLines
                    lines={preview.data.invoice.lines}
                    currency={preview.data.invoice.currency}
                    caption="Previewed invoice lines"
                  />
                  <InvoiceTotals
                    subtotal={preview.data.invoice.subtotal_cents}
                    creditApplied={preview.data.invoice.credit_applied_cents}
                    amountDue={preview.data.invoice.amount_due_cents}
                    currency={preview.data.invoice.currency}
                  />
                </Stack>
              )}
            </Paper>
          )}
          {change.isError && <ErrorAlert error={change.error} />}
          <Group justify="flex-end">
            <Button variant="default" onClick={close}>
              Cancel
            </Button>
            <Button onClick={confirm} disabled={!preview.isSuccess} loading={change.isPending}>
              Confirm change
            </Button>
          </Group>
        </Stack>
      </Modal>
    </>
  );
}

function CancelSubscription({ subscription }: { subscription: Subscription }) {
  const cancel = useCancelSubscription(subscription.id);
  const run = (atPeriodEnd: boolean) =>
    confirmAction({
      title: atPeriodEnd ? "Cancel at period end?" : "Cancel now?",
      body: (
        <Text size="sm">
          {atPeriodEnd
            ? `The subscription renews no more: on ${formatDateTime(subscription.current_period_end)} a final invoice bills the period's usage and it ends.`
            : "It ends now: a final invoice bills the usage so far and credits the unused part of the fee."}
        </Text>
      ),
      confirm: atPeriodEnd ? "Cancel at period end" : "Cancel now",
      onConfirm: () =>
        cancel.mutate(
          { at_period_end: atPeriodEnd },
          {
            onSuccess: () =>
              notifications.show({
                message: atPeriodEnd ? "Cancellation scheduled" : "Subscription canceled",
              }),
            onError: (e) =>
              notifications.show({
                color: "red",
                title: "Cancel failed",
                message: errorMessage(e),
              }),
          },
        ),
    });
  return (
    <>
      {!subscription.cancel_at_period_end && (
        <Button variant="light" color="orange" onClick={() => run(true)} loading={cancel.isPending}>
          Cancel at period end
        </Button>
      )}
      <Button variant="light" color="red" onClick={() => run(false)} loading={cancel.isPending}>
        Cancel now
      </Button>
    </>
  );
}

function Upcoming({ id }: { id: string }) {
  const upcoming = useUpcomingInvoice(id);
  if (upcoming.isPending) return <Loading />;
  if (upcoming.isError) return <ErrorAlert error={upcoming.error} title="No upcoming invoice" />;
  const inv = upcoming.data;
  return (
    <Stack gap="xs">
      <Text size="sm" c="dimmed">
        Period {formatPeriod(inv.period_start, inv.period_end)}, with the usage so far. Nothing is
        stored.
      </Text>
      <InvoiceLines lines={inv.lines} currency={inv.currency} caption="Upcoming invoice lines" />
      <InvoiceTotals
        subtotal={inv.subtotal_cents}
        creditApplied={inv.credit_applied_cents}
        amountDue={inv.amount_due_cents}
        currency={inv.currency}
      />
    </Stack>
  );
}

function SubscriptionPage() {
  const { id } = Route.useParams();
  const subscription = useSubscription(id);
  const invoices = useInvoices({ subscription_id: id }, 100);
  const audit = useAudit({ entity_id: id }, 100);
  if (subscription.isPending) return <Loading />;
  if (subscription.isError)
    return <ErrorAlert error={subscription.error} title="Subscription not found" />;
  const s = subscription.data;
  const live = s.status !== "canceled";
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
          <Title order={1} size="h2">
            Subscription <StatusBadge status={s.status} />
          </Title>
          <Text c="dimmed" size="sm" style={{ fontFamily: "monospace" }}>
            {s.id}
          </Text>
        </div>
        {live && (
          <AdminOnly>
            <Group gap="xs">
              <ChangePlan subscription={s} />
              <CancelSubscription subscription={s} />
            </Group>
          </AdminOnly>
        )}
      </Group>
      <SimpleGrid cols={{ base: 1, xs: 2, md: 4 }}>
        {fact("Customer", <IdLink to="/customers/$id" id={s.user_id} />)}
        {fact(
          "Plan",
          <>
            <Link to="/plans/$code" params={{ code: s.plan_code }}>
              {s.plan_code}
            </Link>
            {s.pending_plan_code && ` → ${s.pending_plan_code} at period end`}
          </>,
        )}
        {fact("Current period", formatPeriod(s.current_period_start, s.current_period_end))}
        {fact("Trial end", formatDateTime(s.trial_end))}
      </SimpleGrid>
      {s.cancel_at_period_end && (
        <Alert color="orange">Cancels at the end of the current period.</Alert>
      )}
      {s.canceled_at && <Alert color="gray">Canceled {formatDateTime(s.canceled_at)}.</Alert>}
      {live && (
        <Paper withBorder p="md">
          <Title order={2} size="h4" mb="sm">
            Upcoming invoice
          </Title>
          <Upcoming id={s.id} />
        </Paper>
      )}
      <Paper withBorder p="md">
        <Title order={2} size="h4" mb="sm">
          Invoices
        </Title>
        {invoices.isPending ? (
          <Loading />
        ) : invoices.isError ? (
          <ErrorAlert error={invoices.error} />
        ) : (
          <InvoicesTable rows={invoices.data.data} />
        )}
      </Paper>
      <Paper withBorder p="md">
        <Title order={2} size="h4" mb="sm">
          Timeline
        </Title>
        {audit.isPending ? (
          <Loading />
        ) : audit.isError ? (
          <ErrorAlert error={audit.error} />
        ) : (
          <AuditTimeline entries={audit.data.data} />
        )}
      </Paper>
    </Stack>
  );
}

export const Route = createRoute({
  getParentRoute: () => rootRoute,
  path: "/subscriptions/$id",
  component: SubscriptionPage,
});
