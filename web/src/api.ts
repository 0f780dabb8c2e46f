// Calls of the HTTP API, on the page's own origin. Every failure becomes an
// ApiError whose message says in words what went wrong.

/** ApiError is a failed API call: status 0 when the server was not reached. */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

/** The stage the server filled into the page ("dev" when served by Vite). */
export function pageStage(doc: Document = document): string {
  const v = doc.querySelector('meta[name="counter-stage"]')?.getAttribute("content") ?? "";
  return v === "" || v.includes("__") ? "dev" : v;
}

/** TOKEN_KEY is where the admin token is kept: in the tab's session storage only. */
export const TOKEN_KEY = "counter-admin-token";

/** loadToken returns the admin token kept for this tab, or "". */
export function loadToken(): string {
  try {
    return sessionStorage.getItem(TOKEN_KEY) ?? "";
  } catch {
    return "";
  }
}

/** saveToken keeps the admin token for this tab ("" forgets it). */
export function saveToken(token: string): void {
  try {
    if (token) sessionStorage.setItem(TOKEN_KEY, token);
    else sessionStorage.removeItem(TOKEN_KEY);
  } catch {
    // Storage refused (private mode): the token lives in memory only.
  }
}

/** describeStatus puts an HTTP status in words. */
export function describeStatus(status: number): string {
  switch (status) {
    case 400:
      return "the server refused the request as invalid";
    case 401:
      return "this action needs the admin token (enter it under “Admin token” at the top)";
    case 403:
      return "the admin token is wrong (correct it under “Admin token” at the top)";
    case 404:
      return "not found";
    case 409:
      return "conflict with the current state";
    case 413:
      return "the request is too large";
    case 422:
      return "the request repeats a key used for another request";
    case 503:
      return "the server is not ready or the broker did not answer";
    default:
      return status >= 500 ? "the server failed" : `HTTP ${status}`;
  }
}

/**
 * request calls the API at path (after the stage: "/videos/metadata") and
 * returns the decoded JSON answer. what names the action for messages:
 * "Loading the catalog". A token is sent as the admin token
 * (Authorization: Bearer), which the routes that change state other than
 * a like need when the server has one.
 */
export async function request<T>(stage: string, path: string, what: string, init?: RequestInit, token?: string): Promise<T> {
  const headers: Record<string, string> = {};
  if (init?.body) headers["Content-Type"] = "application/json";
  if (token) headers["Authorization"] = `Bearer ${token}`;
  let res: Response;
  try {
    res = await fetch(`/${encodeURIComponent(stage)}${path}`, { ...init, headers });
  } catch (err) {
    throw new ApiError(`${what} failed: the server cannot be reached (${(err as Error).message}).`, 0);
  }
  let body: unknown = null;
  const text = await res.text();
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = null;
  }
  if (!res.ok) {
    const detail = body && typeof body === "object" && "error" in body ? String((body as { error: unknown }).error) : "";
    throw new ApiError(
      `${what} failed: ${describeStatus(res.status)}${detail ? ` — ${detail}` : ""} (HTTP ${res.status}).`,
      res.status,
    );
  }
  return body as T;
}
