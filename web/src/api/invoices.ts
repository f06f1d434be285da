import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api, idempotencyKey, unwrap } from "./client";
import { invalidate, PAGE } from "./keys";
import type { InvoiceStatus } from "./types";

export interface InvoiceFilters {
  user_id?: string | undefined;
  subscription_id?: string | undefined;
  status?: InvoiceStatus | undefined;
  cursor?: string | undefined;
}

export function useInvoices(filters: InvoiceFilters, limit = PAGE) {
  return useQuery({
    queryKey: ["invoices", "list", filters, limit],
    queryFn: () => unwrap(api.GET("/v1/invoices", { params: { query: { ...filters, limit } } })),
  });
}

export function useInvoice(id: string | undefined) {
  return useQuery({
    queryKey: ["invoices", "one", id],
    enabled: id !== undefined && id !== "",
    queryFn: () => unwrap(api.GET("/v1/invoices/{id}", { params: { path: { id: id ?? "" } } })),
  });
}

const changed = ["invoices", "payments", "users", "subscriptions", "audit", "dashboard"] as const;

export function usePayInvoice(id: string) {
  const client = useQueryClient();
  return useMutation({
    mutationFn: () =>
      unwrap(
        api.POST("/v1/invoices/{id}/pay", {
          params: { path: { id } },
          headers: { "Idempotency-Key": idempotencyKey() },
        }),
      ),
    // A decline is a failed payment worth showing too.
    onSettled: () => invalidate(client, ...changed),
  });
}

export function useVoidInvoice(id: string) {
  const client = useQueryClient();
  return useMutation({
    mutationFn: () =>
      unwrap(
        api.POST("/v1/invoices/{id}/void", {
          params: { path: { id } },
          headers: { "Idempotency-Key": idempotencyKey() },
        }),
      ),
    onSuccess: () => invalidate(client, ...changed),
  });
}

export type NoteKind = "credit" | "debit";

export function useNote(id: string, kind: NoteKind) {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (body: {
      amount_cents: number;
      reason: string;
    }): Promise<{ kind: NoteKind; id: string }> => {
      const options = {
        params: { path: { id } },
        body,
        headers: { "Idempotency-Key": idempotencyKey() },
      };
      return kind === "credit"
        ? unwrap(api.POST("/v1/invoices/{id}/credit-notes", options)).then((note) => ({
            kind: "credit" as const,
            id: note.id,
          }))
        : unwrap(api.POST("/v1/invoices/{id}/debit-notes", options)).then((invoice) => ({
            kind: "debit" as const,
            id: invoice.id,
          }));
    },
    onSuccess: () => invalidate(client, ...changed),
  });
}
