// @vitest-environment jsdom
import { cleanup, fireEvent, render, screen, within } from "@testing-library/react";
import { afterEach, describe, expect, test, vi } from "vitest";
import { GeneratorPanel } from "./Generator";
import { ClusterPanel } from "./Panels";
import { CountStore } from "./store";
import type { ClusterView, GeneratorRun, ServerConfig, WindowCfg } from "./types";
import { VideoCard } from "./VideoCard";

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

const sizes: WindowCfg[] = [
  { label: "2s", size_ms: 2000, consume_event: "consume_windows_2s", live_event: "live_windows_2s" },
  { label: "4s", size_ms: 4000, consume_event: "consume_windows_4s", live_event: "live_windows_4s" },
];
const config: ServerConfig = { stage: "dev", windows: sizes, grace_ms: 1000, generator_steps: 10 };
const iso = (ms: number) => new Date(ms).toISOString();
const T = Date.UTC(2026, 11, 1, 12, 0, 0); // a multiple of every size

function live(store: CountStore, size: WindowCfg, id: string, start: number, count: number, final = false) {
  store.add(size, { id, count, window_start: iso(start), window_end: iso(start + size.size_ms), final });
}

describe("VideoCard", () => {
  const video = { unique_identifier: "vid-1", title: "A video" };

  test("shows the current window's count and the last final, whatever order they came in", () => {
    const store = new CountStore();
    store.now = () => T + 500;
    live(store, sizes[0], "vid-1", T, 2); // snapshot of window k
    live(store, sizes[0], "vid-1", T + 2000, 1); // window k+1 begins
    live(store, sizes[0], "vid-1", T + 2000, 3);
    live(store, sizes[0], "vid-1", T, 15, true); // k's final, after k+1's counts
    render(<VideoCard video={video} windows={sizes} store={store} now={T + 2600} history={sizes[0]} graceMs={1000} onLike={async () => {}} />);
    const row = screen.getByText("2s").closest("tr")!;
    expect(within(row).getByTestId("now-2s").textContent).toBe("3");
    expect(within(row).getByTestId("final-2s").textContent).toBe("✔ 15");
    // The 4s size has had no event: unknown, not 0.
    expect(screen.getByTestId("now-4s").textContent).toBe("?");
    expect(screen.getByRole("img", { name: /Finals of the last 1 2s windows of A video: 15/ })).toBeTruthy();
  });

  test("a window that ended is shown as closing until its final", () => {
    const store = new CountStore();
    store.now = () => T + 100;
    live(store, sizes[0], "vid-1", T, 7);
    render(<VideoCard video={video} windows={sizes} store={store} now={T + 2300} history={undefined} graceMs={1000} onLike={async () => {}} />);
    const row = screen.getByText("2s").closest("tr")!;
    expect(within(row).getByTestId("now-2s").textContent).toBe("0");
    const closing = within(row).getByTestId("closing-2s");
    expect(closing.querySelector(".count")!.textContent).toBe("7");
    expect(closing.textContent).toContain("closing");
    expect(within(row).queryByTestId("final-2s")).toBeNull();
  });

  test("like buttons send 1 and 10 likes", () => {
    const sent: [string, number][] = [];
    render(
      <VideoCard video={video} windows={sizes} store={new CountStore()} now={T} history={undefined} graceMs={1000} onLike={async (id, n) => void sent.push([id, n])} />,
    );
    fireEvent.click(screen.getByRole("button", { name: "Like A video" }));
    fireEvent.click(screen.getByRole("button", { name: "Ten likes for A video" }));
    expect(sent).toEqual([
      ["vid-1", 1],
      ["vid-1", 10],
    ]);
  });
});

