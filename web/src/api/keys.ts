// Query keys: the resource first, then the request's parameters, so a mutation invalidates
// every cached page of the resources it changes with one prefix.
import type { QueryClient } from "@tanstack/react-query";

export type Resource =
  | "users"
  | "plans"
  | "subscriptions"
  | "invoices"
  | "payments"
  | "audit"
  | "tokens"
  | "usage"
  | "test-clock"
  | "dashboard"
  | "upcoming";

export function invalidate(client: QueryClient, ...resources: Resource[]) {
  return Promise.all(resources.map((r) => client.invalidateQueries({ queryKey: [r] })));
}

export const PAGE = 20;
