// The signed-in token, kept in sessionStorage (gone when the tab closes) and sent only to this
// origin. `role` is what the token may do, found at sign-in: `admin` may change things, `read`
// may only look.

export type Role = "admin" | "read";

export interface Session {
  token: string;
  role: Role;
}

const KEY = "billing.session";

export function loadSession(storage: Pick<Storage, "getItem"> = sessionStorage): Session | null {
  const raw = storage.getItem(KEY);
  if (raw === null) return null;
  try {
    const parsed = JSON.parse(raw) as Partial<Session>;
    if (typeof parsed.token === "string" && (parsed.role === "admin" || parsed.role === "read")) {
      return { token: parsed.token, role: parsed.role };
    }
  } catch {
    // A damaged entry is the same as none.
  }
  return null;
}

export function saveSession(session: Session, storage: Pick<Storage, "setItem"> = sessionStorage) {
  storage.setItem(KEY, JSON.stringify(session));
}

export function clearSession(storage: Pick<Storage, "removeItem"> = sessionStorage) {
  storage.removeItem(KEY);
}

/** The one read-only guard: every mutation control and every non-GET request asks it. */
export function canMutate(session: Session | null): boolean {
  return session?.role === "admin";
}

/** Whether a request may carry the token: only to the page's own origin. */
export function sameOrigin(url: string, origin: string): boolean {
  try {
    return new URL(url, origin).origin === origin;
  } catch {
    return false;
  }
}
