import { describe, expect, test } from "vitest";
import { activeRun, currentStep, expectedWindows, markOf, parseLikes, runningSums } from "./generator";
import type { GeneratorRun, WindowCfg } from "./types";

const size = (label: string, ms: number): WindowCfg => ({ label, size_ms: ms, consume_event: `consume_${label}`, live_event: `live_${label}` });

function run(startMs: number, videos: Record<string, number[]>, stepMs = 1000): GeneratorRun {
  return {
    id: "r1",
    state: "running",
    step_ms: stepMs,
    steps: 10,
    start: new Date(startMs).toISOString(),
    end: new Date(startMs + 10 * stepMs).toISOString(),
    created_at: new Date(startMs - 1500).toISOString(),
    steps_done: 0,
    likes_total: 0,
    likes_sent: 0,
    likes_skipped: 0,
    videos,
  };
}

describe("runningSums", () => {
  test("cumulative per block of steps, as the original's 5' and 10' figures", () => {
    const steps = [10, 20, 30, 40, 50, 60, 70, 80, 90, 100];
    expect(runningSums(steps, 5)).toEqual([10, 30, 60, 100, 150, 60, 130, 210, 300, 400]);
    expect(runningSums(steps, 10)).toEqual([10, 30, 60, 100, 150, 210, 280, 360, 450, 550]);
    expect(runningSums(steps, 1)).toEqual(steps);
  });
});

describe("parseLikes", () => {
  test("whole numbers from 0 to 10000 only", () => {
    expect(parseLikes("0")).toBe(0);
    expect(parseLikes(" 42 ")).toBe(42);
    expect(parseLikes("10000")).toBe(10000);
    expect(parseLikes("10001")).toBeNull();
    expect(parseLikes("-1")).toBeNull();
    expect(parseLikes("1.5")).toBeNull();
    expect(parseLikes("")).toBeNull();
  });
});

describe("expectedWindows", () => {
  const likes = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];

  test("aligned run: one window per step, per 2 and per 5 steps", () => {
    const ws = expectedWindows(run(10_000, { v: likes }), [size("1s", 1000), size("2s", 2000), size("5s", 5000)]);
    const by = (l: string) => ws.filter((w) => w.label === l).map((w) => w.expected);
    expect(by("1s")).toEqual(likes);
    expect(by("2s")).toEqual([3, 7, 11, 15, 19]);
    expect(by("5s")).toEqual([15, 40]);
    expect(ws.every((w) => !w.partial)).toBe(true);
  });

  test("a run not aligned to a larger size: partial windows at both ends", () => {
    const ws = expectedWindows(run(11_000, { v: likes }), [size("1s", 1000), size("2s", 2000)]).filter((w) => w.label === "2s");
    expect(ws.map((w) => [w.start, w.expected, w.partial])).toEqual([
      [10_000, 1, true],
      [12_000, 5, false],
      [14_000, 9, false],
      [16_000, 13, false],
      [18_000, 17, false],
      [20_000, 10, true],
    ]);
  });

  test("sizes that are not a whole number of steps are left out", () => {
    const ws = expectedWindows(run(12_000, { v: likes }, 2000), [size("2s", 2000), size("3s", 3000)]);
    expect(new Set(ws.map((w) => w.label))).toEqual(new Set(["2s"]));
  });

  test("every video of the run", () => {
    const ws = expectedWindows(run(10_000, { b: likes, a: likes }), [size("5s", 5000)]);
    expect(ws.map((w) => w.video)).toEqual(["a", "a", "b", "b"]);
  });
});

describe("markOf", () => {
  const w = { video: "v", label: "1s", sizeMs: 1000, start: 10_000, end: 11_000, expected: 4, partial: false };
  const final = (count: number) => ({ start: 10_000, end: 11_000, count, final: true });
  test("match and mismatch once the final is there", () => {
    expect(markOf(w, final(4), 20_000, 1000)).toBe("match");
    expect(markOf(w, final(5), 20_000, 1000)).toBe("mismatch");
    expect(markOf(w, final(3), 20_000, 1000)).toBe("mismatch");
  });
  test("open, then waiting, then unseen without a final", () => {
    expect(markOf(w, undefined, 10_500, 1000)).toBe("open");
    expect(markOf(w, undefined, 11_500, 1000)).toBe("waiting");
    expect(markOf(w, { ...final(4), final: false }, 12_000, 1000)).toBe("waiting");
    expect(markOf(w, undefined, 17_001, 1000)).toBe("unseen");
  });
});

describe("run state", () => {
  test("active while scheduled or running", () => {
    expect(activeRun(null)).toBe(false);
    expect(activeRun({ ...run(0, {}), state: "scheduled" })).toBe(true);
    expect(activeRun({ ...run(0, {}), state: "done" })).toBe(false);
    expect(activeRun({ ...run(0, {}), state: "canceled" })).toBe(false);
  });
  test("current step", () => {
    const r = run(10_000, {});
    expect(currentStep(r, 9_999)).toBe(0);
    expect(currentStep(r, 10_000)).toBe(1);
    expect(currentStep(r, 12_500)).toBe(3);
    expect(currentStep(r, 99_000)).toBe(10);
  });
});
