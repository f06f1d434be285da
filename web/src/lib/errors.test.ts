import { describe, expect, it } from "vitest";
import { ApiError, paramToPath, placeError, toApiError } from "./errors";

const envelope = (param: string | null) => ({
  error: { type: "invalid_request", code: "invalid", message: "must be ascending", param },
});

describe("error envelope → field", () => {
  it("reads the envelope", () => {
    const error = toApiError(400, envelope("code"));
    expect(error).toBeInstanceOf(ApiError);
    expect(error.status).toBe(400);
    expect(error.body.message).toBe("must be ascending");
  });

  it("turns a body that is no envelope into an error without leaking it", () => {
    const error = toApiError(502, "<html>bad gateway</html>");
    expect(error.body.type).toBe("internal");
    expect(error.message).not.toContain("html");
  });

  it("converts the API's param to a form path", () => {
    expect(paramToPath("usage_charges[0].tiers[1].up_to")).toBe("usage_charges.0.tiers.1.up_to");
    expect(paramToPath("events[3].quantity")).toBe("events.3.quantity");
    expect(paramToPath("email")).toBe("email");
  });

  it("puts the message beside the field param names", () => {
    const placed = placeError(toApiError(409, envelope("email")), ["email", "name"]);
    expect(placed).toEqual({ fields: { email: "must be ascending" }, general: null });
  });

  it("falls back to the closest field the form has", () => {
    const placed = placeError(toApiError(400, envelope("usage_charges[0].tiers[2].up_to")), [
      "code",
      "usage_charges.0.tiers",
    ]);
    expect(placed.fields).toEqual({ "usage_charges.0.tiers": "must be ascending" });
  });

  it("shows the message above the form when param is absent or unknown", () => {
    expect(placeError(toApiError(409, envelope(null)), ["email"])).toEqual({
      fields: {},
      general: "must be ascending",
    });
    expect(placeError(toApiError(400, envelope("other")), ["email"]).general).toBe(
      "must be ascending",
    );
    expect(placeError(new Error("offline"), ["email"]).general).toBe("offline");
  });
});

describe("form field paths", () => {
  it("lists every nested path so a param deep in a plan finds its input", async () => {
    const { fieldPaths } = await import("./errors");
    const paths = fieldPaths({ code: "pro", usage_charges: [{ tiers: [{ up_to: "" }] }] });
    expect(paths).toEqual([
      "code",
      "usage_charges",
      "usage_charges.0",
      "usage_charges.0.tiers",
      "usage_charges.0.tiers.0",
      "usage_charges.0.tiers.0.up_to",
    ]);
    const placed = placeError(toApiError(400, envelope("usage_charges[0].tiers[0].up_to")), paths);
    expect(placed.fields).toEqual({ "usage_charges.0.tiers.0.up_to": "must be ascending" });
  });
});
