import type { ClusterWorker } from "./types";

/** A worker's status as the cluster panel shows it: a short text and its tone. */
export interface StatusBadge {
  text: string;
  /** the badge's style: restoring (busy), ready (good), starting, unknown (muted) */
  tone: "restoring" | "ready" | "starting" | "unknown";
  /** a longer explanation, for the tooltip and screen readers */
  title: string;
}

/** The partitions named one by one in a badge; more are summed up. */
const MAX_NAMED = 3;

const percent = (restored: number, total: number) => (total > 0 ? `${Math.floor((100 * restored) / total)}%` : "loading");

/**
 * statusBadge words a worker's status: "restoring p3 42%" (one entry per
 * partition, up to three; "restoring 5 partitions 37%" beyond), "ready",
 * "starting", or "status unknown" when the server has no fresh status (or is
 * older than the status topic). Unknown is never shown as restoring.
 */
export function statusBadge(w: ClusterWorker): StatusBadge {
  const restore = w.restore ?? [];
  if (w.status === "restoring" && restore.length > 0) {
    const detail = restore.map((r) => `partition ${r.partition}: ${r.restored} of ${r.total} changelog records`).join("; ");
    let text: string;
    if (restore.length <= MAX_NAMED) {
      text = "restoring " + restore.map((r) => `p${r.partition} ${percent(r.restored, r.total)}`).join(", ");
    } else {
      const restored = restore.reduce((a, r) => a + r.restored, 0);
      const total = restore.reduce((a, r) => a + r.total, 0);
      text = `restoring ${restore.length} partitions ${percent(restored, total)}`;
    }
    return { text, tone: "restoring", title: `Restoring its state from the changelog: ${detail}` };
  }
  switch (w.status) {
    case "ready":
      return { text: "ready", tone: "ready", title: "Restored the state of every partition it owns" };
    case "starting":
      return { text: "starting", tone: "starting", title: "Joining the group; not ready yet" };
    default:
      return { text: "status unknown", tone: "unknown", title: "No recent status from this worker" };
  }
}
