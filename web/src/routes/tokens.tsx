import { useState } from "react";
import {
  Alert,
  Button,
  Checkbox,
  Code,
  CopyButton,
  Group,
  Modal,
  Paper,
  Stack,
  Table,
  Text,
  TextInput,
} from "@mantine/core";
import { useDisclosure } from "@mantine/hooks";
import { notifications } from "@mantine/notifications";
import { createRoute, useNavigate } from "@tanstack/react-router";
import { rootRoute } from "./__root";
import { useCreateToken, useRevokeToken, useTokens } from "../api/tokens";
import type { CreatedToken, Scope } from "../api/types";
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
import { errorMessage, placeError } from "../lib/errors";
import { formatDateTime } from "../lib/time";
import { str } from "../lib/search";

const scopes: { value: Scope; label: string }[] = [
  { value: "admin", label: "admin: everything" },
  { value: "read", label: "read: every GET" },
  { value: "usage:write", label: "usage:write: POST /v1/usage only" },
];

function CreateToken() {
  const [opened, { open, close }] = useDisclosure(false);
  const create = useCreateToken();
  const [name, setName] = useState("");
  const [chosen, setChosen] = useState<Scope[]>(["read"]);
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [created, setCreated] = useState<CreatedToken | null>(null);
  const done = () => {
    close();
    setCreated(null);
    setName("");
  };
  return (
    <>
      <Button onClick={open}>New token</Button>
      <Modal opened={opened} onClose={done} title={created ? "Token created" : "New API token"}>
        {created ? (
          <Stack>
            <Alert color="yellow" title="Copy it now">
              This is the only time the secret is shown; the API keeps only its hash.
            </Alert>
            <Code
              block
              data-testid="token-secret"
              tabIndex={0}
              style={{ wordBreak: "break-all", whiteSpace: "pre-wrap" }}
            >
              {created.token ?? "(not shown again: this token was created earlier)"}
            </Code>
            <Group justify="flex-end">
              <CopyButton value={created.token ?? ""}>
                {({ copied, copy }) => <Button onClick={copy}>{copied ? "Copied" : "Copy"}</Button>}
              </CopyButton>
              <Button variant="default" onClick={done}>
                Done
              </Button>
            </Group>
          </Stack>
        ) : (
          <form
            onSubmit={(e) => {
              e.preventDefault();
              create.mutate(
                { name: name.trim(), scopes: chosen },
                {
                  onSuccess: (token) => {
                    setErrors({});
                    setCreated(token);
                  },
                  onError: (error) => {
                    const placed = placeError(error, ["name", "scopes"]);
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
                required
                value={name}
                onChange={(e) => setName(e.currentTarget.value)}
                error={errors.name}
              />
              <Checkbox.Group
                label="Scopes"
                value={chosen}
                onChange={(values) =>
                  setChosen(scopes.filter((s) => values.includes(s.value)).map((s) => s.value))
                }
                error={errors.scopes}
              >
                <Stack gap={6} mt="xs">
                  {scopes.map((s) => (
                    <Checkbox key={s.value} value={s.value} label={s.label} />
                  ))}
                </Stack>
              </Checkbox.Group>
              <Group justify="flex-end">
                <Button type="submit" loading={create.isPending}>
                  Create token
                </Button>
              </Group>
            </Stack>
          </form>
        )}
      </Modal>
    </>
  );
}

function Tokens() {
  const { cursor } = Route.useSearch();
  const navigate = useNavigate({ from: Route.fullPath });
  const tokens = useTokens(cursor);
  const revoke = useRevokeToken();
  return (
    <AdminOnly>
      <PageTitle actions={<CreateToken />}>API tokens</PageTitle>
      <Paper withBorder>
        {tokens.isPending ? (
          <Loading />
        ) : tokens.isError ? (
          <ErrorAlert error={tokens.error} />
        ) : tokens.data.data.length === 0 ? (
          <Empty>No tokens besides the bootstrap admin token.</Empty>
        ) : (
          <div className="table-scroll" tabIndex={0}>
            <Table data-list aria-label="API tokens">
              <Table.Thead>
                <Table.Tr>
                  <Table.Th>Name</Table.Th>
                  <Table.Th>Id</Table.Th>
                  <Table.Th>Scopes</Table.Th>
                  <Table.Th>Created</Table.Th>
                  <Table.Th>Status</Table.Th>
                  <Table.Th />
                </Table.Tr>
              </Table.Thead>
              <Table.Tbody>
                {tokens.data.data.map((t) => (
                  <Table.Tr key={t.id}>
                    <Table.Td>{t.name}</Table.Td>
                    <Table.Td style={{ fontFamily: "monospace" }}>{t.id}</Table.Td>
                    <Table.Td>{t.scopes.join(", ")}</Table.Td>
                    <Table.Td>{formatDateTime(t.created_at)}</Table.Td>
                    <Table.Td>
                      {t.revoked_at ? (
                        <Text size="sm">revoked {formatDateTime(t.revoked_at)}</Text>
                      ) : (
                        <StatusBadge status="active" />
                      )}
                    </Table.Td>
                    <Table.Td>
                      {!t.revoked_at && (
                        <Button
                          size="xs"
                          variant="light"
                          color="red"
                          onClick={() =>
                            confirmAction({
                              title: `Revoke ${t.name}?`,
                              body: (
                                <Text size="sm">
                                  Requests with this token are refused from now on.
                                </Text>
                              ),
                              confirm: "Revoke token",
                              onConfirm: () =>
                                revoke.mutate(t.id, {
                                  onSuccess: () =>
                                    notifications.show({ message: `${t.name} revoked` }),
                                  onError: (e) =>
                                    notifications.show({ color: "red", message: errorMessage(e) }),
                                }),
                            })
                          }
                        >
                          Revoke
                        </Button>
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
        nextCursor={tokens.data?.next_cursor}
        onCursor={(c) => void navigate({ search: { cursor: c } })}
      />
    </AdminOnly>
  );
}

export const Route = createRoute({
  getParentRoute: () => rootRoute,
  path: "/tokens",
  validateSearch: (s: Record<string, unknown>): { cursor?: string } => ({ cursor: str(s.cursor) }),
  component: Tokens,
});
