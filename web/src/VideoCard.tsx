import { memo, useMemo, useState } from "react";
import { pictureURL } from "./picture";
import type { CountStore } from "./store";
import type { Video, WindowCfg } from "./types";
import { clock, countdown, range, viewOf, type Count } from "./windows";

interface Props {
  video: Video;
  windows: WindowCfg[];
  store: CountStore;
  now: number;
  history: WindowCfg | undefined;
  graceMs: number;
  onLike(id: string, count: number): Promise<void>;
}

/** VideoCard shows one video: picture, title, live counts per window size, like buttons, history. */
export function VideoCard({ video, windows, store, now, history, graceMs, onLike }: Props) {
  const id = video.unique_identifier;
  const [sending, setSending] = useState(0);
  const like = async (n: number) => {
    setSending((s) => s + 1);
    try {
      await onLike(id, n);
    } finally {
      setSending((s) => s - 1);
    }
  };
  return (
    <li className="card" data-testid="video-card" data-video={id}>
      <div className="card-head">
        <Picture id={id} />
        <div className="card-names">
          <h3 className="title" title={video.title}>
            {video.title}
          </h3>
          <p className="vid muted" title={id}>
            {id}
          </p>
        </div>
      </div>
      <div className="card-body">
        <table className="counts">
          <caption className="sr-only">Likes of {video.title} per window</caption>
          <thead>
            <tr>
              <th scope="col">Window</th>
              <th scope="col">Now</th>
              <th scope="col">Last final</th>
            </tr>
          </thead>
          <tbody>
            {windows.map((w) => (
              <SizeRow key={w.label} w={w} windows={store.windows(id, w.label)} knownFrom={store.knownFrom(id, w.label)} now={now} graceMs={graceMs} />
            ))}
          </tbody>
        </table>
        <div className="like-row">
          <button type="button" className="primary" onClick={() => like(1)} aria-label={`Like ${video.title}`} data-testid="like">
            ♥ Like
          </button>
          <button type="button" onClick={() => like(10)} aria-label={`Ten likes for ${video.title}`} data-testid="like10">
            +10
          </button>
          {sending > 0 && <span className="muted small">sending…</span>}
        </div>
        {history && <History windows={store.windows(id, history.label)} label={history.label} title={video.title} />}
      </div>
    </li>
  );
}

const Picture = memo(function Picture({ id }: { id: string }) {
  const src = useMemo(() => pictureURL(id), [id]);
  return <img className="pic" src={src} alt="" width={112} height={63} />;
});

interface RowProps {
  w: WindowCfg;
  windows: readonly Count[];
  knownFrom: number | null;
  now: number;
  graceMs: number;
}

function SizeRow({ w, windows, knownFrom, now, graceMs }: RowProps) {
  const v = viewOf(windows, w.size_ms, now, graceMs, knownFrom);
  const cur = v.current;
  return (
    <tr data-window={w.label}>
      <th scope="row">{w.label}</th>
      <td>
        <span className="count running" data-testid={`now-${w.label}`} data-start={cur.start}>
          {cur.count ?? "?"}
        </span>
        <span className="small muted">closes in {countdown(cur.end - now)}</span>
        <span className="meta">{range(cur.start, cur.end)}</span>
      </td>
      <td>
        {v.lastFinal ? (
          <>
            <span className="count final" data-testid={`final-${w.label}`}>
              ✔ {v.lastFinal.count}
            </span>
            <span className="meta">{range(v.lastFinal.start, v.lastFinal.end)}</span>
          </>
        ) : (
          !v.closing && <span className="muted">—</span>
        )}
        {v.closing && (
          <span className="closing-line" title="This window ended; its final count is on its way" data-testid={`closing-${w.label}`}>
            <span className="count closing">{v.closing.count}</span>
            <span className="small muted">closing {range(v.closing.start, v.closing.end)}</span>
          </span>
        )}
      </td>
    </tr>
  );
}

/** History draws the finals of the recent windows of one size as bars. */
function History({ windows, label, title }: { windows: readonly Count[]; label: string; title: string }) {
  const finals = windows.filter((w) => w.final).slice(-20);
  if (finals.length === 0) {
    return <p className="history-empty muted small">History of {label} finals: none yet</p>;
  }
  const max = Math.max(1, ...finals.map((f) => f.count));
  const W = 200;
  const H = 40;
  const bw = W / 20;
  const last = finals[finals.length - 1];
  return (
    <figure className="history">
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-label={`Finals of the last ${finals.length} ${label} windows of ${title}: ${finals.map((f) => f.count).join(", ")}`}>
        {finals.map((f, i) => {
          const h = Math.max(1, (f.count / max) * (H - 2));
          return (
            <rect key={f.start} x={W - (finals.length - i) * bw + 1} y={H - h} width={bw - 2} height={h} rx={1.5} className="bar">
              <title>{`${clock(f.start)}: ${f.count}`}</title>
            </rect>
          );
        })}
      </svg>
      <figcaption className="small muted">
        {label} finals, max {max}, last {last.count}
      </figcaption>
    </figure>
  );
}
