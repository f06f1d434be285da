import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api, idempotencyKey, unwrap } from "./client";
import { invalidate, PAGE } from "./keys";
import type { PlanDraft } from "./types";

export function usePlans(cursor?: string, limit = PAGE) {
  return useQuery({
    queryKey: ["plans", "list", cursor, limit],
    queryFn: () => unwrap(api.GET("/v1/plans", { params: { query: { limit, cursor } } })),
  });
}

export function usePlan(code: string | undefined) {
  return useQuery({
    queryKey: ["plans", "one", code],
    enabled: code !== undefined && code !== "",
    queryFn: () => unwrap(api.GET("/v1/plans/{code}", { params: { path: { code: code ?? "" } } })),
  });
}

export function useCreatePlan() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (body: PlanDraft) =>
      unwrap(api.POST("/v1/plans", { body, headers: { "Idempotency-Key": idempotencyKey() } })),
    onSuccess: () => invalidate(client, "plans", "audit"),
  });
}

export function useArchivePlan() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (code: string) =>
      unwrap(
        api.POST("/v1/plans/{code}/archive", {
          params: { path: { code } },
          headers: { "Idempotency-Key": idempotencyKey() },
        }),
      ),
    onSuccess: () => invalidate(client, "plans", "audit"),
  });
}
