// The page's live counts: per (video, window size), the windows heard of.
// Components read it on each render; subscribe tells them to render again
// (at most once per animation frame).

import { applyCount, parseLive, windowAt, type Count } from "./windows";

const key = (video: string, label: string) => `${label}\u0000${video}`;

/** CountStore holds the counts the page received. */
export class CountStore {
  private series = new Map<string, Count[]>();
  /**
   * Per (video, size) whose counts came on the current connection: the start
   * of the window current when they began (the server's snapshot covers it).
   */
  private known = new Map<string, number>();
  private listeners = new Set<() => void>();
  private version = 0;
  private scheduled = false;

  /** The clock (the server's, as far as the page knows it). */
  now: () => number = Date.now;

  /** add applies a live event's payload for the size; false if it is malformed. */
  add(size: { label: string; size_ms: number }, payload: unknown): boolean {
    const p = parseLive(payload);
    if (!p) return false;
    const k = key(p.id, size.label);
    this.series.set(k, applyCount(this.series.get(k) ?? [], p.count));
    if (!this.known.has(k)) this.known.set(k, windowAt(this.now(), size.size_ms).start);
    this.changed();
    return true;
  }

  /**
   * addPast applies a window the page read from the counts route (a last
   * closed window): it is kept, but does not tell that the page follows
   * the video's counts.
   */
  addPast(size: { label: string }, payload: unknown): boolean {
    const p = parseLive(payload);
    if (!p) return false;
    const k = key(p.id, size.label);
    this.series.set(k, applyCount(this.series.get(k) ?? [], p.count));
    this.changed();
    return true;
  }

  /** windows returns the known windows of a video and size, oldest first. */
  windows(video: string, label: string): readonly Count[] {
    return this.series.get(key(video, label)) ?? [];
  }

  /**
   * knownFrom returns the start of the first window the page has followed
   * completely on this connection, for the video and size; null if none.
   */
  knownFrom(video: string, label: string): number | null {
    return this.known.get(key(video, label)) ?? null;
  }

  /** unknownAll forgets which counts are current: the connection was lost. */
  unknownAll(): void {
    this.known.clear();
    this.changed();
  }

  subscribe = (fn: () => void): (() => void) => {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  };

  getVersion = (): number => this.version;

  private changed(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    const run = () => {
      this.scheduled = false;
      this.version++;
      for (const fn of this.listeners) fn();
    };
    if (typeof requestAnimationFrame === "function") requestAnimationFrame(run);
    else setTimeout(run, 16);
  }
}
