import { useState } from "react";
import { Button, Group, Paper, Select, TextInput } from "@mantine/core";
import { createRoute, useNavigate } from "@tanstack/react-router";
import { rootRoute } from "./__root";
import { useAudit } from "../api/audit";
import { AuditTimeline } from "../components/Timeline";
import { ErrorAlert, Loading, PageTitle, Pager } from "../components/ui";
import type { AuditAction } from "../api/types";
import { oneOf, str } from "../lib/search";

// Every action an entry can record, as the API's document lists them (AuditAction).
const actions = [
  "user.created",
  "user.updated",
  "plan.created",
  "plan.archived",
  "subscription.created",
  "subscription.plan_changed",
  "subscription.plan_change_scheduled",
  "subscription.plan_change_dropped",
  "subscription.renewed",
  "subscription.trial_ended",
  "subscription.cancel_scheduled",
  "subscription.canceled",
  "subscription.past_due",
  "subscription.recovered",
  "invoice.finalized",
  "invoice.paid",
  "invoice.voided",
  "invoice.uncollectible",
  "payment.succeeded",
  "payment.failed",
  "credit_note.created",
  "debit_note.created",
  "token.created",
  "token.revoked",
] as const satisfies readonly AuditAction[];
// Fails to type-check when the API gains an action this list lacks.
type Missing = Exclude<AuditAction, (typeof actions)[number]>;
export const everyActionListed: [Missing] extends [never] ? true : Missing = true;

function Audit() {
  const search = Route.useSearch();
  const navigate = useNavigate({ from: Route.fullPath });
  const [entity, setEntity] = useState(search.entity_id ?? "");
  const list = useAudit(search);
  return (
    <>
      <PageTitle>Audit log</PageTitle>
      <Group mb="md" align="flex-end" wrap="wrap">
        <form
          onSubmit={(e) => {
            e.preventDefault();
            void navigate({
              search: (s) => ({ ...s, entity_id: entity.trim() || undefined, cursor: undefined }),
            });
          }}
        >
          <Group align="flex-end">
            <TextInput
              label="Entity id"
              placeholder="usr_…, sub_…, inv_…"
              value={entity}
              onChange={(e) => setEntity(e.currentTarget.value)}
              w={260}
            />
            <Button type="submit" variant="light">
              Apply
            </Button>
          </Group>
        </form>
        <Select
          label="Action"
          placeholder="any"
          data={actions}
          clearable
          searchable
          value={search.action ?? null}
          onChange={(v) =>
            void navigate({
              search: (s) => ({ ...s, action: oneOf(v, actions), cursor: undefined }),
            })
          }
          w={280}
        />
      </Group>
      <Paper withBorder p="md">
        {list.isPending ? (
          <Loading />
        ) : list.isError ? (
          <ErrorAlert error={list.error} />
        ) : (
          <AuditTimeline entries={list.data.data} />
        )}
      </Paper>
      <Pager
        cursor={search.cursor}
        nextCursor={list.data?.next_cursor}
        onCursor={(c) => void navigate({ search: (s) => ({ ...s, cursor: c }) })}
      />
    </>
  );
}

export const Route = createRoute({
  getParentRoute: () => rootRoute,
  path: "/audit",
  validateSearch: (
    s: Record<string, unknown>,
  ): { entity_id?: string; action?: AuditAction; cursor?: string } => ({
    entity_id: str(s.entity_id),
    action: oneOf(s.action, actions),
    cursor: str(s.cursor),
  }),
  component: Audit,
});
