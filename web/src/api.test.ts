import { afterEach, describe, expect, test, vi } from "vitest";
import { ApiError, pageStage, request } from "./api";

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
    const err = await request("dev", "/videos/v/likes", "Sending the like").catch((e) => e);
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
    const err = await request("dev", "/videos/metadata", "Loading the videos").catch((e) => e);
    expect(err.status).toBe(0);
    expect(err.message).toBe("Loading the videos failed: the server cannot be reached (Failed to fetch).");
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
