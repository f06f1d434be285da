import { useState } from "react";
import { Button, Group, Modal, NumberInput, Select, Stack, TextInput } from "@mantine/core";
import { useForm } from "@mantine/form";
import { useDisclosure } from "@mantine/hooks";
import { useNavigate } from "@tanstack/react-router";
import { usePlans } from "../api/plans";
import { useCreateSubscription } from "../api/subscriptions";
import { placeError } from "../lib/errors";
import { ErrorAlert } from "./ui";

/** Subscribe a customer to a plan; the trial is the plan's unless overridden here. */
export function CreateSubscription({ userId }: { userId?: string }) {
  const [opened, { open, close }] = useDisclosure(false);
  const plans = usePlans(undefined, 100);
  const create = useCreateSubscription();
  const navigate = useNavigate();
  const [general, setGeneral] = useState<string | null>(null);
  const form = useForm({
    initialValues: {
      user_id: userId ?? "",
      plan_code: null as string | null,
      trial_days: "" as number | string,
    },
  });
  const options = (plans.data?.data ?? [])
    .filter((p) => !p.archived)
    .map((p) => ({ value: p.code, label: `${p.name} (${p.code}), trial ${p.trial_days} days` }));
  const submit = form.onSubmit((values) => {
    setGeneral(null);
    create.mutate(
      {
        user_id: values.user_id.trim(),
        plan_code: values.plan_code ?? "",
        trial_days: values.trial_days === "" ? null : Number(values.trial_days),
      },
      {
        onSuccess: (result) => {
          close();
          void navigate({ to: "/subscriptions/$id", params: { id: result.id } });
        },
        onError: (error) => {
          const placed = placeError(error, ["user_id", "plan_code", "trial_days"]);
          form.setErrors(placed.fields);
          setGeneral(placed.general);
        },
      },
    );
  });
  return (
    <>
      <Button onClick={open}>New subscription</Button>
      <Modal opened={opened} onClose={close} title="New subscription">
        <form onSubmit={submit}>
          <Stack>
            {general !== null && <ErrorAlert error={new Error(general)} />}
            <TextInput
              label="Customer id"
              required
              disabled={userId !== undefined}
              {...form.getInputProps("user_id")}
            />
            <Select
              label="Plan"
              data={options}
              required
              searchable
              {...form.getInputProps("plan_code")}
            />
            <NumberInput
              label="Trial days (override)"
              description="Empty: the plan's trial. 0: no trial, invoiced now."
              min={0}
              allowDecimal={false}
              {...form.getInputProps("trial_days")}
            />
            <Group justify="flex-end">
              <Button variant="default" onClick={close}>
                Cancel
              </Button>
              <Button type="submit" loading={create.isPending}>
                Subscribe
              </Button>
            </Group>
          </Stack>
        </form>
      </Modal>
    </>
  );
}
