import { useState } from "react";
import {
  ActionIcon,
  Button,
  Divider,
  Group,
  NumberInput,
  Paper,
  SegmentedControl,
  Select,
  Stack,
  Text,
  TextInput,
  Title,
} from "@mantine/core";
import { useForm, type UseFormReturnType } from "@mantine/form";
import { createRoute, useNavigate } from "@tanstack/react-router";
import { rootRoute } from "./__root";
import { useCreatePlan } from "../api/plans";
import type { PlanDraft } from "../api/types";
import { AdminOnly } from "../components/Guard";
import { TierPreview } from "../components/TierPreview";
import { ErrorAlert, PageTitle } from "../components/ui";
import { fieldPaths, placeError } from "../lib/errors";
import { parseMajor } from "../lib/money";
import type { TierMode } from "../lib/tiers";

interface TierValues {
  up_to: string;
  unit_amount_decimal: string;
  flat_amount_cents: string;
}
interface ChargeValues {
  metric: string;
  mode: TierMode;
  tiers: TierValues[];
}
interface PlanValues {
  code: string;
  name: string;
  amount_cents: string;
  currency: string;
  interval: string;
  trial_days: number | string;
  usage_charges: ChargeValues[];
}

const emptyTier = (): TierValues => ({
  up_to: "",
  unit_amount_decimal: "0",
  flat_amount_cents: "",
});
const emptyCharge = (): ChargeValues => ({ metric: "", mode: "graduated", tiers: [emptyTier()] });

/** Form values → the API's PlanDraft; text the server will judge is passed through as typed. */
function toDraft(values: PlanValues): PlanDraft {
  const cents = parseMajor(values.amount_cents, values.currency);
  return {
    code: values.code.trim(),
    name: values.name.trim(),
    amount_cents: cents ?? Number.NaN,
    currency: values.currency,
    interval: values.interval,
    trial_days: values.trial_days === "" ? 0 : Number(values.trial_days),
    usage_charges: values.usage_charges.map((charge) => ({
      metric: charge.metric.trim(),
      mode: charge.mode,
      tiers: charge.tiers.map((tier) => ({
        up_to: tier.up_to.trim() === "" ? null : Number(tier.up_to.replace(/[,_ ]/g, "")),
        unit_amount_decimal: tier.unit_amount_decimal.trim(),
        flat_amount_cents:
          tier.flat_amount_cents.trim() === "" ? null : Number(tier.flat_amount_cents),
      })),
    })),
  };
}

function TierEditor({ form, index }: { form: UseFormReturnType<PlanValues>; index: number }) {
  const charge = form.values.usage_charges[index];
  if (charge === undefined) return null;
  const path = `usage_charges.${index}`;
  return (
    <Paper withBorder p="md" data-testid={`charge-${index}`}>
      <Stack gap="sm">
        <Group justify="space-between" align="flex-end" wrap="wrap">
          <TextInput
            label="Metric"
            placeholder="api_calls"
            required
            {...form.getInputProps(`${path}.metric`)}
          />
          <div>
            <Text size="sm" fw={500} mb={4} id={`mode-${index}`}>
              Mode
            </Text>
            <SegmentedControl
              aria-labelledby={`mode-${index}`}
              data={[
                { value: "graduated", label: "Graduated" },
                { value: "volume", label: "Volume" },
              ]}
              {...form.getInputProps(`${path}.mode`)}
            />
          </div>
          <Button
            variant="subtle"
            color="red"
            size="xs"
            onClick={() => form.removeListItem("usage_charges", index)}
          >
            Remove charge
          </Button>
        </Group>
        {form.errors[`${path}.tiers`] && (
          <Text c="red" size="sm">
            {form.errors[`${path}.tiers`]}
          </Text>
        )}
        {charge.tiers.map((_, t) => {
          const tierPath = `${path}.tiers.${t}`;
          const last = t === charge.tiers.length - 1;
          return (
            <Group
              key={t}
              align="flex-start"
              gap="xs"
              wrap="wrap"
              data-testid={`tier-${index}-${t}`}
            >
              <Text size="sm" w={48} pt={30}>
                Tier {t + 1}
              </Text>
              <TextInput
                label="Up to (units)"
                placeholder={last ? "∞ (empty)" : "100000"}
                inputMode="numeric"
                w={150}
                {...form.getInputProps(`${tierPath}.up_to`)}
              />
              <TextInput
                label="Unit price (¢)"
                placeholder="0.05"
                inputMode="decimal"
                w={130}
                {...form.getInputProps(`${tierPath}.unit_amount_decimal`)}
              />
              <TextInput
                label="Flat (¢)"
                placeholder="0"
                inputMode="numeric"
                w={100}
                {...form.getInputProps(`${tierPath}.flat_amount_cents`)}
              />
              <ActionIcon
                variant="subtle"
                color="red"
                mt={28}
                aria-label={`Remove tier ${t + 1}`}
                disabled={charge.tiers.length === 1}
                onClick={() => form.removeListItem(`${path}.tiers`, t)}
              >
                ×
              </ActionIcon>
            </Group>
          );
        })}
        <Group>
          <Button
            variant="light"
            size="xs"
            onClick={() => form.insertListItem(`${path}.tiers`, emptyTier())}
          >
            Add tier
          </Button>
        </Group>
        <Divider label="Live price preview" labelPosition="left" />
        <TierPreview
          mode={charge.mode}
          currency={form.values.currency}
          tiers={charge.tiers.map((tier) => ({
            up_to: tier.up_to.trim() === "" ? null : tier.up_to.replace(/[,_ ]/g, ""),
            unit_amount_decimal: tier.unit_amount_decimal,
            flat_amount_cents:
              tier.flat_amount_cents.trim() === "" ? 0 : Number(tier.flat_amount_cents),
          }))}
        />
      </Stack>
    </Paper>
  );
}

