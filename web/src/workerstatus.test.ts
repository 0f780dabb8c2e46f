import { describe, expect, test } from "vitest";
import type { ClusterWorker } from "./types";
import { statusBadge } from "./workerstatus";

const worker = (extra: Partial<ClusterWorker>): ClusterWorker => ({ id: "w1", host: "h", partitions: {}, standbys: [], lag: {}, ...extra });

describe("statusBadge", () => {
  test("a restoring worker shows each partition's progress", () => {
    const b = statusBadge(worker({ status: "restoring", restoring: true, restore: [{ partition: 3, restored: 42, total: 100 }] }));
    expect(b).toMatchObject({ text: "restoring p3 42%", tone: "restoring" });
    expect(b.title).toContain("partition 3: 42 of 100 changelog records");
    expect(
      statusBadge(
        worker({
          status: "restoring",
          restore: [
            { partition: 0, restored: 999, total: 1000 },
            { partition: 5, restored: 0, total: 0 },
          ],
        }),
      ).text,
    ).toBe("restoring p0 99%, p5 loading");
  });

  test("many partitions are summed up", () => {
    const restore = [0, 1, 2, 3, 4].map((p) => ({ partition: p, restored: p * 10, total: 100 }));
    expect(statusBadge(worker({ status: "restoring", restore })).text).toBe("restoring 5 partitions 20%");
  });

  test("ready, starting, and unknown — never restoring without a fresh status", () => {
    expect(statusBadge(worker({ status: "ready", restore: [] }))).toMatchObject({ text: "ready", tone: "ready" });
    expect(statusBadge(worker({ status: "starting", restore: [] }))).toMatchObject({ text: "starting", tone: "starting" });
    expect(statusBadge(worker({ status: "unknown", restore: [] }))).toMatchObject({ text: "status unknown", tone: "unknown" });
    // A server older than the status topic sends no status at all.
    expect(statusBadge(worker({})).tone).toBe("unknown");
  });
});
