// The like generator's arithmetic: the running sums beside the editor, and
// the proof after a run — per finished window of every size, the likes the
// run sent into it beside the final the workers counted.

import type { GeneratorRun, WindowCfg } from "./types";
import type { Count } from "./windows";

/**
 * runningSums returns, per step, the sum of the steps since the start of
 * its block of `every` steps: every=5 gives the cumulative likes of each
 * 5-step window, as the original page's "expected 5' likes".
 */
export function runningSums(steps: readonly number[], every: number): number[] {
  let sum = 0;
  return steps.map((n, i) => {
    if (i % every === 0) sum = 0;
    sum += n;
    return sum;
  });
}

/** parseLikes reads an editor field: a whole number of likes 0–10000, or null. */
export function parseLikes(text: string): number | null {
  if (!/^\s*\d+\s*$/.test(text)) return null;
  const n = Number(text);
  return n <= 10000 ? n : null;
}

/** A window of one size that the run sent likes into. */
export interface ExpectedWindow {
  video: string;
  label: string;
  sizeMs: number;
  start: number;
  end: number;
  expected: number;
  /** The window also covers time outside the run: other likes may count in it. */
  partial: boolean;
}

/**
 * expectedWindows lists, per video of the run and per size, the windows the
 * run's steps fall into with the likes it sends into each. A step is one
 * window of the smallest size, so it lies in one window of each size that
 * is a multiple of the step; sizes that are not are left out (a step's
 * likes would be split between two windows).
 */
export function expectedWindows(run: GeneratorRun, sizes: readonly WindowCfg[]): ExpectedWindow[] {
  const start = Date.parse(run.start);
  const step = run.step_ms;
  const end = start + step * run.steps;
  const out: ExpectedWindow[] = [];
  for (const [video, likes] of Object.entries(run.videos).sort(([a], [b]) => a.localeCompare(b))) {
    for (const s of sizes) {
      if (s.size_ms % step !== 0) continue;
      const byStart = new Map<number, ExpectedWindow>();
      likes.forEach((n, i) => {
        const t = start + i * step;
        const ws = Math.floor(t / s.size_ms) * s.size_ms;
        let w = byStart.get(ws);
        if (!w) {
          w = { video, label: s.label, sizeMs: s.size_ms, start: ws, end: ws + s.size_ms, expected: 0, partial: ws < start || ws + s.size_ms > end };
          byStart.set(ws, w);
        }
        w.expected += n;
      });
      out.push(...[...byStart.values()].sort((a, b) => a.start - b.start));
    }
  }
  return out;
}

/** The mark of one window of the proof. */
export type Mark = "match" | "mismatch" | "open" | "waiting" | "unseen" | "canceled";

/**
 * markOf compares a window's expected likes with its counted final: match or
 * mismatch once the final is there; open while the window runs; waiting for
 * its final (it ended, the grace has not passed or the final is on its way);
 * unseen when the final should have come long ago but the page did not see
 * it (it was loaded after the window closed).
 */
export function markOf(w: ExpectedWindow, final: Count | undefined, now: number, graceMs: number): Mark {
  if (final?.final) return final.count === w.expected ? "match" : "mismatch";
  if (now < w.end) return "open";
  if (now < w.end + graceMs + 5000) return "waiting";
  return "unseen";
}

/** activeRun tells whether a run still sends likes (a new one cannot start). */
export function activeRun(run: GeneratorRun | null): boolean {
  return !!run && (run.state === "scheduled" || run.state === "running");
}

/** currentStep is the step a run is in (1-based), 0 before its start, steps after its end. */
export function currentStep(run: GeneratorRun, now: number): number {
  const start = Date.parse(run.start);
  if (now < start) return 0;
  return Math.min(run.steps, Math.floor((now - start) / run.step_ms) + 1);
}
