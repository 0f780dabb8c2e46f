// Tests of the Go Socket.IO server with the real socket.io-client v4.
//
// The server is the Go test application (internal/socketio/internal/testapp).
// When SOCKETIO_URL is set (go test does that) the tests use it; otherwise
// they build and start internal/socketio/internal/testserver themselves.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { io } from "socket.io-client";

const TIMEOUT = 5000;
let baseURL = process.env.SOCKETIO_URL;
let server, buildDir;

before(async () => {
  if (baseURL) return;
  const root = fileURLToPath(new URL("../..", import.meta.url));
  buildDir = await mkdtemp(join(tmpdir(), "socketio-testserver-"));
  const bin = join(buildDir, "testserver");
  await promisify(execFile)("go", ["build", "-o", bin, "./internal/socketio/internal/testserver"], { cwd: root });
  server = spawn(bin, [], { stdio: ["ignore", "pipe", "inherit"] });
  baseURL = await new Promise((resolve, reject) => {
    server.once("exit", (code) => reject(new Error(`test server exited with ${code}`)));
    createInterface({ input: server.stdout }).once("line", (line) => {
      const m = /^listening on (\S+)$/.exec(line);
      m ? resolve(m[1]) : reject(new Error(`unexpected test server output: ${line}`));
    });
  });
});

after(async () => {
  server?.kill();
  if (buildDir) await rm(buildDir, { recursive: true, force: true });
});

let seq = 0;
const unique = (prefix) => `${prefix}-${process.pid}-${++seq}`;

// connect resolves with a connected socket, or rejects with the connect error.
function connect(opts = {}, nsp = "") {
  const socket = io(baseURL + nsp, { forceNew: true, reconnection: false, ...opts });
  return new Promise((resolve, reject) => {
    socket.once("connect", () => resolve(socket));
    socket.once("connect_error", (err) => {
      socket.close();
      reject(err);
    });
  });
}

// call emits event with args and resolves with the arguments of the ack.
function call(socket, event, ...args) {
  return new Promise((resolve, reject) => {
    socket.timeout(TIMEOUT).emit(event, ...args, (err, ...res) => (err ? reject(err) : resolve(res)));
  });
}

function once(emitter, event) {
  return new Promise((resolve) => emitter.once(event, (...args) => resolve(args)));
}

async function serverSawDisconnect(id) {
  const res = await fetch(`${baseURL}/test/disconnect?id=${encodeURIComponent(id)}`);
  assert.equal(res.status, 200, await res.clone().text());
  return (await res.json()).reason;
}

const modes = [
  { name: "websocket only", opts: { transports: ["websocket"] }, transport: "websocket" },
  { name: "polling then upgrade", opts: {}, transport: "websocket", upgrade: true },
  { name: "polling only", opts: { transports: ["polling"] }, transport: "polling" },
];

for (const mode of modes) {
  describe(mode.name, () => {
    let socket;

    before(async () => {
      socket = await connect(mode.opts);
      if (mode.upgrade && socket.io.engine.transport.name !== "websocket") {
        await once(socket.io.engine, "upgrade");
      }
    });

    after(() => socket?.close());

    test("uses the expected transport", () => {
      assert.equal(socket.connected, true);
      assert.equal(socket.io.engine.transport.name, mode.transport);
    });

    test("ack callback receives the handler's values", async () => {
      const res = await call(socket, "echo", 1, "two", { three: [3] }, null);
      assert.deepEqual(res, [1, "two", { three: [3] }, null]);
    });

    test("broadcasts reach the registered rooms only", async () => {
      const [roomA, roomB, other] = [unique("a"), unique("b"), unique("other")];
      const [joined] = await call(socket, "register_room", { rooms: [roomA, roomB] });
      assert.deepEqual(joined.rooms, [roomA, roomB].sort());

      // Another client is in the other room, so that broadcasting to it does
      // deliver something, just not to socket.
      const bystander = await connect({ transports: ["websocket"] });
      try {
        await call(bystander, "register_room", { rooms: [other] });
        const bystanderGot = once(bystander, "count");

        const got = [];
        socket.on("count", (payload) => got.push(payload));
        await call(socket, "broadcast", { room: other, event: "count", data: { room: other } });
        await call(socket, "broadcast", { room: roomA, event: "count", data: { room: roomA, likes: 1 } });
        await call(socket, "broadcast", { room: roomB, event: "count", data: { room: roomB, likes: 2 } });
        // One queue per client keeps order: each broadcast reached socket
        // before the ack of the request that caused it, so the events of the
        // three broadcasts are all in by now.
        assert.deepEqual(got, [
          { room: roomA, likes: 1 },
          { room: roomB, likes: 2 },
        ]);
        assert.deepEqual(await bystanderGot, [{ room: other }]);
      } finally {
        socket.off("count");
        bystander.close();
      }
    });

    test("heartbeat keeps the connection open", async () => {
      // The test server pings every 300ms.
      await once(socket.io.engine, "ping");
      await once(socket.io.engine, "ping");
      assert.equal(socket.connected, true);
    });

    test("the server sees the client disconnect", async () => {
      const id = socket.id;
      socket.disconnect();
      assert.equal(await serverSawDisconnect(id), "client namespace disconnect");
    });
  });
}

test("closing the transport is seen by the server", async () => {
  const socket = await connect({ transports: ["websocket"] });
  const id = socket.id;
  socket.io.engine.close();
  assert.equal(await serverSawDisconnect(id), "transport close");
});

for (const transport of ["websocket", "polling"]) {
  test(`the server can disconnect a client (${transport})`, async () => {
    const socket = await connect({ transports: [transport] });
    const id = socket.id;
    const disconnected = once(socket, "disconnect");
    socket.emit("kick");
    assert.equal((await disconnected)[0], "io server disconnect");
    assert.equal(await serverSawDisconnect(id), "server namespace disconnect");
    socket.close();
  });
}

test("an unknown namespace is refused", async () => {
  await assert.rejects(connect({ transports: ["websocket"] }, "/nope"), { message: "Invalid namespace" });
});

test("too many rooms is an error, not a disconnect", async () => {
  const socket = await connect({ transports: ["websocket"] });
  try {
    const rooms = Array.from({ length: 1001 }, (_, i) => unique(`r${i}`));
    const [res] = await call(socket, "register_room", { rooms });
    assert.match(res.error, /too many rooms/);
    assert.equal(socket.connected, true);
  } finally {
    socket.close();
  }
});
