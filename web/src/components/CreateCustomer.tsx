import { Button, Group, Modal, Select, Stack, TextInput } from "@mantine/core";
import { useForm } from "@mantine/form";
import { useDisclosure } from "@mantine/hooks";
import { useNavigate } from "@tanstack/react-router";
import { useCreateUser } from "../api/users";
import { placeError } from "../lib/errors";
import { ErrorAlert } from "./ui";
import { useState } from "react";

export const paymentMethods = [
  { value: "pm_card_ok", label: "pm_card_ok (succeeds)" },
  { value: "pm_card_declined", label: "pm_card_declined (declines)" },
  { value: "pm_card_flaky", label: "pm_card_flaky (transient failure, then succeeds)" },
];

export function CreateCustomer() {
  const [opened, { open, close }] = useDisclosure(false);
  const create = useCreateUser();
  const navigate = useNavigate();
  const [general, setGeneral] = useState<string | null>(null);
  const form = useForm<{ email: string; name: string; payment_method: string | null }>({
    initialValues: { email: "", name: "", payment_method: "pm_card_ok" },
  });
  const submit = form.onSubmit((values) => {
    setGeneral(null);
    create.mutate(
      {
        email: values.email.trim(),
        name: values.name.trim() === "" ? null : values.name.trim(),
        payment_method: values.payment_method,
      },
      {
        onSuccess: (user) => {
          close();
          form.reset();
          void navigate({ to: "/customers/$id", params: { id: user.id } });
        },
        onError: (error) => {
          const placed = placeError(error, ["email", "name", "payment_method"]);
          form.setErrors(placed.fields);
          setGeneral(placed.general);
        },
      },
    );
  });
  return (
    <>
      <Button onClick={open}>New customer</Button>
      <Modal opened={opened} onClose={close} title="New customer">
        <form onSubmit={submit}>
          <Stack>
            {general !== null && <ErrorAlert error={new Error(general)} />}
            <TextInput
              label="Email"
              type="email"
              required
              {...form.getInputProps("email")}
              data-autofocus
            />
            <TextInput label="Name" {...form.getInputProps("name")} />
            <Select
              label="Payment method"
              data={paymentMethods}
              clearable
              placeholder="none (payments decline)"
              {...form.getInputProps("payment_method")}
            />
            <Group justify="flex-end">
              <Button variant="default" onClick={close}>
                Cancel
              </Button>
              <Button type="submit" loading={create.isPending}>
                Create customer
              </Button>
            </Group>
          </Stack>
        </form>
      </Modal>
    </>
  );
}
