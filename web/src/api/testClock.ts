import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api, idempotencyKey, unwrap } from "./client";
import { invalidate } from "./keys";
import { useCanMutate } from "../components/Guard";
import { ApiError } from "../lib/errors";

/**
 * The test clock, or null when the API has none (404) — then the page and its link are hidden.
 * Only an admin token may read it.
 */
export function useTestClock() {
  const admin = useCanMutate();
  return useQuery({
    queryKey: ["test-clock"],
    enabled: admin,
    retry: false,
    staleTime: 60_000,
    queryFn: async () => {
      try {
        return await unwrap(api.GET("/v1/test-clock"));
      } catch (error) {
        if (error instanceof ApiError && error.status === 404) return null;
        throw error;
      }
    },
  });
}

const everything = [
  "test-clock",
  "subscriptions",
  "invoices",
  "payments",
  "users",
  "audit",
  "upcoming",
  "usage",
  "dashboard",
] as const;

export function useSetClock() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (now: string) =>
      unwrap(
        api.POST("/v1/test-clock", {
          body: { now },
          headers: { "Idempotency-Key": idempotencyKey() },
        }),
      ),
    onSuccess: () => invalidate(client, ...everything),
  });
}

export function useInvoiceRun() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: () =>
      unwrap(api.POST("/v1/invoice-runs", { headers: { "Idempotency-Key": idempotencyKey() } })),
    onSuccess: () => invalidate(client, ...everything),
  });
}

export function usePaymentRun() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: () =>
      unwrap(api.POST("/v1/payment-runs", { headers: { "Idempotency-Key": idempotencyKey() } })),
    onSuccess: () => invalidate(client, ...everything),
  });
}

/** A run that went on after its request (202): polled until every shard is done. */
export function useRunProgress(kind: "invoice" | "payment", runId: string | null) {
  return useQuery({
    queryKey: ["runs", kind, runId],
    enabled: runId !== null,
    refetchInterval: (query) => (query.state.data?.status === "finished" ? false : 2_000),
    queryFn: () =>
      kind === "invoice"
        ? unwrap(
            api.GET("/v1/invoice-runs/{run_id}", { params: { path: { run_id: runId ?? "" } } }),
          )
        : unwrap(
            api.GET("/v1/payment-runs/{run_id}", { params: { path: { run_id: runId ?? "" } } }),
          ),
  });
}
