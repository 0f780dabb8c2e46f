import { useCallback, useEffect, useMemo, useRef, useState, useSyncExternalStore } from "react";
import { io } from "socket.io-client";
import { ApiError, loadToken, pageStage, request, saveToken } from "./api";
import { AuditPanel, ClusterPanel, TopPanel } from "./Panels";
import { GeneratorPanel } from "./Generator";
import { LiveConnection, type Status } from "./live";
import { CountStore } from "./store";
import type { CountsAnswer, GeneratorRun, ServerConfig, Video } from "./types";
import { VideoCard } from "./VideoCard";

/** Videos shown at first, and added or removed by "show more" / "show fewer". */
export const PAGE = 6;

/** fewer is the number of videos "show fewer" leaves: the previous multiple of PAGE, then halves. */
export function fewer(shown: number): number {
  return shown > PAGE ? Math.ceil(shown / PAGE) * PAGE - PAGE : Math.max(1, Math.floor(shown / 2));
}

interface Notice {
  id: number;
  text: string;
}

/** useNow returns the time, refreshed every period ms (with the server's clock offset). */
function useNow(period: number, offset: number): number {
  const [now, setNow] = useState(() => Date.now() + offset);
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now() + offset), period);
    return () => clearInterval(t);
  }, [period, offset]);
  return now;
}

/** clockOffset estimates the server's clock minus ours from a response's Date header (whole seconds: small offsets are ignored). */
function clockOffset(res: Response, sent: number): number {
  const d = Date.parse(res.headers.get("Date") ?? "");
  if (Number.isNaN(d)) return 0;
  const off = d + 500 - (sent + Date.now()) / 2;
  return Math.abs(off) > 2000 ? Math.round(off) : 0;
}

