import { describe, expect, test } from "vitest";
import { applyCount, countdown, finalOf, parseLive, viewOf, windowAt, type Count } from "./windows";

const S = 2000; // window size
const w = (start: number, count: number, final = false): Count => ({ start, end: start + S, count, final });

describe("applyCount", () => {
  test("a final that arrives after the next window's counts does not replace it", () => {
    let ws: Count[] = [];
    ws = applyCount(ws, w(0, 14));
    ws = applyCount(ws, w(2000, 1)); // window k+1 starts
    ws = applyCount(ws, w(2000, 2));
    ws = applyCount(ws, w(0, 15, true)); // final of window k, late
    ws = applyCount(ws, w(2000, 3));
    expect(ws).toEqual([w(0, 15, true), w(2000, 3)]);
    const v = viewOf(ws, S, 2500, 1000, 0);
    expect(v.current.count).toBe(3);
    expect(v.lastFinal?.count).toBe(15);
  });

  test("a running count never replaces a final, nor a larger running count", () => {
    let ws = applyCount([], w(0, 5, true));
    ws = applyCount(ws, w(0, 3));
    expect(ws).toEqual([w(0, 5, true)]);
    ws = applyCount(ws, w(2000, 7));
    ws = applyCount(ws, w(2000, 6)); // an older push of the same window
    expect(ws[1].count).toBe(7);
  });

  test("keeps windows sorted and at most keep of them, the newest", () => {
    let ws: Count[] = [];
    for (const start of [8000, 2000, 6000, 0, 4000]) ws = applyCount(ws, w(start, 1), 3);
    expect(ws.map((x) => x.start)).toEqual([4000, 6000, 8000]);
  });
});

describe("parseLive", () => {
  test("reads the server's payload", () => {
    expect(
      parseLive({ id: "v", count: 4, window_start: "2026-11-26T10:07:00Z", window_end: "2026-11-26T10:08:00Z", final: true }),
    ).toEqual({ id: "v", count: { start: Date.UTC(2026, 10, 26, 10, 7), end: Date.UTC(2026, 10, 26, 10, 8), count: 4, final: true } });
  });
  test("refuses malformed payloads", () => {
    expect(parseLive(null)).toBeNull();
    expect(parseLive({ id: "v", count: "4", window_start: "x", window_end: "y" })).toBeNull();
    expect(parseLive({ id: 3, count: 4, window_start: "2026-11-26T10:07:00Z", window_end: "2026-11-26T10:08:00Z" })).toBeNull();
  });
});

describe("viewOf", () => {
  test("unknown before the snapshot, 0 after it without likes", () => {
    expect(viewOf([], S, 4100, 1000, null).current).toEqual({ start: 4000, end: 6000, count: null });
    expect(viewOf([], S, 4100, 1000, 4000).current.count).toBe(0);
  });

  test("an ended window is closing until its final, then final", () => {
    const ws = [w(2000, 9), w(4000, 1)];
    const v = viewOf(ws, S, 4500, 1000, 2000);
    expect(v.closing).toEqual(w(2000, 9));
    expect(v.lastFinal).toBeNull();
    const v2 = viewOf(applyCount(ws, w(2000, 9, true)), S, 4600, 1000, 2000);
    expect(v2.closing).toBeNull();
    expect(v2.lastFinal).toEqual(w(2000, 9, true));
  });

  test("a followed window without likes becomes final 0 once its final would have come", () => {
    // Subscribed during [2000, 4000), nothing heard of it.
    expect(viewOf([], S, 4500, 1000, 2000).closing).toEqual(w(2000, 0));
    const late = viewOf([], S, 7500, 1000, 2000);
    expect(late.lastFinal).toEqual(w(2000, 0, true)); // 4000 + 1000 + 2000 <= 7500
    expect(late.closing).toEqual(w(4000, 0)); // its final may still come
    expect(viewOf([], 60_000, 65_000, 1000, 0)).toMatchObject({ closing: null, lastFinal: { start: 0, count: 0, final: true } });
    // Not followed from its start: no claim.
    expect(viewOf([], S, 7500, 1000, 6000).lastFinal).toBeNull();
  });

  test("a window with likes whose final is late stays closing", () => {
    const v = viewOf([w(0, 2, true), w(2000, 4)], S, 5500, 1000, 0);
    expect(v.closing).toEqual(w(2000, 4));
    expect(v.lastFinal).toEqual(w(0, 2, true));
  });
});

describe("finalOf", () => {
  test("received final, implicit 0, or nothing", () => {
    expect(finalOf([w(0, 3, true)], S, 0, 100, 1000, 0)).toEqual(w(0, 3, true));
    expect(finalOf([w(0, 0)], S, 0, 5000, 1000, 0)).toEqual(w(0, 0, true));
    expect(finalOf([w(0, 2)], S, 0, 5000, 1000, 0)).toBeNull();
    expect(finalOf([], S, 0, 4000, 1000, 0)).toBeNull(); // its final may still come
  });
});

describe("countdown and windowAt", () => {
  test("formats the time left", () => {
    expect(countdown(0)).toBe("0 s");
    expect(countdown(1)).toBe("1 s");
    expect(countdown(59_000)).toBe("59 s");
    expect(countdown(60_000)).toBe("1:00");
    expect(countdown(245_500)).toBe("4:06");
    expect(countdown(3_723_000)).toBe("1:02:03");
    expect(countdown(-5)).toBe("0 s");
  });
  test("windows are aligned to the epoch", () => {
    expect(windowAt(59_999, 60_000)).toEqual({ start: 0, end: 60_000 });
    expect(windowAt(60_000, 60_000)).toEqual({ start: 60_000, end: 120_000 });
  });
});
