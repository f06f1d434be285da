import { describe, expect, it } from "vitest";
import { renderToStaticMarkup } from "react-dom/server";
import { AdminOnly } from "./Guard";
import { StaticSession } from "./SessionProvider";
import { canMutate, loadSession, sameOrigin, saveSession } from "../lib/session";

const view = (role: "admin" | "read" | null) =>
  renderToStaticMarkup(
    <StaticSession session={role === null ? null : { token: "t", role }}>
      <p>always</p>
      <AdminOnly>
        <button type="button">Void invoice</button>
      </AdminOnly>
    </StaticSession>,
  );

describe("read-only guard", () => {
  it("an admin token sees mutation controls", () => {
    expect(view("admin")).toContain("Void invoice");
  });

  it("a read token sees none, but still sees the page", () => {
    expect(view("read")).not.toContain("Void invoice");
    expect(view("read")).toContain("always");
  });

  it("no session sees none", () => {
    expect(view(null)).not.toContain("button");
  });

  it("canMutate is true only for admin", () => {
    expect(canMutate({ token: "t", role: "admin" })).toBe(true);
    expect(canMutate({ token: "t", role: "read" })).toBe(false);
    expect(canMutate(null)).toBe(false);
  });

  it("a stored session round-trips, and a damaged or forged one is no session", () => {
    const store = new Map<string, string>();
    const storage = {
      getItem: (k: string) => store.get(k) ?? null,
      setItem: (k: string, v: string) => void store.set(k, v),
    };
    saveSession({ token: "abc", role: "read" }, storage);
    expect(loadSession(storage)).toEqual({ token: "abc", role: "read" });
    store.set("billing.session", '{"token":"abc","role":"superuser"}');
    expect(loadSession(storage)).toBeNull();
    store.set("billing.session", "{not json");
    expect(loadSession(storage)).toBeNull();
  });

  it("the token goes to the same origin only", () => {
    expect(sameOrigin("/v1/plans", "http://127.0.0.1:8080")).toBe(true);
    expect(sameOrigin("http://127.0.0.1:8080/v1/plans", "http://127.0.0.1:8080")).toBe(true);
    expect(sameOrigin("https://evil.example/v1/plans", "http://127.0.0.1:8080")).toBe(false);
    expect(sameOrigin("//evil.example/x", "http://127.0.0.1:8080")).toBe(false);
  });
});