export function App() {
  const stage = useMemo(() => pageStage(), []);
  const store = useMemo(() => new CountStore(), []);
  useSyncExternalStore(store.subscribe, store.getVersion);
  const [config, setConfig] = useState<ServerConfig | null>(null);
  const [videos, setVideos] = useState<Video[] | null>(null);
  const [shown, setShown] = useState(PAGE);
  const [run, setRun] = useState<GeneratorRun | null>(null);
  const [status, setStatus] = useState<Status>({ state: "connecting", connections: 0, attempts: 0 });
  const [notices, setNotices] = useState<Notice[]>([]);
  const [offset, setOffset] = useState(0);
  const [historySize, setHistorySize] = useState<string>("");
  const now = useNow(250, offset);
  useEffect(() => {
    store.now = () => Date.now() + offset;
  }, [store, offset]);
  const live = useRef<LiveConnection | null>(null);
  const noticeSeq = useRef(0);
  const [token, setToken] = useState(loadToken);
  const [tokenOpen, setTokenOpen] = useState(false);

  const report = useCallback((err: unknown) => {
    if (err instanceof ApiError && (err.status === 401 || err.status === 403)) setTokenOpen(true);
    const text = err instanceof ApiError ? err.message : `Unexpected error: ${(err as Error)?.message ?? String(err)}`;
    setNotices((ns) => (ns.some((n) => n.text === text) ? ns : [...ns.slice(-4), { id: ++noticeSeq.current, text }]));
  }, []);

  const loadConfig = useCallback(async () => {
    const sent = Date.now();
    try {
      const res = await fetch(`/${encodeURIComponent(stage)}/config`);
      if (!res.ok) throw new ApiError(`Loading the server's settings failed (HTTP ${res.status}).`, res.status);
      const cfg = (await res.json()) as ServerConfig;
      setOffset(clockOffset(res, sent));
      setConfig((old) => (old && JSON.stringify(old) === JSON.stringify(cfg) ? old : cfg));
    } catch (err) {
      report(err instanceof ApiError ? err : new ApiError(`Loading the server's settings failed: the server cannot be reached (${(err as Error).message}).`, 0));
    }
  }, [stage, report]);

  const loadVideos = useCallback(async () => {
    try {
      setVideos(await request<Video[]>(stage, "/videos/metadata", "Loading the videos"));
    } catch (err) {
      report(err);
    }
  }, [stage, report]);

  const loadRun = useCallback(async () => {
    try {
      const r = await request<{ run: GeneratorRun | null }>(stage, "/generator", "Loading the like generator");
      setRun(r.run);
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 404)) report(err);
    }
  }, [stage, report]);

  // The live connection, made once.
  useEffect(() => {
    const socket = io({ path: "/socket.io/", reconnectionDelay: 500, reconnectionDelayMax: 2000, timeout: 5000 });
    const conn = new LiveConnection(socket, {
      count: (w, p) => store.add(w, p),
      generator: (r) => setRun(r as GeneratorRun),
      status: (s) => {
        setStatus(s);
        if (s.state !== "live") store.unknownAll();
      },
      refused: (msg) => report(new ApiError(msg, 400)),
      connected: () => {
        // The server may have restarted with other settings or videos.
        void loadConfig();
        void loadVideos();
      },
    });
    live.current = conn;
    void loadRun();
    return () => conn.close();
  }, [store, report, loadConfig, loadVideos, loadRun]);

  useEffect(() => {
    if (config) live.current?.setWindows(config.windows);
  }, [config]);

  const visible = useMemo(() => (videos ?? []).slice(0, shown), [videos, shown]);
  const runVideos = useMemo(() => Object.keys(run?.videos ?? {}), [run]);
  useEffect(() => {
    live.current?.setRooms(new Set([...visible.map((v) => v.unique_identifier), ...runVideos]));
  }, [visible, runVideos]);

  // The last closed window of each video on screen, from the counts route:
  // the live snapshot has only the current windows.
  const pastLoaded = useRef(new Set<string>());
  useEffect(() => {
    if (!config || status.state !== "live") return;
    const byLabel = new Map(config.windows.map((w) => [w.label, w]));
    for (const v of visible) {
      const id = v.unique_identifier;
      if (pastLoaded.current.has(id)) continue;
      pastLoaded.current.add(id);
      void (async () => {
        for (let attempt = 1; ; attempt++) {
          try {
            const c = await request<CountsAnswer>(stage, `/videos/${encodeURIComponent(id)}/counts`, `Loading the counts of ${v.title}`);
            for (const w of c.windows) {
              const size = byLabel.get(w.window);
              if (size && w.last_closed) store.addPast(size, { id, ...w.last_closed });
            }
            return;
          } catch (err) {
            // The live view answers 503 for a moment after a start.
            if (err instanceof ApiError && err.status === 503 && attempt < 10) {
              await new Promise((r) => setTimeout(r, 1000));
              continue;
            }
            pastLoaded.current.delete(id);
            report(err);
            return;
          }
        }
      })();
    }
  }, [visible, config, status.state, stage, store, report]);

  const titles = useMemo(() => new Map((videos ?? []).map((v) => [v.unique_identifier, v.title])), [videos]);
  const windows = config?.windows ?? [];
  const history = windows.find((w) => w.label === historySize) ?? windows[0];

  const like = useCallback(
    async (id: string, count: number) => {
      try {
        await request(stage, `/videos/${encodeURIComponent(id)}/likes`, "Sending the like", {
          method: "POST",
          body: JSON.stringify({ count }),
        });
      } catch (err) {
        report(err);
      }
    },
    [stage, report],
  );

  const [title, setTitle] = useState("");
  const [adding, setAdding] = useState(false);
  const addVideo = async (e: React.FormEvent) => {
    e.preventDefault();
    const t = title.trim();
    if (!t) return;
    setAdding(true);
    try {
      const v = await request<Video>(stage, "/videos", "Adding the video", { method: "POST", body: JSON.stringify({ title: t }) }, token);
      setTitle("");
      setVideos((vs) => {
        const list = (vs ?? []).filter((x) => x.unique_identifier !== v.unique_identifier);
        return [...list, v];
      });
      setShown((n) => Math.max(n, (videos?.length ?? 0) + 1));
    } catch (err) {
      report(err);
    } finally {
      setAdding(false);
    }
  };

  const total = videos?.length ?? 0;
  return (
    <div className="app">
      <header className="top">
        <div className="brand">
          <h1>counter</h1>
          <p className="sub">Likes per video in tumbling windows, counted exactly once</p>
        </div>
        <div className="top-right">
          <AdminToken
            token={token}
            open={tokenOpen}
            onToggle={setTokenOpen}
            onSave={(t) => {
              saveToken(t);
              setToken(t);
            }}
          />
          <ConnectionBadge status={status} />
        </div>
      </header>
      {windows.length > 0 && (
        <p className="windows-line">
          Windows: {windows.map((w) => w.label).join(", ")} · grace {Math.round((config?.grace_ms ?? 0) / 100) / 10} s · stage <code>{stage}</code>
        </p>
      )}
      {notices.length > 0 && (
        <section className="notices" aria-label="Errors" aria-live="polite">
          {notices.map((n) => (
            <div key={n.id} className="notice" role="alert">
              <span>{n.text}</span>
              <button type="button" className="ghost" onClick={() => setNotices((ns) => ns.filter((x) => x.id !== n.id))}>
                Dismiss
              </button>
            </div>
          ))}
        </section>
      )}
      <main className="layout">
        <section className="videos" aria-labelledby="videos-h">
          <div className="section-head">
            <h2 id="videos-h">Videos</h2>
            {windows.length > 1 && (
              <label className="inline">
                History of{" "}
                <select value={history?.label ?? ""} onChange={(e) => setHistorySize(e.target.value)}>
                  {windows.map((w) => (
                    <option key={w.label} value={w.label}>
                      {w.label} windows
                    </option>
                  ))}
                </select>
              </label>
            )}
          </div>
          {videos === null && <p className="muted">Loading the videos…</p>}
          <ul className="cards" data-testid="cards">
            {visible.map((v) => (
              <VideoCard key={v.unique_identifier} video={v} windows={windows} store={store} now={now} history={history} graceMs={config?.grace_ms ?? 0} onLike={like} />
            ))}
          </ul>
          <div className="more">
            <span className="muted" aria-live="polite">
              Showing {Math.min(shown, total)} of {total}
            </span>
            <button type="button" onClick={() => setShown((n) => n + PAGE)} disabled={shown >= total}>
              Show more
            </button>
            <button type="button" onClick={() => setShown((n) => fewer(Math.min(n, total)))} disabled={Math.min(shown, total) <= 1}>
              Show fewer
            </button>
          </div>
          <form className="add" onSubmit={addVideo}>
            <label htmlFor="new-title">New video title</label>
            <input id="new-title" value={title} maxLength={200} onChange={(e) => setTitle(e.target.value)} placeholder="My video" />
            <button type="submit" disabled={adding || !title.trim()}>
              {adding ? "Adding…" : "Add video"}
            </button>
          </form>
        </section>
        <aside className="side">
          <TopPanel stage={stage} windows={windows} />
          <ClusterPanel stage={stage} />
          <AuditPanel stage={stage} />
        </aside>
        <GeneratorPanel
          stage={stage}
          config={config}
          videos={visible}
          titles={titles}
          run={run}
          store={store}
          now={now}
          token={token}
          onRun={setRun}
          onError={report}
        />
      </main>
      <footer className="foot muted">
        Counts arrive live over Socket.IO; a final (✔) is the window's closed count. The API: <code>/{stage}/videos/metadata</code>,{" "}
        <code>/{stage}/config</code>, <code>/metrics</code>.
      </footer>
    </div>
  );
}

