// Small shared pieces: status badges, money, error alerts, cursor pagination, confirmations.
import type { ReactNode } from "react";
import { Alert, Badge, Button, Group, Loader, Center, Text, Title, Stack } from "@mantine/core";
import { modals } from "@mantine/modals";
import { Link } from "@tanstack/react-router";
import { formatCents } from "../lib/money";
import { errorMessage } from "../lib/errors";

const statusColors: Record<string, string> = {
  active: "green",
  paid: "green",
  succeeded: "green",
  trialing: "blue",
  open: "blue",
  past_due: "orange",
  uncollectible: "red",
  failed: "red",
  canceled: "gray",
  void: "gray",
  archived: "gray",
};

export function StatusBadge({ status }: { status: string }) {
  return (
    <Badge
      color={statusColors[status] ?? "gray"}
      variant="light"
      radius="sm"
      style={{ flexShrink: 0, minWidth: "max-content" }}
    >
      {status.replace(/_/g, " ")}
    </Badge>
  );
}

export function Money({
  cents,
  currency,
}: {
  cents: number | string | null | undefined;
  currency?: string | undefined;
}) {
  return <span className="num">{formatCents(cents, currency ?? "usd")}</span>;
}

export function ErrorAlert({
  error,
  title = "Request failed",
}: {
  error: unknown;
  title?: string;
}) {
  if (error === null || error === undefined) return null;
  return (
    <Alert color="red" title={title} role="alert">
      {errorMessage(error)}
    </Alert>
  );
}

export function Loading({ label = "Loading" }: { label?: string }) {
  return (
    <Center p="xl" aria-live="polite">
      <Loader size="sm" aria-label={label} />
    </Center>
  );
}

export function Empty({ children }: { children: ReactNode }) {
  return (
    <Text c="dimmed" p="md" ta="center">
      {children}
    </Text>
  );
}

export function PageTitle({ children, actions }: { children: ReactNode; actions?: ReactNode }) {
  return (
    <Group justify="space-between" align="center" mb="md" wrap="wrap" gap="sm">
      <Title order={1} size="h2">
        {children}
      </Title>
      {actions !== undefined && <Group gap="xs">{actions}</Group>}
    </Group>
  );
}

/**
 * Next / first page with the API's cursors. The cursor lives in the URL (the page's `cursor`
 * search param), so a page of a list is a link; the browser's back button is "previous".
 */
export function Pager({
  nextCursor,
  cursor,
  onCursor,
}: {
  nextCursor: string | null | undefined;
  cursor: string | undefined;
  onCursor: (cursor: string | undefined) => void;
}) {
  if (!nextCursor && !cursor) return null;
  return (
    <Group justify="flex-end" mt="sm" className="no-print">
      <Button variant="default" size="xs" disabled={!cursor} onClick={() => onCursor(undefined)}>
        First page
      </Button>
      <Button
        variant="default"
        size="xs"
        disabled={!nextCursor}
        onClick={() => onCursor(nextCursor ?? undefined)}
      >
        Next page
      </Button>
    </Group>
  );
}

/** Asks before a destructive action; `onConfirm` runs only on "confirm". */
export function confirmAction(options: {
  title: string;
  body: ReactNode;
  confirm: string;
  onConfirm: () => void;
}) {
  modals.openConfirmModal({
    title: options.title,
    children: <Stack gap="xs">{options.body}</Stack>,
    labels: { confirm: options.confirm, cancel: "Cancel" },
    confirmProps: { color: "red" },
    onConfirm: options.onConfirm,
  });
}

/** A link to an entity's page, showing `id` (or another label such as an invoice number). */
export function IdLink({
  to,
  id,
  linkId,
}: {
  to: "/customers/$id" | "/invoices/$id" | "/subscriptions/$id";
  id: string;
  linkId?: string;
}) {
  return (
    <Link to={to} params={{ id: linkId ?? id }} style={{ fontFamily: "monospace" }}>
      {id}
    </Link>
  );
}
