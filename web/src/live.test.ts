import { describe, expect, test } from "vitest";
import { LiveConnection, RETRY_MS, type SocketLike, type Status } from "./live";
import type { WindowCfg } from "./types";

/** FakeSocket records emits and lets a test play the server and socket.io-client. */
class FakeSocket implements SocketLike {
  connected = false;
  active = true;
  emitted: [string, unknown][] = [];
  connects = 0;
  private handlers = new Map<string, Set<(...a: any[]) => void>>();
  on(ev: string, fn: (...a: any[]) => void) {
    if (!this.handlers.has(ev)) this.handlers.set(ev, new Set());
    this.handlers.get(ev)!.add(fn);
    return this;
  }
  off(ev: string, fn?: (...a: any[]) => void) {
    if (fn) this.handlers.get(ev)?.delete(fn);
    else this.handlers.delete(ev);
    return this;
  }
  emit(ev: string, ...args: unknown[]) {
    this.emitted.push([ev, args[0]]);
    return this;
  }
  connect() {
    this.connects++;
    this.active = true;
    return this;
  }
  disconnect() {
    this.connected = false;
    this.active = false;
    return this;
  }
  /** fire plays an event from the server side. */
  fire(ev: string, ...args: unknown[]) {
    if (ev === "connect") this.connected = true;
    if (ev === "disconnect") this.connected = false;
    for (const fn of this.handlers.get(ev) ?? []) fn(...args);
  }
  take() {
    const e = this.emitted;
    this.emitted = [];
    return e;
  }
}

/** fakeTimers runs timeouts when told to. */
function fakeTimers() {
  const pending = new Map<number, { at: number; fn: () => void }>();
  let seq = 0;
  let now = 0;
  return {
    set: ((fn: () => void, ms: number) => {
      pending.set(++seq, { at: now + ms, fn });
      return seq;
    }) as unknown as typeof setTimeout,
    clear: ((id: number) => pending.delete(id)) as unknown as typeof clearTimeout,
    advance(ms: number) {
      now += ms;
      for (const [id, t] of [...pending]) {
        if (t.at <= now) {
          pending.delete(id);
          t.fn();
        }
      }
    },
    get count() {
      return pending.size;
    },
  };
}

const sizes: WindowCfg[] = [
  { label: "2s", size_ms: 2000, consume_event: "consume_2s_aggregations", live_event: "live_aggregations_2s" },
  { label: "1min", size_ms: 60000, consume_event: "consume_1_min_aggregations", live_event: "live_aggregations_1" },
];

function setup() {
  const socket = new FakeSocket();
  const timers = fakeTimers();
  const counts: [string, unknown][] = [];
  const statuses: Status[] = [];
  const refused: string[] = [];
  const conn = new LiveConnection(
    socket,
    {
      count: (w, p) => counts.push([w.label, p]),
      generator: () => {},
      status: (s) => statuses.push(s),
      refused: (m) => refused.push(m),
    },
    timers,
  );
  return { socket, timers, counts, statuses, refused, conn };
}

describe("LiveConnection", () => {
  test("registers its rooms and consumes every size on connection", () => {
    const { socket, conn, statuses } = setup();
    conn.setWindows(sizes);
    conn.setRooms(["a", "b"]);
    expect(socket.take()).toEqual([]); // not connected yet
    socket.fire("connect");
    expect(socket.take()).toEqual([
      ["register_room", { rooms: ["a", "b"] }],
      ["consume_2s_aggregations", {}],
      ["consume_1_min_aggregations", {}],
    ]);
    expect(statuses.at(-1)).toMatchObject({ state: "live", connections: 1 });
  });

  test("routes each size's live event to its window", () => {
    const { socket, conn, counts } = setup();
    conn.setWindows(sizes);
    socket.fire("connect");
    socket.fire("live_aggregations_1", { id: "a", count: 1 });
    socket.fire("live_aggregations_2s", { id: "a", count: 2 });
    expect(counts).toEqual([
      ["1min", { id: "a", count: 1 }],
      ["2s", { id: "a", count: 2 }],
    ]);
    conn.setWindows(sizes.slice(0, 1)); // the server restarted with other sizes
    socket.fire("live_aggregations_1", { id: "a", count: 3 });
    expect(counts).toHaveLength(2);
  });

  test("while connected, setRooms registers the new rooms and unregisters the gone ones", () => {
    const { socket, conn } = setup();
    socket.fire("connect");
    conn.setRooms(["a", "b"]);
    socket.take();
    conn.setRooms(["b", "c"]);
    expect(socket.take()).toEqual([
      ["unregister_room", { rooms: ["a"] }],
      ["register_room", { rooms: ["c"] }],
    ]);
    conn.setRooms(["c", "b"]);
    expect(socket.take()).toEqual([]);
  });

  test("a lost connection is left to socket.io-client, and rooms are registered again", () => {
    const { socket, conn, timers, statuses } = setup();
    conn.setWindows(sizes);
    conn.setRooms(["a"]);
    socket.fire("connect");
    socket.take();
    socket.fire("disconnect", "transport close"); // still active: the client retries
    expect(statuses.at(-1)).toMatchObject({ state: "reconnecting", reason: "disconnected (transport close)" });
    socket.fire("connect_error", new Error("xhr poll error"));
    expect(statuses.at(-1)).toMatchObject({ state: "reconnecting", attempts: 1 });
    timers.advance(10 * RETRY_MS);
    expect(socket.connects).toBe(0);
    socket.fire("connect");
    expect(socket.take()).toEqual([
      ["register_room", { rooms: ["a"] }],
      ["consume_2s_aggregations", {}],
      ["consume_1_min_aggregations", {}],
    ]);
    expect(statuses.at(-1)).toMatchObject({ state: "live", connections: 2, attempts: 0 });
  });

  test("a session the server ended is connected again by the page", () => {
    const { socket, conn, timers } = setup();
    conn.setRooms(["a"]);
    socket.fire("connect");
    socket.active = false; // socket.io-client gives up after "io server disconnect"
    socket.fire("disconnect", "io server disconnect");
    expect(socket.connects).toBe(0);
    timers.advance(RETRY_MS);
    expect(socket.connects).toBe(1);
    // Refused again: retried again.
    socket.active = false;
    socket.fire("connect_error", new Error("refused"));
    timers.advance(RETRY_MS);
    expect(socket.connects).toBe(2);
    socket.fire("connect");
    expect(socket.take()).toContainEqual(["register_room", { rooms: ["a"] }]);
    expect(timers.count).toBe(0);
  });

  test("close stops reconnecting", () => {
    const { socket, conn, timers } = setup();
    socket.fire("connect");
    socket.active = false;
    socket.fire("disconnect", "io server disconnect");
    conn.close();
    timers.advance(10 * RETRY_MS);
    expect(socket.connects).toBe(0);
  });

  test("refused events are reported in words", () => {
    const { socket, refused } = setup();
    socket.fire("live_error", { event: "register_room", error: "too many rooms: 1001, at most 1000" });
    expect(refused).toEqual(["The server refused register_room: too many rooms: 1001, at most 1000."]);
  });
});