/**
 * AdminToken keeps the admin token that adding videos and running the
 * generator need when the server has one (--admin-token), for this tab only.
 */
function AdminToken({ token, open, onToggle, onSave }: { token: string; open: boolean; onToggle(open: boolean): void; onSave(t: string): void }) {
  const [draft, setDraft] = useState(token);
  useEffect(() => setDraft(token), [token]);
  return (
    <details className="token" open={open} onToggle={(e) => onToggle((e.target as HTMLDetailsElement).open)}>
      <summary>Admin token{token ? " (set)" : ""}</summary>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          onSave(draft.trim());
          onToggle(false);
        }}
      >
        <label htmlFor="admin-token">Admin token</label>
        <input id="admin-token" type="password" autoComplete="off" value={draft} onChange={(e) => setDraft(e.target.value)} />
        <button type="submit">Save</button>
        {token && (
          <button type="button" onClick={() => onSave("")}>
            Forget
          </button>
        )}
        <p className="small muted">Needed to add videos and run the generator when the server has one. Kept in this tab only.</p>
      </form>
    </details>
  );
}

function ConnectionBadge({ status }: { status: Status }) {
  const text =
    status.state === "live"
      ? status.connections > 1
        ? `Live (reconnected ${status.connections - 1}×)`
        : "Live"
      : status.state === "connecting"
        ? "Connecting…"
        : `Reconnecting${status.attempts ? ` (attempt ${status.attempts + 1})` : ""}…`;
  return (
    <div className={`badge badge-${status.state}`} role="status" aria-live="polite" data-testid="connection" data-state={status.state}>
      <span className="dot" aria-hidden="true" />
      <span>{text}</span>
      {status.state !== "live" && status.reason && <span className="reason">{status.reason}</span>}
    </div>
  );
}
