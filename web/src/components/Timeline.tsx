// An audit timeline: what happened to an entity, newest first, each entry with its actor.
import { Code, Text, Timeline } from "@mantine/core";
import type { AuditEntry } from "../api/types";
import { formatDateTime } from "../lib/time";
import { Empty } from "./ui";

export function AuditTimeline({ entries }: { entries: AuditEntry[] }) {
  if (entries.length === 0) return <Empty>No audit entries.</Empty>;
  return (
    <Timeline bulletSize={14} lineWidth={2}>
      {entries.map((entry) => (
        <Timeline.Item key={entry.id} title={entry.action}>
          <Text size="xs" c="dimmed">
            {formatDateTime(entry.at)} · {entry.actor} · {entry.entity_type} {entry.entity_id}
          </Text>
          {Object.keys(entry.data).length > 0 && (
            <Code block fz="xs" mt={4} style={{ whiteSpace: "pre-wrap", wordBreak: "break-all" }}>
              {JSON.stringify(entry.data)}
            </Code>
          )}
        </Timeline.Item>
      ))}
    </Timeline>
  );
}
