import { afterEach, describe, expect, test, vi } from "vitest";
import { ApiError, TOKEN_KEY, loadToken, pageStage, request, saveToken } from "./api";

afterEach(() => vi.unstubAllGlobals());

function answer(status: number, body: string) {
  vi.stubGlobal("fetch", vi.fn(async () => new Response(body, { status, headers: { "Content-Type": "application/json" } })));
}

describe("request", () => {
  test("returns the decoded answer, on the stage's path", async () => {
    answer(200, '{"video_id":"v","accepted":10}');
    await expect(request("prod", "/videos/v/likes", "Sending the like", { method: "POST", body: '{"count":10}' })).resolves.toEqual({ video_id: "v", accepted: 10 });
    const [url, init] = (fetch as unknown as ReturnType<typeof vi.fn>).mock.calls[0];
    expect(url).toBe("/prod/videos/v/likes");
    expect(init.headers).toEqual({ "Content-Type": "application/json" });
  });

  test("puts an HTTP error in words, with the server's reason", async () => {
    answer(503, '{"error":"the broker did not acknowledge within 5s"}');
    const err = (await request("dev", "/videos/v/likes", "Sending the like").catch((e: unknown) => e)) as ApiError;
    expect(err).toBeInstanceOf(ApiError);
    expect(err.status).toBe(503);
    expect(err.message).toBe(
      "Sending the like failed: the server is not ready or the broker did not answer — the broker did not acknowledge within 5s (HTTP 503).",
    );
  });

  test("an error without a JSON body still says what failed", async () => {
    answer(502, "<html>bad gateway</html>");
    await expect(request("dev", "/cluster", "Loading the cluster view")).rejects.toThrow("Loading the cluster view failed: the server failed (HTTP 502).");
  });

  test("an unreachable server", async () => {
    vi.stubGlobal("fetch", vi.fn(async () => Promise.reject(new TypeError("Failed to fetch"))));
    const err = (await request("dev", "/videos/metadata", "Loading the videos").catch((e: unknown) => e)) as ApiError;
    expect(err.status).toBe(0);
    expect(err.message).toBe("Loading the videos failed: the server cannot be reached (Failed to fetch).");
  });
});

describe("admin token", () => {
  test("is sent as a bearer token", async () => {
    answer(201, '{"unique_identifier":"x","title":"t"}');
    await request("dev", "/videos", "Adding the video", { method: "POST", body: '{"title":"t"}' }, "s3cret");
    const [, init] = (fetch as unknown as ReturnType<typeof vi.fn>).mock.calls[0];
    expect(init.headers).toEqual({ "Content-Type": "application/json", Authorization: "Bearer s3cret" });
  });

  test("401 and 403 say what to do", async () => {
    answer(401, '{"error":"this route needs the admin token: Authorization: Bearer <token>"}');
    await expect(request("dev", "/videos", "Adding the video", { method: "POST", body: "{}" })).rejects.toThrow(
      /^Adding the video failed: this action needs the admin token \(enter it under “Admin token” at the top\) — .* \(HTTP 401\)\.$/,
    );
    answer(403, '{"error":"wrong admin token"}');
    await expect(request("dev", "/generator", "Starting the like generator", { method: "POST", body: "{}" }, "nope")).rejects.toThrow(
      "Starting the like generator failed: the admin token is wrong (correct it under “Admin token” at the top) — wrong admin token (HTTP 403).",
    );
  });

  test("is kept in the tab's session storage", () => {
    saveToken("abc");
    expect(sessionStorage.getItem(TOKEN_KEY)).toBe("abc");
    expect(loadToken()).toBe("abc");
    saveToken("");
    expect(loadToken()).toBe("");
  });
});

describe("pageStage", () => {
  test("the stage the server wrote into the page, dev without a server", () => {
    const doc = new DOMParser().parseFromString('<meta name="counter-stage" content="prod">', "text/html");
    expect(pageStage(doc)).toBe("prod");
    const raw = new DOMParser().parseFromString('<meta name="counter-stage" content="__COUNTER_STAGE__">', "text/html");
    expect(pageStage(raw)).toBe("dev");
  });
});
