// The typed client generated from the API's own /openapi.json (schema.d.ts, by
// scripts/generate-api.sh). The bearer token is added only to requests for this page's origin,
// and a read-only session sends no mutating request at all (the same guard the controls use).
import createClient, { type Middleware } from "openapi-fetch";
import type { paths } from "./schema";
import { toApiError } from "../lib/errors";
import { canMutate, loadSession, sameOrigin } from "../lib/session";

const origin = typeof window === "undefined" ? "http://localhost" : window.location.origin;

const auth: Middleware = {
  onRequest({ request }) {
    const session = loadSession();
    if (request.method !== "GET" && request.method !== "HEAD" && !canMutate(session)) {
      throw new Error("This session is read-only");
    }
    if (session !== null && sameOrigin(request.url, origin)) {
      request.headers.set("Authorization", `Bearer ${session.token}`);
    }
    return request;
  },
};

export const api = createClient<paths>({ baseUrl: origin });
api.use(auth);

interface Result<T> {
  data?: T;
  error?: unknown;
  response: Response;
}

/** The data of an answer, or the API's error envelope thrown as an ApiError. */
export async function unwrap<T>(pending: Promise<Result<T>>): Promise<T> {
  const { data, error, response } = await pending;
  if (!response.ok || error !== undefined) throw toApiError(response.status, error);
  return data as T;
}

/** A fresh Idempotency-Key for one admin action (a retried click replays, never repeats). */
export function idempotencyKey(): string {
  return crypto.randomUUID();
}
