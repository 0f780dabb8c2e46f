// A live-counts client for the Go acceptance tests of the API
// (internal/apinode): real socket.io-client v4 sockets on the API's
// Socket.IO server, driven by the Go test through stdin and stdout.
//
// LIVE_CONFIG (JSON) describes the run:
//   clients:  [{url, transports}]  one socket each, e.g. ["websocket"] or ["polling"]
//   rooms:    video ids every socket registers
//   other:    a video id no socket registers (it must receive nothing about it)
//   windows:  [{consume, live}]    the consume event and live event of each window size
//
// The script connects every socket, checks the Socket.IO contract (acks,
// snapshots at registration, refused input), prints "READY", records every
// event until a line "DONE" arrives on stdin, then prints "RESULT <json>"
// with what each socket received, and exits 0. Any broken expectation
// exits 1 with the reason on stderr.
import assert from "node:assert/strict";
import { createInterface } from "node:readline";
import { io } from "socket.io-client";

const TIMEOUT = 10000;
const cfg = JSON.parse(process.env.LIVE_CONFIG ?? "{}");
assert.ok(cfg.clients?.length > 0 && cfg.rooms?.length > 0 && cfg.windows?.length > 0, "LIVE_CONFIG incomplete");
const liveEvents = new Set(cfg.windows.map((w) => w.live));

function connect(url, transports) {
  const socket = io(url, { transports, forceNew: true, reconnection: false, timeout: TIMEOUT });
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

async function main() {
  const sockets = [];
  for (const [i, c] of cfg.clients.entries()) {
    const socket = await connect(c.url, c.transports);
    assert.equal(socket.io.engine.transport.name, c.transports[0], `client ${i} transport`);
    const rec = { transport: socket.io.engine.transport.name, url: c.url, snapshots: {}, events: [], ready: false };
    socket.onAny((event, payload) => {
      if (!liveEvents.has(event)) return;
      checkPayload(event, payload);
      assert.ok(cfg.rooms.includes(payload.id), `client ${i} got ${event} for ${payload.id}, not one of its rooms`);
      if (rec.ready) rec.events.push({ event, ...payload });
      else (rec.snapshots[event] ??= []).push(payload);
    });
    const ack = await socket.timeout(TIMEOUT).emitWithAck("register_room", { rooms: cfg.rooms });
    assert.deepEqual(ack.rooms, [...cfg.rooms].sort(), `client ${i} register ack`);
    for (const w of cfg.windows) {
      await socket.timeout(TIMEOUT).emitWithAck(w.consume, {});
      // The current counts came before the ack: one per room, at once.
      const snap = rec.snapshots[w.live] ?? [];
      assert.deepEqual(snap.map((p) => p.id).sort(), [...cfg.rooms].sort(), `client ${i} snapshot of ${w.live}`);
    }
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
