import { useQuery } from "@tanstack/react-query";
import { api, unwrap } from "./client";
import { PAGE } from "./keys";

export interface AuditFilters {
  entity_id?: string | undefined;
  action?: string | undefined;
  cursor?: string | undefined;
}

export function useAudit(filters: AuditFilters, limit = PAGE, enabled = true) {
  return useQuery({
    queryKey: ["audit", "list", filters, limit],
    enabled,
    queryFn: () => unwrap(api.GET("/v1/audit", { params: { query: { ...filters, limit } } })),
  });
}
