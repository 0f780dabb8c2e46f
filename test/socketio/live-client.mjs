// A live-counts client for the Go acceptance tests of the API
// (internal/apinode): real socket.io-client v4 sockets on the API's
// Socket.IO server, driven by the Go test through stdin and stdout.
//
// LIVE_CONFIG (JSON) describes the run:
//   clients:   [{url, transports}]  one socket each, e.g. ["websocket"] or ["polling"]
//   rooms:     video ids every socket registers
//   other:     a video id no socket registers (it must receive nothing about it)
//   windows:   [{consume, live, consume_windows, windows}]  per window size, the
//              consume event and original live event (live_aggregations_*), and
//              the consume event and event of the window events (live_windows_*)
//   reconnect: sockets reconnect by themselves when the server goes away, and
//              then register their rooms and consume the sizes again, as a
//              page does; each reconnection prints "RECONNECTED <client> <n>"
//
// The script connects every socket, checks the Socket.IO contract (acks,
// snapshots at registration, refused input), prints "READY", records every
// event until a line "DONE" arrives on stdin, then prints "RESULT <json>"
// with what each socket received, and exits 0. Events after READY carry
// "conn", the number of the connection (0, then 1 after the first
// reconnection...). Any broken expectation exits 1 with the reason on
// stderr.
import assert from "node:assert/strict";
import { createInterface } from "node:readline";
import { io } from "socket.io-client";

const TIMEOUT = 10000;
const cfg = JSON.parse(process.env.LIVE_CONFIG ?? "{}");
assert.ok(cfg.clients?.length > 0 && cfg.rooms?.length > 0 && cfg.windows?.length > 0, "LIVE_CONFIG incomplete");
const liveEvents = new Set(cfg.windows.flatMap((w) => [w.live, w.windows]));

function connect(url, transports) {
  const socket = io(url, {
    transports,
    forceNew: true,
    timeout: TIMEOUT,
    reconnection: !!cfg.reconnect,
    reconnectionDelay: 100,
    reconnectionDelayMax: 500,
  });
  return new Promise((resolve, reject) => {
    socket.once("connect", () => resolve(socket));
    socket.once("connect_error", (err) => reject(err));
  });
}

function checkPayload(event, p) {
  assert.equal(typeof p, "object", `${event}: payload ${JSON.stringify(p)}`);
  assert.equal(typeof p.id, "string");
  assert.ok(Number.isInteger(p.count) && p.count >= 0, `${event}: count ${p.count}`);
  assert.equal(typeof p.final, "boolean");
  const start = Date.parse(p.window_start);
  const end = Date.parse(p.window_end);
  assert.ok(start < end, `${event}: window ${p.window_start} .. ${p.window_end}`);
}

// The server refuses bad input with an error (event and ack) and stays up.
async function checkRefusals(url) {
  const s = await connect(url, ["websocket"]);
  const errors = [];
  s.on("live_error", (e) => errors.push(e));
  const tooMany = Array.from({ length: 1001 }, (_, i) => `video-${i}`);
  let res = await s.timeout(TIMEOUT).emitWithAck("register_room", { rooms: tooMany });
  assert.match(res.error, /too many rooms/);
  res = await s.timeout(TIMEOUT).emitWithAck("register_room", { rooms: ["not a video id!"] });
  assert.match(res.error, /room/);
  res = await s.timeout(TIMEOUT).emitWithAck("register_room", "rooms please");
  assert.match(res.error, /expected/);
  s.emit("no_such_event", { x: 1 }); // ignored
  res = await s.timeout(TIMEOUT).emitWithAck("register_room", { rooms: ["ok-1"] });
  assert.deepEqual(res, { rooms: ["ok-1"] });
  assert.equal(errors.length, 3, JSON.stringify(errors));
  assert.equal(errors[0].event, "register_room");
  // A message above the server's limit closes that client only.
  const gone = new Promise((resolve) => s.once("disconnect", resolve));
  s.emit("register_room", { rooms: ["x".repeat(400 * 1024)] });
  await gone;
  s.close();
}

// subscribe registers the rooms and consumes every window size, both
// streams, and checks the snapshots, which come before the acks: for the
// original events one per room, for the window events one or two per room
// (the last closed window, if any, and the current one). got(event) returns
// what the socket received of event since subscribe began.
async function subscribe(socket, i, got) {
  const ack = await socket.timeout(TIMEOUT).emitWithAck("register_room", { rooms: cfg.rooms });
  assert.deepEqual(ack.rooms, [...cfg.rooms].sort(), `client ${i} register ack`);
  const rooms = [...cfg.rooms].sort();
  for (const w of cfg.windows) {
    await socket.timeout(TIMEOUT).emitWithAck(w.consume, {});
    assert.deepEqual(got(w.live).map((p) => p.id).sort(), rooms, `client ${i} snapshot of ${w.live}`);
    await socket.timeout(TIMEOUT).emitWithAck(w.consume_windows, {});
    const ids = got(w.windows).map((p) => p.id);
    assert.deepEqual([...new Set(ids)].sort(), rooms, `client ${i} snapshot of ${w.windows}`);
    assert.ok(ids.length <= 2 * rooms.length, `client ${i} snapshot of ${w.windows}: ${ids}`);
  }
}

async function main() {
  const sockets = [];
  for (const [i, c] of cfg.clients.entries()) {
    const socket = await connect(c.url, c.transports);
    assert.equal(socket.io.engine.transport.name, c.transports[0], `client ${i} transport`);
    const rec = { transport: socket.io.engine.transport.name, url: c.url, snapshots: {}, events: [], ready: false, conn: 0 };
    socket.onAny((event, payload) => {
      if (!liveEvents.has(event)) return;
      checkPayload(event, payload);
      assert.ok(cfg.rooms.includes(payload.id), `client ${i} got ${event} for ${payload.id}, not one of its rooms`);
      if (rec.ready) rec.events.push({ event, conn: rec.conn, ...payload });
      else (rec.snapshots[event] ??= []).push(payload);
    });
    await subscribe(socket, i, (event) => rec.snapshots[event] ?? []);
    // After a reconnection (the first "connect" is over), register again.
    socket.on("connect", () => {
      rec.conn++;
      const n = rec.conn;
      const from = rec.events.length;
      const got = (event) => rec.events.slice(from).filter((e) => e.event === event && e.conn === n);
      subscribe(socket, i, got).then(
        () => console.log(`RECONNECTED ${i} ${n}`),
        (err) => {
          console.error(`client ${i} reconnection ${n}: ${err?.stack ?? err}`);
          process.exit(1);
        },
      );
    });
    sockets.push({ socket, rec });
  }
  await checkRefusals(cfg.clients[0].url);
  for (const { rec } of sockets) rec.ready = true;
  console.log("READY");

  const lines = createInterface({ input: process.stdin });
  for await (const line of lines) {
    if (line.trim() === "DONE") break;
  }
  for (const { socket, rec } of sockets) {
    assert.equal(socket.connected, true, `client on ${rec.url} disconnected`);
    socket.close();
  }
  // Writes to a pipe are asynchronous in Node: exit only once the (large)
  // result line is flushed, or it may be cut short.
  process.stdout.write("RESULT " + JSON.stringify(sockets.map(({ rec }) => rec)) + "\n", () => process.exit(0));
}

main().catch((err) => {
  console.error(err?.stack ?? String(err));
  process.exit(1);
});
