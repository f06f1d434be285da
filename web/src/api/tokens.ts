import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api, idempotencyKey, unwrap } from "./client";
import { invalidate, PAGE } from "./keys";
import type { Scope } from "./types";

export function useTokens(cursor?: string) {
  return useQuery({
    queryKey: ["tokens", "list", cursor],
    queryFn: () => unwrap(api.GET("/v1/tokens", { params: { query: { limit: PAGE, cursor } } })),
  });
}

export function useCreateToken() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (body: { name: string; scopes: Scope[] }) =>
      unwrap(api.POST("/v1/tokens", { body, headers: { "Idempotency-Key": idempotencyKey() } })),
    onSuccess: () => invalidate(client, "tokens", "audit"),
  });
}

export function useRevokeToken() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (id: string) => unwrap(api.DELETE("/v1/tokens/{id}", { params: { path: { id } } })),
    onSuccess: () => invalidate(client, "tokens", "audit"),
  });
}
