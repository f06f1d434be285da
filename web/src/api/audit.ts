import { useQueries, useQuery } from "@tanstack/react-query";
import { api, unwrap } from "./client";
import { PAGE } from "./keys";
import type { AuditAction, AuditEntry } from "./types";

export interface AuditFilters {
  entity_id?: string | undefined;
  action?: AuditAction | undefined;
  cursor?: string | undefined;
}

export function useAudit(filters: AuditFilters, limit = PAGE, enabled = true) {
  return useQuery({
    queryKey: ["audit", "list", filters, limit],
    enabled,
    queryFn: () => unwrap(api.GET("/v1/audit", { params: { query: { ...filters, limit } } })),
  });
}

/**
 * A customer's timeline: the latest entries of the customer and of each of their
 * subscriptions and invoices (the API lists audit entries per entity), merged newest first.
 */
export function useCustomerTimeline(userId: string, entityIds: string[], enabled: boolean) {
  const ids = [userId, ...entityIds];
  const results = useQueries({
    queries: ids.map((entity_id) => ({
      queryKey: ["audit", "list", { entity_id }, PAGE],
      enabled,
      queryFn: () =>
        unwrap(api.GET("/v1/audit", { params: { query: { entity_id, limit: PAGE } } })),
    })),
  });
  const seen = new Set<string>();
  const entries: AuditEntry[] = [];
  for (const result of results) {
    for (const entry of result.data?.data ?? []) {
      if (!seen.has(entry.id)) {
        seen.add(entry.id);
        entries.push(entry);
      }
    }
  }
  entries.sort((a, b) => (a.at === b.at ? b.id.localeCompare(a.id) : b.at.localeCompare(a.at)));
  return {
    isPending: results.some((r) => r.isPending),
    error: results.find((r) => r.error !== null)?.error ?? null,
    entries: entries.slice(0, 100),
  };
}
