// The counts of one (video, window size): the windows the page has heard of,
// whatever order their updates arrive in. The server may send the final of a
// window after the first counts of the next one; windows are kept by their
// start, so a late final never replaces a newer window on screen.

/** One window of one video and size. Times are Unix milliseconds. */
export interface Count {
  start: number;
  end: number;
  count: number;
  final: boolean;
}

/** How many windows are kept per (video, size): the history and the generator's proof read them. */
export const KEEP = 48;

/**
 * parseLive reads the payload of a live event,
 * {"id","count","window_start","window_end","final"}; null if malformed.
 */
export function parseLive(payload: unknown): { id: string; count: Count } | null {
  if (!payload || typeof payload !== "object") return null;
  const p = payload as Record<string, unknown>;
  const start = Date.parse(String(p.window_start));
  const end = Date.parse(String(p.window_end));
  if (typeof p.id !== "string" || typeof p.count !== "number" || Number.isNaN(start) || Number.isNaN(end)) return null;
  return { id: p.id, count: { start, end, count: p.count, final: p.final === true } };
}

/**
 * applyCount returns windows (sorted by start, oldest first) with c in it.
 * A final is never replaced by a running count of the same window, and a
 * running count never by a smaller one (counts only grow); at most keep
 * windows are kept, the newest.
 */
export function applyCount(windows: readonly Count[], c: Count, keep = KEEP): Count[] {
  const out = windows.slice();
  const i = out.findIndex((w) => w.start === c.start);
  if (i >= 0) {
    const old = out[i];
    if (old.final && !c.final) return out;
    if (!old.final && !c.final && c.count < old.count) return out;
    out[i] = c;
    return out;
  }
  let at = out.length;
  while (at > 0 && out[at - 1].start > c.start) at--;
  out.splice(at, 0, c);
  return out.length > keep ? out.slice(out.length - keep) : out;
}

/** windowAt returns the window of size sizeMs that holds time t. */
export function windowAt(t: number, sizeMs: number): { start: number; end: number } {
  const start = Math.floor(t / sizeMs) * sizeMs;
  return { start, end: start + sizeMs };
}

/** What a card shows for one window size at time now. */
export interface SizeView {
  /** The window the clock is in; count null while the page knows nothing. */
  current: { start: number; end: number; count: number | null };
  /** The latest window that ended but whose final has not come yet. */
  closing: Count | null;
  /** The latest window with its final. */
  lastFinal: Count | null;
}

/**
 * SETTLE_MS is how long after a window's end plus the grace its final may
 * still be on its way (commit interval, flush, network).
 */
export const SETTLE_MS = 2000;

/**
 * finalOf returns the final of the window of size sizeMs starting at start,
 * as far as the page can tell at time now: the final it received, or —
 * a window without likes gets no final — a final of 0 when the page has
 * followed the counts since before that window (knownFrom, the start of the
 * window current when its subscription began; null if not subscribed) and
 * the window's final would have come by now without any count of it.
 */
export function finalOf(
  windows: readonly Count[],
  sizeMs: number,
  start: number,
  now: number,
  graceMs: number,
  knownFrom: number | null,
): Count | null {
  const w = windows.find((x) => x.start === start);
  if (w?.final) return w;
  const end = start + sizeMs;
  if (knownFrom !== null && start >= knownFrom && now >= end + graceMs + SETTLE_MS && (!w || w.count === 0)) {
    return { start, end, count: 0, final: true };
  }
  return null;
}

/**
 * viewOf derives what to show from the known windows: the current window
 * by the clock (a window the page heard nothing of has no likes, count 0,
 * when knownFrom says the page follows the counts; unknown otherwise), the
 * latest ended window still waiting for its final, and the latest final.
 */
export function viewOf(windows: readonly Count[], sizeMs: number, now: number, graceMs: number, knownFrom: number | null): SizeView {
  const cur = windowAt(now, sizeMs);
  const w = windows.find((x) => x.start === cur.start);
  // The ended windows, and the recent ones the page followed but heard
  // nothing of (no likes): each is final (received, or 0 without likes once
  // its final would have come), or closing.
  const ended = windows.filter((x) => x.end <= now);
  const back = Math.ceil((graceMs + SETTLE_MS) / sizeMs) + 1;
  for (let k = 1; k <= back && knownFrom !== null; k++) {
    const start = cur.start - k * sizeMs;
    if (start < knownFrom) break;
    if (!windows.some((x) => x.start === start)) ended.push({ start, end: start + sizeMs, count: 0, final: false });
  }
  let lastFinal: Count | null = null;
  let closing: Count | null = null;
  for (const x of ended) {
    const f = x.final ? x : finalOf(windows, sizeMs, x.start, now, graceMs, knownFrom);
    if (f) {
      if (!lastFinal || f.start > lastFinal.start) lastFinal = f;
    } else if (!closing || x.start > closing.start) {
      closing = x;
    }
  }
  if (closing && lastFinal && closing.start < lastFinal.start) closing = null;
  const known = knownFrom !== null;
  return { current: { ...cur, count: w ? w.count : known ? 0 : null }, closing, lastFinal };
}

/**
 * countdown puts the time left until a window's end in words: "42 s",
 * "4:05" (minutes), "1:02:03" (hours).
 */
export function countdown(msLeft: number): string {
  const s = Math.max(0, Math.ceil(msLeft / 1000));
  if (s < 60) return `${s} s`;
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${sec}` : `${m}:${sec}`;
}

const pad = (n: number) => String(n).padStart(2, "0");

/** clock formats a time as HH:MM:SS in the page's time zone. */
export function clock(t: number): string {
  const d = new Date(t);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** range formats a window as "10:07:00–10:08:00". */
export function range(start: number, end: number): string {
  return `${clock(start)}–${clock(end)}`;
}