describe("GeneratorPanel", () => {
  const videos = [{ unique_identifier: "v1", title: "First" }];
  const titles = new Map([["v1", "First"]]);

  test("running sums follow the edited numbers; invalid numbers block Send", () => {
    render(<GeneratorPanel stage="dev" config={config} videos={videos} titles={titles} run={null} store={new CountStore()} now={T} onRun={() => {}} onError={() => {}} />);
    for (let k = 1; k <= 10; k++) fireEvent.change(screen.getByLabelText(`Likes in step ${k} for First`), { target: { value: String(k) } });
    const sums = screen.getAllByTitle("Likes so far in this 4s window").map((e) => e.textContent);
    expect(sums).toEqual(["Σ4s 1", "Σ4s 3", "Σ4s 3", "Σ4s 7", "Σ4s 5", "Σ4s 11", "Σ4s 7", "Σ4s 15", "Σ4s 9", "Σ4s 19"]);
    expect((screen.getByTestId("gen-send") as HTMLButtonElement).disabled).toBe(false);
    fireEvent.change(screen.getByLabelText("Likes in step 3 for First"), { target: { value: "-2" } });
    expect((screen.getByTestId("gen-send") as HTMLButtonElement).disabled).toBe(true);
    expect(screen.getByText(/whole number from 0 to 10000/)).toBeTruthy();
  });

  test("marks every finished window as matching or not", () => {
    const likes = [1, 2, 0, 0, 0, 0, 0, 0, 0, 0];
    const run: GeneratorRun = {
      id: "0123456789",
      state: "done",
      step_ms: 2000,
      steps: 10,
      start: iso(T),
      end: iso(T + 20000),
      created_at: iso(T - 1500),
      steps_done: 10,
      likes_total: 3,
      likes_sent: 3,
      likes_skipped: 0,
      videos: { v1: likes },
    };
    const store = new CountStore();
    store.now = () => T - 100; // subscribed before the run
    live(store, sizes[0], "v1", T - 2000, 0);
    live(store, sizes[1], "v1", T - 4000, 0);
    live(store, sizes[0], "v1", T, 1, true);
    live(store, sizes[0], "v1", T + 2000, 3, true); // wrong: expected 2
    live(store, sizes[1], "v1", T, 3, true);
    render(<GeneratorPanel stage="dev" config={config} videos={videos} titles={titles} run={run} store={store} now={T + 60000} onRun={() => {}} onError={() => {}} />);
    const marks = screen.getAllByTestId("proof-row").map((r) => r.getAttribute("data-mark"));
    // 2s: 10 windows, the second counted wrong, the 8 without likes final 0; 4s: 5 windows.
    expect(marks).toEqual(["match", "mismatch", ...Array(8).fill("match"), ...Array(5).fill("match")]);
    const summary = screen.getByTestId("proof-summary");
    expect(summary.textContent).toBe("14 of 15 windows match, 1 do not.");
    expect(summary.getAttribute("data-complete")).toBe("true");
    expect((screen.getByTestId("gen-send") as HTMLButtonElement).disabled).toBe(false);
  });

  test("a running run disables Send and offers Cancel", () => {
    const run = { id: "r", state: "running", step_ms: 2000, steps: 10, start: iso(T), end: iso(T + 20000), created_at: iso(T), steps_done: 2, likes_total: 10, likes_sent: 4, likes_skipped: 0, videos: { v1: [1, 1, 1, 1, 1, 1, 1, 1, 1, 1] } };
    render(<GeneratorPanel stage="dev" config={config} videos={videos} titles={titles} run={run} store={new CountStore()} now={T + 5000} onRun={() => {}} onError={() => {}} />);
    expect(screen.getByTestId("gen-send").textContent).toBe("Wait — running");
    expect((screen.getByTestId("gen-send") as HTMLButtonElement).disabled).toBe(true);
    expect((screen.getByTestId("gen-cancel") as HTMLButtonElement).disabled).toBe(false);
    expect(screen.getByText(/Step 3 of 10/)).toBeTruthy();
    expect(screen.getByTestId("gen-sent").textContent).toBe("4");
  });
});

describe("ClusterPanel", () => {
  test("shows per worker whether it is restoring, and how far", async () => {
    const at = new Date().toISOString();
    const view: ClusterView = {
      group: "counter-workers",
      state: "Stable",
      total_lag: 0,
      workers: [
        { id: "w0", host: "10.0.0.1", partitions: { video_clicks_partitioned: [3] }, standbys: [], lag: {}, status: "restoring", restoring: true, restore: [{ partition: 3, restored: 420, total: 1000 }], status_at: at },
        { id: "w1", host: "10.0.0.2", partitions: { video_clicks_partitioned: [0] }, standbys: [3], lag: {}, status: "ready", restoring: false, restore: [], status_at: at },
        { id: "w2", host: "10.0.0.3", partitions: {}, standbys: [], lag: {}, status: "unknown", restoring: false, restore: [] },
      ],
    };
    vi.stubGlobal("fetch", vi.fn(async () => new Response(JSON.stringify(view), { status: 200, headers: { "Content-Type": "application/json" } })));
    render(<ClusterPanel stage="dev" />);
    const rows = await screen.findAllByTestId("worker");
    const badge = (i: number) => within(rows[i]).getByTestId("worker-status");
    expect(badge(0).textContent).toContain("restoring p3 42%");
    expect(badge(0).getAttribute("data-status")).toBe("restoring");
    expect(badge(0).title).toContain("partition 3: 420 of 1000 changelog records");
    expect(badge(1).textContent).toContain("ready");
    expect(badge(2).textContent).toContain("status unknown");
    expect(badge(2).getAttribute("data-status")).toBe("unknown");
  });
});
