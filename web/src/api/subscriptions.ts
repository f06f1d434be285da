import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api, idempotencyKey, unwrap } from "./client";
import { invalidate, PAGE } from "./keys";
import type { SubscriptionStatus } from "./types";

export interface SubscriptionFilters {
  user_id?: string | undefined;
  status?: SubscriptionStatus | undefined;
  cursor?: string | undefined;
}

export function useSubscriptions(filters: SubscriptionFilters, limit = PAGE) {
  return useQuery({
    queryKey: ["subscriptions", "list", filters, limit],
    queryFn: () =>
      unwrap(api.GET("/v1/subscriptions", { params: { query: { ...filters, limit } } })),
  });
}

export function useSubscription(id: string) {
  return useQuery({
    queryKey: ["subscriptions", "one", id],
    queryFn: () => unwrap(api.GET("/v1/subscriptions/{id}", { params: { path: { id } } })),
  });
}

export function useUpcomingInvoice(id: string, enabled = true) {
  return useQuery({
    queryKey: ["upcoming", id],
    enabled,
    queryFn: () =>
      unwrap(api.GET("/v1/subscriptions/{id}/upcoming-invoice", { params: { path: { id } } })),
  });
}

const changed = [
  "subscriptions",
  "invoices",
  "payments",
  "users",
  "audit",
  "upcoming",
  "dashboard",
] as const;

export function useCreateSubscription() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (body: { user_id: string; plan_code: string; trial_days?: number | null }) =>
      unwrap(
        api.POST("/v1/subscriptions", { body, headers: { "Idempotency-Key": idempotencyKey() } }),
      ),
    onSuccess: () => invalidate(client, ...changed),
  });
}

export type Effective = "now" | "period_end";

export function useChangePlan(id: string) {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (body: { plan_code: string; effective: Effective }) =>
      unwrap(
        api.POST("/v1/subscriptions/{id}/change-plan", {
          params: { path: { id } },
          body,
          headers: { "Idempotency-Key": idempotencyKey() },
        }),
      ),
    onSuccess: () => invalidate(client, ...changed),
  });
}

export function useCancelSubscription(id: string) {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (body: { at_period_end: boolean }) =>
      unwrap(
        api.POST("/v1/subscriptions/{id}/cancel", {
          params: { path: { id } },
          body,
          headers: { "Idempotency-Key": idempotencyKey() },
        }),
      ),
    onSuccess: () => invalidate(client, ...changed),
  });
}

/** What the change would answer, computed by the API and stored nowhere. */
export function useChangePlanPreview(id: string, planCode: string | null, effective: Effective) {
  return useQuery({
    queryKey: ["subscriptions", "change-preview", id, planCode, effective],
    enabled: planCode !== null && planCode !== "",
    staleTime: 0,
    retry: false,
    queryFn: () =>
      unwrap(
        api.GET("/v1/subscriptions/{id}/change-plan/preview", {
          params: { path: { id }, query: { plan_code: planCode ?? "", effective } },
        }),
      ),
  });
}
