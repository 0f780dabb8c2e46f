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

/** describeStatus puts an HTTP status in words. */
export function describeStatus(status: number): string {
  switch (status) {
    case 400:
      return "the server refused the request as invalid";
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
 * "Loading the catalog".
 */
export async function request<T>(stage: string, path: string, what: string, init?: RequestInit): Promise<T> {
  let res: Response;
  try {
    res = await fetch(`/${encodeURIComponent(stage)}${path}`, {
      ...init,
      headers: init?.body ? { "Content-Type": "application/json", ...init?.headers } : init?.headers,
    });
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
