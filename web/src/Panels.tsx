import { useCallback, useEffect, useState } from "react";
import { ApiError, request } from "./api";
import type { AuditReport, ClusterView, ClusterWorker, TopAnswer, WindowCfg } from "./types";
import { clock, range } from "./windows";
import { statusBadge } from "./workerstatus";

/** usePoll calls load now and every period ms while mounted (never two at once). */
function usePoll(load: () => Promise<void>, period: number) {
  useEffect(() => {
    let stopped = false;
    let timer: ReturnType<typeof setTimeout>;
    const tick = async () => {
      await load();
      if (!stopped) timer = setTimeout(tick, period);
    };
    void tick();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, [load, period]);
}

const errText = (err: unknown) => (err instanceof ApiError ? err.message : `Unexpected error: ${String(err)}`);

/** TopPanel lists the most liked videos of the current window. */
export function TopPanel({ stage, windows }: { stage: string; windows: WindowCfg[] }) {
  const [size, setSize] = useState("");
  const [top, setTop] = useState<TopAnswer | null>(null);
  const [error, setError] = useState("");
  const label = size || windows[0]?.label || "";
  const load = useCallback(async () => {
    if (!label) return;
    try {
      setTop(await request<TopAnswer>(stage, `/videos/top?window=${encodeURIComponent(label)}&limit=5`, "Loading the top videos"));
      setError("");
    } catch (err) {
      setError(errText(err));
    }
  }, [stage, label]);
  usePoll(load, 2000);
  return (
    <section className="panel" aria-labelledby="top-h">
      <div className="section-head">
        <h2 id="top-h">Top videos now</h2>
        {windows.length > 1 && (
          <label className="inline">
            <span className="sr-only">Window size of the top list</span>
            <select value={label} onChange={(e) => setSize(e.target.value)}>
              {windows.map((w) => (
                <option key={w.label} value={w.label}>
                  {w.label}
                </option>
              ))}
            </select>
          </label>
        )}
      </div>
      {error && <p className="bad small" role="alert">{error}</p>}
      {top && (
        <>
          <p className="muted small">Window {range(Date.parse(top.window_start), Date.parse(top.window_end))}</p>
          {top.videos.length === 0 ? (
            <p className="muted">No likes in this window yet.</p>
          ) : (
            <ol className="top-list">
              {top.videos.map((v) => (
                <li key={v.video_id}>
                  <span className="ellipsis">{v.title || v.video_id}</span>
                  <span className="num">{v.count}</span>
                </li>
              ))}
            </ol>
          )}
        </>
      )}
    </section>
  );
}

/** ClusterPanel shows the workers of the group and whether each is restoring, refreshed every 1.5 s. */
export function ClusterPanel({ stage }: { stage: string }) {
  const [view, setView] = useState<ClusterView | null>(null);
  const [error, setError] = useState("");
  const [at, setAt] = useState(0);
  const load = useCallback(async () => {
    try {
      setView(await request<ClusterView>(stage, "/cluster", "Loading the cluster view"));
      setAt(Date.now());
      setError("");
    } catch (err) {
      setError(errText(err));
    }
  }, [stage]);
  usePoll(load, 1500);
  return (
    <section className="panel" aria-labelledby="cluster-h" data-testid="cluster">
      <div className="section-head">
        <h2 id="cluster-h">Cluster</h2>
        {at > 0 && <span className="muted small">updated {clock(at)}</span>}
      </div>
      {error && <p className="bad small" role="alert">{error}</p>}
      {view && (
        <>
          <p className="small">
            Group <code>{view.group}</code>: <span data-testid="group-state">{view.state}</span>
            {view.state !== "Stable" && view.state !== "Empty" && view.state !== "Dead" ? " (rebalancing)" : ""} ·{" "}
            <span data-testid="worker-count">{view.workers.length}</span> worker{view.workers.length === 1 ? "" : "s"} · lag{" "}
            <span className="num">{view.total_lag}</span>
          </p>
          {view.workers.length === 0 ? (
            <p className="bad">No worker is running: likes are accepted but not counted until one starts.</p>
          ) : (
            <div className="table-wrap">
              <table className="cluster">
                <thead>
                  <tr>
                    <th scope="col">Worker</th>
                    <th scope="col">Owns</th>
                    <th scope="col">Standby</th>
                    <th scope="col" className="num">
                      Lag
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {view.workers.map((w) => {
                    const lag = Object.values(w.lag).reduce((a, b) => a + b, 0);
                    return (
                      <tr key={w.id} data-testid="worker" data-worker={w.id}>
                        <th scope="row">
                          {w.id}
                          <span className="muted small block">{w.host}</span>
                          <WorkerStatus worker={w} />
                        </th>
                        <td>
                          {Object.entries(w.partitions)
                            .sort(([a], [b]) => a.localeCompare(b))
                            .map(([t, ps]) => (
                              <span key={t} className="block small">
                                <span className="muted">{shortTopic(t)}</span> {ps.join(", ") || "—"}
                              </span>
                            ))}
                        </td>
                        <td className="small">{w.standbys.length ? w.standbys.join(", ") : "—"}</td>
                        <td className="num">{lag}</td>
                      </tr>
                    );
                  })}
                </tbody>
              </table>
            </div>
          )}
        </>
      )}
    </section>
  );
}

/** WorkerStatus is a worker's badge: restoring (with each partition's progress), ready, starting or unknown. */
export function WorkerStatus({ worker }: { worker: ClusterWorker }) {
  const b = statusBadge(worker);
  return (
    <span className={`status status-${b.tone}`} title={b.title} data-testid="worker-status" data-status={b.tone}>
      {b.text}
      <span className="sr-only"> — {b.title}</span>
    </span>
  );
}

function shortTopic(t: string): string {
  if (t === "video_clicks_ingestion") return "ingestion";
  if (t === "video_clicks_partitioned") return "partitioned";
  return t;
}

/** AuditPanel shows the latest independent recount of closed windows, when the server offers it. */
export function AuditPanel({ stage }: { stage: string }) {
  const [report, setReport] = useState<AuditReport | null>(null);
  const [error, setError] = useState("");
  const [offered, setOffered] = useState(true);
  const [busy, setBusy] = useState(false);
  const load = useCallback(async () => {
    setBusy(true);
    try {
      setReport(await request<AuditReport>(stage, "/audit", "The audit"));
      setError("");
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) setOffered(false);
      else setError(errText(err));
    } finally {
      setBusy(false);
    }
  }, [stage]);
  if (!offered) return null;
  return (
    <section className="panel" aria-labelledby="audit-h" data-testid="audit">
      <div className="section-head">
        <h2 id="audit-h">Audit</h2>
        <button type="button" onClick={load} disabled={busy}>
          {busy ? "Recounting…" : report ? "Audit again" : "Run audit"}
        </button>
      </div>
      <p className="muted small">An independent recount of the closed windows from the input topic, compared with their finals (served for a minute).</p>
      {error && <p className="bad small" role="alert">{error}</p>}
      {report && (
        <>
          <dl className="audit-figures">
            <div>
              <dt>Checked</dt>
              <dd className="num" data-testid="audit-checked">{report.windows_checked}</dd>
            </div>
            <div>
              <dt>Matching</dt>
              <dd className="num good">{report.windows_matching}</dd>
            </div>
            <div>
              <dt>Drifting</dt>
              <dd className={`num ${report.windows_drifting ? "bad" : ""}`} data-testid="audit-drifting">
                {report.windows_drifting}
              </dd>
            </div>
          </dl>
          <p className="muted small">
            At {clock(Date.parse(report.at))}, windows {range(Date.parse(report.from), Date.parse(report.to))}, took {report.took_ms} ms
            {report.workers_behind ? `, workers ${report.workers_behind} records behind` : ""}.
          </p>
          {(report.drifts ?? []).slice(0, 10).map((d) => (
            <p key={`${d.video_id}/${d.window}/${d.window_start}`} className="bad small">
              {d.video_id} {d.window} {range(Date.parse(d.window_start), Date.parse(d.window_end))}: expected {d.expected}, counted{" "}
              {d.counted.join(", ") || "nothing"} ({d.kind})
            </p>
          ))}
        </>
      )}
    </section>
  );
}
