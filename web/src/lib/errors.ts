// The API's error envelope `{"error": {type, code, message, param}}` and where it is shown:
// beside the form field that `param` names, or above the form when it names none.

export interface ErrorBody {
  type: string;
  code: string;
  message: string;
  param?: string | null;
}

export class ApiError extends Error {
  readonly status: number;
  readonly body: ErrorBody;
  constructor(status: number, body: ErrorBody) {
    super(body.message);
    this.name = "ApiError";
    this.status = status;
    this.body = body;
  }
}

function isErrorBody(value: unknown): value is ErrorBody {
  if (typeof value !== "object" || value === null) return false;
  const body = value as Record<string, unknown>;
  return typeof body.type === "string" && typeof body.message === "string";
}

/** The envelope's body, if `value` is one; anything else becomes an internal error. */
export function toApiError(status: number, value: unknown): ApiError {
  if (typeof value === "object" && value !== null && "error" in value) {
    const inner = value.error;
    if (isErrorBody(inner)) return new ApiError(status, inner);
  }
  return new ApiError(status, {
    type: "internal",
    code: "unexpected_response",
    message: `The server answered ${status} without an error envelope`,
  });
}

/** `usage_charges[0].tiers[1].up_to` → `usage_charges.0.tiers.1.up_to` (a form field path). */
export function paramToPath(param: string): string {
  return param.replace(/\[(\d+)\]/g, ".$1").replace(/^\./, "");
}

export interface Placed {
  /** Field path → message, for the field the envelope's `param` names. */
  fields: Record<string, string>;
  /** The message when no known field matches (shown above the form). */
  general: string | null;
}

/**
 * Places an error: beside the field `param` names when the form has it (or its closest parent
 * the form has: `usage_charges.0.tiers` for `usage_charges[0].tiers[3]`), else as a general
 * message.
 */
export function placeError(error: unknown, knownFields: readonly string[]): Placed {
  if (!(error instanceof ApiError)) {
    const message = error instanceof Error ? error.message : "Something went wrong";
    return { fields: {}, general: message };
  }
  const param = error.body.param;
  if (param) {
    const segments = paramToPath(param).split(".");
    for (let n = segments.length; n > 0; n--) {
      const candidate = segments.slice(0, n).join(".");
      if (knownFields.includes(candidate)) {
        return { fields: { [candidate]: error.body.message }, general: null };
      }
    }
  }
  return { fields: {}, general: error.body.message };
}

export function errorMessage(error: unknown): string {
  if (error instanceof ApiError) return error.body.message;
  if (error instanceof Error) return error.message;
  return "Something went wrong";
}

/** Every path of a form's values (`a`, `a.0`, `a.0.b`), so placeError knows each field. */
export function fieldPaths(values: unknown, prefix = ""): string[] {
  if (typeof values !== "object" || values === null) return prefix === "" ? [] : [prefix];
  const entries = Array.isArray(values)
    ? values.map((v, i) => [String(i), v] as const)
    : Object.entries(values as Record<string, unknown>);
  const own = prefix === "" ? [] : [prefix];
  return own.concat(
    entries.flatMap(([key, value]) => fieldPaths(value, prefix === "" ? key : `${prefix}.${key}`)),
  );
}
