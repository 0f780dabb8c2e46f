// The Socket.IO connection of the page. socket.io-client reconnects by itself
// after a lost connection, but not when the server ended the session (a
// restart or shutdown sends a disconnect) or refused it: then this module
// connects again itself. On every (re)connection it registers the rooms of
// the videos on screen and consumes every window size again, and the server
// answers with a snapshot of the current counts.

import type { WindowCfg } from "./types";

/** The part of a socket.io-client Socket this module uses (a fake in tests). */
export interface SocketLike {
  readonly connected: boolean;
  readonly active: boolean;
  on(event: string, fn: (...args: any[]) => void): unknown;
  off(event: string, fn?: (...args: any[]) => void): unknown;
  emit(event: string, ...args: any[]): unknown;
  connect(): unknown;
  disconnect(): unknown;
}

/** The state of the connection, for the status badge. */
export interface Status {
  state: "connecting" | "live" | "reconnecting";
  /** Why the connection is not live, in words. */
  reason?: string;
  /** Connections made so far (1 after the first one). */
  connections: number;
  /** Failed attempts since the connection was lost. */
  attempts: number;
}

/** What the page hears. */
export interface Handlers {
  count(window: WindowCfg, payload: unknown): void;
  generator(run: unknown): void;
  status(s: Status): void;
  /** An event the server refused (live_error). */
  refused(msg: string): void;
  /** Each (re)connection, before the rooms are registered again. */
  connected?(): void;
}

/** Delay before connecting again after the server ended or refused the session. */
export const RETRY_MS = 1000;

/** LiveConnection keeps a socket subscribed to rooms and window sizes. */
export class LiveConnection {
  private rooms = new Set<string>();
  private windows: WindowCfg[] = [];
  private bound: { event: string; fn: (p: unknown) => void }[] = [];
  private status: Status = { state: "connecting", connections: 0, attempts: 0 };
  private retry: ReturnType<typeof setTimeout> | null = null;
  private closed = false;

  constructor(
    private readonly socket: SocketLike,
    private readonly on: Handlers,
    private readonly timers: { set: typeof setTimeout; clear: typeof clearTimeout } = { set: setTimeout, clear: clearTimeout },
  ) {
    socket.on("connect", () => this.onConnect());
    socket.on("disconnect", (reason: string) => this.onLost(`disconnected (${reason})`));
    socket.on("connect_error", (err: Error) => this.onLost(`cannot connect (${err?.message ?? err})`, true));
    socket.on("generator_progress", (run: unknown) => this.on.generator(run));
    socket.on("live_error", (e: { event?: string; error?: string }) =>
      this.on.refused(`The server refused ${e?.event ?? "an event"}: ${e?.error ?? "no reason given"}.`),
    );
  }

  /** The current status. */
  get current(): Status {
    return this.status;
  }

  /** setWindows listens to and consumes these sizes (again when they changed). */
  setWindows(windows: WindowCfg[]): void {
    for (const b of this.bound) this.socket.off(b.event, b.fn);
    this.windows = windows;
    this.bound = windows.map((w) => ({ event: w.live_event, fn: (p: unknown) => this.on.count(w, p) }));
    for (const b of this.bound) this.socket.on(b.event, b.fn);
    if (this.socket.connected) for (const w of windows) this.socket.emit(w.consume_event, {});
  }

  /** setRooms registers exactly these videos: new ones are registered, gone ones unregistered. */
  setRooms(ids: Iterable<string>): void {
    const next = new Set(ids);
    const added = [...next].filter((id) => !this.rooms.has(id));
    const removed = [...this.rooms].filter((id) => !next.has(id));
    this.rooms = next;
    if (!this.socket.connected) return; // registered at connection
    if (removed.length) this.socket.emit("unregister_room", { rooms: removed });
    if (added.length) this.socket.emit("register_room", { rooms: added });
  }

  /** close ends the connection for good. */
  close(): void {
    this.closed = true;
    if (this.retry) this.timers.clear(this.retry);
    this.socket.disconnect();
  }

  private setStatus(s: Partial<Status>): void {
    this.status = { ...this.status, ...s };
    this.on.status(this.status);
  }

  private onConnect(): void {
    if (this.retry) {
      this.timers.clear(this.retry);
      this.retry = null;
    }
    this.on.connected?.();
    if (this.rooms.size) this.socket.emit("register_room", { rooms: [...this.rooms] });
    for (const w of this.windows) this.socket.emit(w.consume_event, {});
    this.setStatus({ state: "live", reason: undefined, connections: this.status.connections + 1, attempts: 0 });
  }

  private onLost(reason: string, failedAttempt = false): void {
    if (this.closed) return;
    this.setStatus({ state: "reconnecting", reason, attempts: this.status.attempts + (failedAttempt ? 1 : 0) });
    // An active socket reconnects by itself; one the server ended or
    // refused does not.
    if (!this.socket.active && !this.retry) {
      this.retry = this.timers.set(() => {
        this.retry = null;
        if (!this.closed && !this.socket.connected) this.socket.connect();
      }, RETRY_MS);
    }
  }
}
