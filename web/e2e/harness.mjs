// Helpers of the end-to-end tests: counter processes (the built binary) and
// Debian's Chromium driven by playwright-core.
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const root = resolve(fileURLToPath(new URL("../..", import.meta.url)));

/** The counter binary under test: $COUNTER_BIN or bin/counter (make build). */
export const binary = process.env.COUNTER_BIN ? resolve(process.env.COUNTER_BIN) : join(root, "bin", "counter");

/** Where screenshots go: $SCREENSHOT_DIR or web/screenshots (ignored by git). */
export const screenshotDir = process.env.SCREENSHOT_DIR ? resolve(process.env.SCREENSHOT_DIR) : join(root, "web", "screenshots");

/** The Chromium to drive: $CHROMIUM or Debian's. */
export const chromiumPath = process.env.CHROMIUM ?? "/usr/bin/chromium";

/** freePort returns a TCP port free on 127.0.0.1 at the time of the call. */
export function freePort() {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.once("error", fail);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => ok(port));
    });
  });
}

/** tempDir makes a directory removed by the returned cleanup function. */
export async function tempDir() {
  const dir = await mkdtemp(join(tmpdir(), "counter-e2e-"));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

const running = new Set();

/**
 * Proc is a counter process whose JSON log lines are kept; waitLog waits
 * for a line with a message.
 */
export class Proc {
  constructor(args) {
    this.args = args;
    this.lines = [];
    this.waiters = [];
    if (!existsSync(binary)) throw new Error(`${binary} not found: build it first (make build)`);
    this.child = spawn(binary, [...args, "--log-format", "json"], { stdio: ["ignore", "ignore", "pipe"] });
    running.add(this);
    this.exited = new Promise((ok) =>
      this.child.once("exit", (code, signal) => {
        running.delete(this);
        ok({ code, signal });
        for (const w of this.waiters) w.fail(new Error(`counter ${args[0]} exited (${code ?? signal}) while waiting for "${w.msg}"\n${this.tail()}`));
        this.waiters = [];
      }),
    );
    createInterface({ input: this.child.stderr }).on("line", (line) => {
      let rec;
      try {
        rec = JSON.parse(line);
      } catch {
        rec = { msg: line };
      }
      this.lines.push(rec);
      this.waiters = this.waiters.filter((w) => {
        if (rec.msg !== w.msg) return true;
        w.ok(rec);
        return false;
      });
    });
  }

  /** waitLog resolves with the first log record whose msg is msg. */
  waitLog(msg, timeoutMs = 30_000) {
    const seen = this.lines.find((l) => l.msg === msg);
    if (seen) return Promise.resolve(seen);
    return new Promise((ok, fail) => {
      const t = setTimeout(() => fail(new Error(`counter ${this.args[0]}: no "${msg}" within ${timeoutMs} ms\n${this.tail()}`)), timeoutMs);
      this.waiters.push({ msg, ok: (r) => (clearTimeout(t), ok(r)), fail: (e) => (clearTimeout(t), fail(e)) });
    });
  }

  /** stop sends signal and waits for the exit. */
  async stop(signal = "SIGTERM") {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
    return this.exited;
  }

  tail(n = 30) {
    return this.lines
      .slice(-n)
      .map((l) => JSON.stringify(l))
      .join("\n");
  }
}

/** stopAll kills every process still running (after a failure). */
export async function stopAll() {
  await Promise.all([...running].map((p) => p.stop("SIGKILL")));
}

/** waitHTTP waits until url answers 200. */
export async function waitHTTP(url, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  let last = "";
  while (Date.now() < deadline) {
    try {
      const res = await fetch(url);
      if (res.ok) return res;
      last = `HTTP ${res.status}`;
    } catch (err) {
      last = err.message;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} did not answer 200 within ${timeoutMs} ms (last: ${last})`);
}

/** launchBrowser starts headless Chromium as root can (no sandbox), offline. */
export function launchBrowser() {
  return chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

/**
 * watchConsole records the page's console errors and uncaught exceptions.
 * While expectOutage is set, the browser's own reports of refused
 * connections and failed requests (the server is down on purpose) are
 * recorded apart, and so are the messages matching allow (a refusal the
 * test provokes).
 */
export function watchConsole(page) {
  const w = { errors: [], outage: [], expectOutage: false, allow: null };
  const network = /Failed to load resource|ERR_CONNECTION_REFUSED|WebSocket connection to .* failed|ERR_EMPTY_RESPONSE|net::/;
  page.on("console", (m) => {
    if (m.type() !== "error") return;
    const text = m.text();
    if ((w.expectOutage && network.test(text)) || w.allow?.test(text)) w.outage.push(text);
    else w.errors.push(text);
  });
  page.on("pageerror", (e) => w.errors.push(`uncaught: ${e.message}`));
  return w;
}
