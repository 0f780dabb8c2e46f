// End-to-end tests of the page in a real browser (Debian's Chromium, driven
// by playwright-core) against real counter processes with second-long
// windows: `counter dev`, then broker + 2 workers + api.
//
//   make build && cd web && npm run e2e
//
// Screenshots (desktop 1280 px and phone 375 px) are written to
// web/screenshots/ (SCREENSHOT_DIR).
import assert from "node:assert/strict";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Proc, freePort, launchBrowser, screenshotDir, stopAll, tempDir, waitHTTP, watchConsole } from "./harness.mjs";

const WINDOWS = "1s,2s,5s";
const GRACE = "1s";

let browser;
before(async () => {
  browser = await launchBrowser();
  await mkdir(screenshotDir, { recursive: true });
});
after(async () => {
  await browser?.close();
  await stopAll();
});

const card = (page, id) => page.locator(`[data-testid="video-card"][data-video="${id}"]`);

/** countsOf returns every count a card shows (current, closing, final), as numbers. */
async function countsOf(page, id) {
  const texts = await card(page, id).locator(".count").allTextContents();
  return texts.map((t) => Number(t.replace(/[^\d]/g, "")) || 0);
}

/** waitFor polls check (async, returning a truthy value) until it holds. */
async function waitFor(what, check, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    last = await check();
    if (last) return last;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe("counter dev", () => {
  let dir, kafkaPort, httpPort, dev, base, page, watch, videos;
  const devArgs = () => [
    "dev",
    "--data-dir", join(dir.dir, "data"),
    "--kafka-port", String(kafkaPort),
    "--http-addr", `127.0.0.1:${httpPort}`,
    "--windows", WINDOWS,
    "--grace", GRACE,
    "--demo-interval", "0",
    "--partitions", "3",
  ];
  const startDev = async () => {
    dev = new Proc(devArgs());
    await dev.waitLog("counter is running", 60_000);
    // The counts routes answer 503 until the live view has loaded.
    await waitHTTP(`${base}/dev/videos/top`);
  };

  before(async () => {
    dir = await tempDir();
    [kafkaPort, httpPort] = [await freePort(), await freePort()];
    base = `http://127.0.0.1:${httpPort}`;
    await startDev();
    videos = await (await fetch(`${base}/dev/videos/metadata`)).json();
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    watch = watchConsole(page);
  });
  after(async () => {
    await page?.close();
    await dev?.stop();
    await dir?.remove();
  });

  test("the page loads the catalog and goes live", async () => {
    const t0 = Date.now();
    await page.goto(base + "/");
    await page.locator('[data-testid="connection"][data-state="live"]').waitFor({ timeout: 15_000 });
    await page.locator('[data-testid="video-card"]').first().waitFor();
    const shown = await page.locator('[data-testid="video-card"]').evaluateAll((els) => els.map((e) => e.getAttribute("data-video")));
    assert.deepEqual(shown, videos.slice(0, 6).map((v) => v.unique_identifier));
    for (const v of videos.slice(0, 6)) await card(page, v.unique_identifier).getByRole("heading", { name: v.title }).waitFor();
    // Every size of the server, with a count known from the snapshot.
    for (const size of WINDOWS.split(",")) {
      await page.locator(`[data-testid="now-${size}"]`).first().filter({ hasNotText: "?" }).waitFor({ timeout: 10_000 });
    }
    console.log(`page live with ${shown.length} cards in ${Date.now() - t0} ms`);
    // Show more / fewer.
    await page.getByRole("button", { name: "Show more" }).click();
    await waitFor("more cards", async () => (await page.locator('[data-testid="video-card"]').count()) === Math.min(12, videos.length), 5000);
    await page.getByRole("button", { name: "Show fewer" }).click();
    await waitFor("fewer cards", async () => (await page.locator('[data-testid="video-card"]').count()) === 6, 5000);
    // Add a video: it joins the catalog and is shown, with its counts.
    const title = `A video added by the e2e test ${process.pid}`;
    await page.getByLabel("New video title").fill(title);
    await page.getByRole("button", { name: "Add video" }).click();
    const added = page.locator('[data-testid="video-card"]', { has: page.getByRole("heading", { name: title }) });
    await added.locator('[data-testid="now-1s"]').filter({ hasText: "0" }).waitFor({ timeout: 10_000 });
    const catalog = await (await fetch(`${base}/dev/videos/metadata`)).json();
    assert.equal(catalog.at(-1).title, title);
    await page.getByRole("button", { name: "Show fewer" }).click();
    await waitFor("6 cards again", async () => (await page.locator('[data-testid="video-card"]').count()) === 6, 5000);
  });

  test("clicking like raises that video's count, once", async () => {
    const id = videos[0].unique_identifier;
    const other = videos[1].unique_identifier;
    assert.ok((await countsOf(page, id)).every((n) => n === 0), "no likes before the click");
    const t0 = Date.now();
    await card(page, id).getByTestId("like").click();
    await waitFor("the count to rise", async () => (await countsOf(page, id)).some((n) => n === 1), 10_000);
    console.log(`like shown after ${Date.now() - t0} ms`);
    // The 5 s window's final is exactly 1; the other video got nothing.
    await card(page, id).locator('[data-testid="final-5s"]', { hasText: "✔ 1" }).waitFor({ timeout: 15_000 });
    assert.ok((await countsOf(page, other)).every((n) => n === 0));
    assert.ok(!(await countsOf(page, id)).some((n) => n > 1), "counted more than once");
  });

  test("a generator run ends with every window marked as matching", async () => {
    // Videos 2 and 3 send likes; the others (video 1 got the click) send none.
    const plan = {
      [videos[1].unique_identifier]: [3, 1, 4, 0, 5, 9, 2, 6, 5, 3],
      [videos[2].unique_identifier]: [0, 2, 7, 1, 8, 2, 8, 1, 8, 2],
    };
    for (const v of videos.slice(0, 6)) {
      const row = page.locator(`[data-testid="gen-row"][data-video="${v.unique_identifier}"] input`);
      const nums = plan[v.unique_identifier] ?? Array(10).fill(0);
      for (let k = 0; k < 10; k++) await row.nth(k).fill(String(nums[k]));
    }
    const t0 = Date.now();
    await page.getByTestId("gen-send").click();
    await page.locator('[data-testid="gen-run"][data-state="running"]').waitFor({ timeout: 10_000 });
    assert.equal(await page.getByTestId("gen-send").isDisabled(), true);
    // A page loaded during the run shows it too (the run is on the server):
    // a reload does not lose it.
    const second = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const w2 = watchConsole(second);
    await second.goto(base + "/");
    await second.locator('[data-testid="gen-run"][data-state="running"]').waitFor({ timeout: 10_000 });
    await second.getByTestId("gen-cancel").waitFor();
    assert.equal(await second.getByTestId("gen-cancel").isDisabled(), false);
    await second.close();
    assert.deepEqual(w2.errors, []);
    const summary = page.locator('[data-testid="proof-summary"][data-complete="true"]');
    await summary.waitFor({ timeout: 60_000 });
    const [total, matching, mismatching] = await Promise.all(
      ["data-total", "data-matching", "data-mismatching"].map((a) => summary.getAttribute(a).then(Number)),
    );
    const marks = await page.locator('[data-testid="proof-row"]').evaluateAll((rows) => rows.map((r) => r.getAttribute("data-mark")));
    console.log(`generator run proved in ${Date.now() - t0} ms: ${matching}/${total} match, marks ${JSON.stringify(countBy(marks))}`);
    // 2 videos: 10 windows of 1s, 5 or 6 of 2s, 2 or 3 of 5s each.
    assert.ok(total >= 34, `only ${total} windows checked`);
    assert.equal(mismatching, 0, `mismatching windows: ${marks}`);
    assert.equal(matching, total, `not every window matches: ${marks}`);
    await page.locator('[data-testid="gen-run"][data-state="done"]').waitFor({ timeout: 10_000 });
    const likes = Object.values(plan).flat().reduce((a, b) => a + b, 0);
    assert.equal(await page.getByTestId("gen-sent").textContent(), String(likes));
    // The audit recounts the closed windows from the input topic.
    await page.getByRole("button", { name: "Run audit" }).click();
    const audit = page.getByTestId("audit");
    await audit.locator('[data-testid="audit-checked"]').waitFor({ timeout: 60_000 });
    const checked = Number(await audit.getByTestId("audit-checked").textContent());
    const drifting = Number(await audit.getByTestId("audit-drifting").textContent());
    console.log(`audit: ${checked} windows checked, ${drifting} drifting`);
    assert.ok(checked > 0, "the audit checked no window");
    assert.equal(drifting, 0);
    await page.screenshot({ path: join(screenshotDir, "desktop.png"), fullPage: true });
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.screenshot({ path: join(screenshotDir, "overview.png") });
  });

  test("the phone layout fits 375 px", async () => {
    const phone = await browser.newPage({ viewport: { width: 375, height: 812 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true });
    const w = watchConsole(phone);
    await phone.goto(base + "/");
    await phone.locator('[data-testid="connection"][data-state="live"]').waitFor({ timeout: 15_000 });
    await phone.locator('[data-testid="proof-summary"]').waitFor({ timeout: 10_000 });
    const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `the page is ${overflow} px wider than the phone`);
    await phone.screenshot({ path: join(screenshotDir, "phone.png"), fullPage: true });
    await phone.screenshot({ path: join(screenshotDir, "phone-top.png") });
    await phone.close();
    assert.deepEqual(w.errors, []);
  });

  test("a restart of counter dev under the open page is survived", async () => {
    await page.evaluate(() => (window.__notReloaded = true));
    const id = videos[3].unique_identifier;
    watch.expectOutage = true;
    const t0 = Date.now();
    await dev.stop("SIGTERM");
    await page.locator('[data-testid="connection"][data-state="reconnecting"]').waitFor({ timeout: 10_000 });
    await startDev();
    await page.locator('[data-testid="connection"][data-state="live"]').waitFor({ timeout: 20_000 });
    console.log(`page live again ${Date.now() - t0} ms after the stop`);
    watch.expectOutage = false;
    assert.match(await page.getByTestId("connection").textContent(), /reconnected/);
    await card(page, id).getByTestId("like10").click();
    await waitFor("the count to move after the restart", async () => (await countsOf(page, id)).some((n) => n === 10), 15_000);
    assert.equal(await page.evaluate(() => window.__notReloaded), true, "the page was reloaded");
  });

  test("no console errors", () => {
    assert.deepEqual(watch.errors, []);
  });
});

const TOKEN = "e2e-admin-token";

describe("multi-process cluster", () => {
  let dir, base, page, watch;
  const workers = {};

  before(async () => {
    dir = await tempDir();
    const [kafkaPort, httpPort] = [await freePort(), await freePort()];
    const brokers = `127.0.0.1:${kafkaPort}`;
    base = `http://127.0.0.1:${httpPort}`;
    const common = ["--windows", WINDOWS, "--partitions", "4"];
    const broker = new Proc(["broker", "--port", String(kafkaPort), "--data-dir", join(dir.dir, "broker"), "--min-session-timeout", "500ms"]);
    await broker.waitLog("broker ready");
    for (const id of ["w0", "w1"]) {
      workers[id] = new Proc(["worker", "--brokers", brokers, "--id", id, "--state-dir", join(dir.dir, id), "--grace", GRACE, "--session-timeout", "2s", ...common]);
    }
    const api = new Proc(["api", "--brokers", brokers, "--http-addr", `127.0.0.1:${httpPort}`, "--grace", GRACE, "--admin-token", TOKEN, ...common]);
    await api.waitLog("API listening", 60_000);
    await Promise.all(Object.values(workers).map((w) => w.waitLog("partitions changed", 60_000)));
    await waitHTTP(`${base}/dev/videos/top`);
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    watch = watchConsole(page);
  });
  after(async () => {
    await page?.close();
    await stopAll();
    await dir?.remove();
  });

  const workerRows = () => page.locator('[data-testid="cluster"] [data-testid="worker"]').evaluateAll((rows) => rows.map((r) => r.getAttribute("data-worker")));

  test("a stopped worker shows in the cluster panel within seconds", async () => {
    await page.goto(base + "/");
    await page.locator('[data-testid="connection"][data-state="live"]').waitFor({ timeout: 15_000 });
    await waitFor("both workers in the cluster panel", async () => JSON.stringify(await workerRows()) === '["w0","w1"]', 20_000);
    const t0 = Date.now();
    await workers.w1.stop("SIGKILL");
    await waitFor("w1 to leave the cluster panel", async () => JSON.stringify(await workerRows()) === '["w0"]', 20_000);
    console.log(`killed worker gone from the panel after ${Date.now() - t0} ms (session timeout 2 s)`);
    // The survivor owns every partition of the partitioned topic.
    await waitFor("w0 to own the 4 partitions", async () => {
      const owns = await page.locator('[data-worker="w0"] td').first().textContent();
      return /partitioned\s*0, 1, 2, 3/.test(owns);
    }, 20_000);
    await page.locator('[data-testid="cluster"]').screenshot({ path: join(screenshotDir, "cluster.png") });
    assert.deepEqual(watch.errors, []);
  });

  test("with --admin-token, adding a video asks for the token, then works", async () => {
    const title = `Added with the token ${process.pid}`;
    watch.allow = /status of 401/;
    await page.getByLabel("New video title").fill(title);
    await page.getByRole("button", { name: "Add video" }).click();
    await page.getByRole("alert").filter({ hasText: "Adding the video failed: this action needs the admin token" }).waitFor({ timeout: 5000 });
    watch.allow = null;
    await page.getByLabel("Admin token", { exact: true }).fill(TOKEN); // the field opened by itself
    await page.getByRole("button", { name: "Save" }).click();
    await page.getByRole("button", { name: "Add video" }).click();
    await page.getByRole("heading", { name: title }).waitFor({ timeout: 10_000 });
    assert.deepEqual(watch.errors, []);
  });
});

function countBy(xs) {
  const m = {};
  for (const x of xs) m[x] = (m[x] ?? 0) + 1;
  return m;
}