function NewPlan() {
  const create = useCreatePlan();
  const navigate = useNavigate();
  const [general, setGeneral] = useState<string | null>(null);
  const form = useForm<PlanValues>({
    initialValues: {
      code: "",
      name: "",
      amount_cents: "0.00",
      currency: "usd",
      interval: "month",
      trial_days: 0,
      usage_charges: [],
    },
    validate: {
      amount_cents: (value, values) =>
        parseMajor(value, values.currency) === null ? "Enter an amount such as 29.00" : null,
    },
  });
  const submit = form.onSubmit((values) => {
    setGeneral(null);
    create.mutate(toDraft(values), {
      onSuccess: (plan) => void navigate({ to: "/plans/$code", params: { code: plan.code } }),
      onError: (error) => {
        const placed = placeError(error, fieldPaths(form.values));
        form.setErrors(placed.fields);
        setGeneral(placed.general);
      },
    });
  });
  return (
    <AdminOnly>
      <PageTitle>New plan</PageTitle>
      <form onSubmit={submit} noValidate>
        <Stack maw={900}>
          {general !== null && (
            <ErrorAlert error={new Error(general)} title="The plan was not created" />
          )}
          <Paper withBorder p="md">
            <Stack gap="sm">
              <Group grow wrap="wrap" align="flex-start">
                <TextInput
                  label="Code"
                  description="Unique, never changes"
                  required
                  miw={180}
                  {...form.getInputProps("code")}
                />
                <TextInput label="Name" required miw={180} {...form.getInputProps("name")} />
              </Group>
              <Group grow wrap="wrap" align="flex-start">
                <TextInput
                  label={`Fee per period (${form.values.currency.toUpperCase()})`}
                  inputMode="decimal"
                  miw={140}
                  {...form.getInputProps("amount_cents")}
                />
                <Select
                  label="Currency"
                  data={["usd", "eur", "gbp", "jpy"]}
                  allowDeselect={false}
                  miw={100}
                  {...form.getInputProps("currency")}
                />
                <Select
                  label="Interval"
                  data={[
                    { value: "month", label: "Monthly" },
                    { value: "year", label: "Yearly" },
                  ]}
                  allowDeselect={false}
                  miw={120}
                  {...form.getInputProps("interval")}
                />
                <NumberInput
                  label="Trial days"
                  min={0}
                  allowDecimal={false}
                  miw={100}
                  {...form.getInputProps("trial_days")}
                />
              </Group>
            </Stack>
          </Paper>
          <Title order={2} size="h4">
            Usage charges
          </Title>
          {form.values.usage_charges.length === 0 && (
            <Text c="dimmed" size="sm">
              No usage charges: the plan bills only its fee.
            </Text>
          )}
          {form.values.usage_charges.map((_, i) => (
            <TierEditor key={i} form={form} index={i} />
          ))}
          <Group justify="space-between">
            <Button
              variant="light"
              onClick={() => form.insertListItem("usage_charges", emptyCharge())}
            >
              Add usage charge
            </Button>
            <Button type="submit" loading={create.isPending}>
              Create plan
            </Button>
          </Group>
        </Stack>
      </form>
    </AdminOnly>
  );
}

export const Route = createRoute({
  getParentRoute: () => rootRoute,
  path: "/plans/new",
  component: NewPlan,
});
