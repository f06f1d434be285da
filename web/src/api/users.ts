import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api, idempotencyKey, unwrap } from "./client";
import { invalidate, PAGE } from "./keys";
import type { User } from "./types";

export function useUsers(cursor?: string) {
  return useQuery({
    queryKey: ["users", "list", cursor],
    queryFn: () => unwrap(api.GET("/v1/users", { params: { query: { limit: PAGE, cursor } } })),
  });
}

export function useUser(id: string | undefined) {
  return useQuery({
    queryKey: ["users", "one", id],
    enabled: id !== undefined && id !== "",
    queryFn: () => unwrap(api.GET("/v1/users/{id}", { params: { path: { id: id ?? "" } } })),
  });
}

/**
 * Customer search: an id (`usr_…`) is looked up directly, an email exactly (`?email=`), any
 * other text as a name prefix (`?name=`); nothing typed lists every customer, newest first.
 */
export function useUserSearch(q: string, cursor?: string) {
  const term = q.trim();
  return useQuery({
    queryKey: ["users", "search", term, cursor],
    queryFn: async (): Promise<{ data: User[]; next_cursor?: string | null }> => {
      if (term.startsWith("usr_")) {
        const user = await unwrap(api.GET("/v1/users/{id}", { params: { path: { id: term } } }));
        return { data: [user], next_cursor: null };
      }
      const filter = term === "" ? {} : term.includes("@") ? { email: term } : { name: term };
      return unwrap(
        api.GET("/v1/users", { params: { query: { limit: PAGE, cursor, ...filter } } }),
      );
    },
  });
}

export function useCreateUser() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (body: { email: string; name?: string | null; payment_method?: string | null }) =>
      unwrap(api.POST("/v1/users", { body, headers: { "Idempotency-Key": idempotencyKey() } })),
    onSuccess: () => invalidate(client, "users", "audit"),
  });
}

export function useUpdateUser(id: string) {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (body: { name?: string | null; payment_method?: string | null }) =>
      unwrap(api.PATCH("/v1/users/{id}", { params: { path: { id } }, body })),
    onSuccess: () => invalidate(client, "users", "audit"),
  });
}
