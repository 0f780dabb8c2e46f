import { useMemo, useState } from "react";
import { request } from "./api";
import { activeRun, currentStep, expectedWindows, markOf, parseLikes, runningSums, type Mark } from "./generator";
import type { CountStore } from "./store";
import type { GeneratorRun, ServerConfig, Video } from "./types";
import { countdown, finalOf, range } from "./windows";

interface Props {
  stage: string;
  config: ServerConfig | null;
  videos: Video[];
  titles: Map<string, string>;
  run: GeneratorRun | null;
  store: CountStore;
  now: number;
  /** The admin token, for starting and canceling runs. */
  token?: string;
  onRun(run: GeneratorRun): void;
  onError(err: unknown): void;
}

/** defaultSteps gives each video a different small schedule to start from. */
function defaultSteps(i: number, steps: number): string[] {
  const base = [3, 1, 4, 1, 5, 9, 2, 6, 5, 3];
  return Array.from({ length: steps }, (_, k) => String(base[(k + i * 3) % base.length]));
}

const MARK_TEXT: Record<Mark, string> = {
  match: "✔ match",
  mismatch: "✘ mismatch",
  open: "open",
  waiting: "waiting for final",
  unseen: "final not seen",
  canceled: "not sent (canceled)",
};

/** GeneratorPanel edits, starts and follows a like generator run, and proves its counts. */
export function GeneratorPanel({ stage, config, videos, titles, run, store, now, token, onRun, onError }: Props) {
  const steps = config?.generator_steps ?? 10;
  const windows = config?.windows ?? [];
  const step = windows[0];
  const [edits, setEdits] = useState<Record<string, string[]>>({});
  const [busy, setBusy] = useState(false);
  const active = activeRun(run);

  const rowOf = (id: string, i: number) => edits[id] ?? defaultSteps(i, steps);
  const setCell = (id: string, i: number, k: number, text: string) =>
    setEdits((e) => {
      const row = (e[id] ?? defaultSteps(i, steps)).slice();
      row[k] = text;
      return { ...e, [id]: row };
    });

  const invalid = videos.some((v, i) => rowOf(v.unique_identifier, i).some((t) => parseLikes(t) === null));
  const send = async () => {
    const body: Record<string, number[]> = {};
    videos.forEach((v, i) => {
      const nums = rowOf(v.unique_identifier, i).map((t) => parseLikes(t) ?? 0);
      if (nums.some((n) => n > 0)) body[v.unique_identifier] = nums;
    });
    if (Object.keys(body).length === 0) {
      onError(new Error("Nothing to send: every number is 0."));
      return;
    }
    setBusy(true);
    try {
      const r = await request<{ run: GeneratorRun }>(
        stage,
        "/generator",
        "Starting the like generator",
        {
          method: "POST",
          body: JSON.stringify({ videos: body }),
        },
        token,
      );
      onRun(r.run);
    } catch (err) {
      onError(err);
    } finally {
      setBusy(false);
    }
  };
  const cancel = async () => {
    setBusy(true);
    try {
      const r = await request<{ run: GeneratorRun }>(stage, "/generator", "Canceling the like generator", { method: "DELETE" }, token);
      onRun(r.run);
    } catch (err) {
      onError(err);
    } finally {
      setBusy(false);
    }
  };

  // Columns of running sums: one per larger size that is a whole number of steps.
  const sums = step ? windows.slice(1).filter((w) => w.size_ms % step.size_ms === 0) : [];

  return (
    <section className="generator" aria-labelledby="gen-h">
      <div className="section-head">
        <h2 id="gen-h">Like generator</h2>
        {step && (
          <p className="muted small">
            A step is one {step.label} window: the server sends each step's likes during that window. Σ columns: likes expected per{" "}
            {sums.map((w) => `${w.label} (${w.size_ms / step.size_ms} steps)`).join(", ") || "larger window"}.
          </p>
        )}
      </div>
      <div className="gen-grid">
        {videos.map((v, i) => {
          const id = v.unique_identifier;
          const row = rowOf(id, i);
          const nums = row.map((t) => parseLikes(t) ?? 0);
          return (
            <fieldset key={id} className="gen-video" data-testid="gen-row" data-video={id} disabled={active || busy}>
              <legend>{v.title}</legend>
              <div className="steps">
                {row.map((t, k) => (
                  <div key={k} className="step">
                    <label htmlFor={`gen-${id}-${k}`} className="step-label">
                      {k + 1}
                    </label>
                    <input
                      id={`gen-${id}-${k}`}
                      type="number"
                      inputMode="numeric"
                      min={0}
                      max={10000}
                      value={t}
                      aria-label={`Likes in step ${k + 1} for ${v.title}`}
                      aria-invalid={parseLikes(t) === null}
                      onChange={(e) => setCell(id, i, k, e.target.value)}
                    />
                    {sums.map((w) => (
                      <span key={w.label} className="sum" title={`Likes so far in this ${w.label} window`}>
                        Σ{w.label} {runningSums(nums, w.size_ms / step.size_ms)[k]}
                      </span>
                    ))}
                  </div>
                ))}
              </div>
            </fieldset>
          );
        })}
      </div>
      <div className="gen-actions">
        <button type="button" className="primary" onClick={send} disabled={active || busy || invalid || videos.length === 0} data-testid="gen-send">
          {active ? "Wait — running" : "Send likes"}
        </button>
        <button type="button" onClick={cancel} disabled={!active || busy} data-testid="gen-cancel">
          Cancel run
        </button>
        {invalid && <span className="bad small">Each number must be a whole number from 0 to 10000.</span>}
      </div>
      {run && <RunView run={run} config={config} titles={titles} store={store} now={now} />}
    </section>
  );
}

function RunView({ run, config, titles, store, now }: { run: GeneratorRun; config: ServerConfig | null; titles: Map<string, string>; store: CountStore; now: number }) {
  const windows = config?.windows ?? [];
  const expected = useMemo(() => expectedWindows(run, windows), [run, windows]);
  const start = Date.parse(run.start);
  const end = Date.parse(run.end);
  const step = currentStep(run, now);
  const rows = expected.map((w) => {
    const final = finalOf(store.windows(w.video, w.label), w.sizeMs, w.start, now, config?.grace_ms ?? 0, store.knownFrom(w.video, w.label)) ?? undefined;
    // A canceled run stopped sending during the step after its last done one:
    // the windows from there on did not get their likes.
    const cut = run.state === "canceled" && w.end > start + run.steps_done * run.step_ms;
    const mark: Mark = cut ? "canceled" : markOf(w, final, now, config?.grace_ms ?? 0);
    return { w, final, mark };
  });
  const done = rows.filter((r) => r.mark === "match" || r.mark === "mismatch");
  const matching = done.filter((r) => r.mark === "match").length;
  const allDone = rows.length > 0 && rows.every((r) => r.mark !== "open" && r.mark !== "waiting");
  return (
    <div className="run" data-testid="gen-run" data-state={run.state}>
      <h3>
        Run <code>{run.id.slice(0, 8)}</code>: <span className={`state state-${run.state}`}>{run.state}</span>
      </h3>
      <p className="progress-line">
        {run.state === "scheduled" && now < start ? (
          <>Starts in {countdown(start - now)} (at {range(start, end).split("–")[0]}).</>
        ) : (
          <>
            Step {Math.min(Math.max(run.steps_done, step), run.steps)} of {run.steps}
          </>
        )}{" "}
        · <span data-testid="gen-sent">{run.likes_sent}</span> of {run.likes_total} likes sent · {run.likes_skipped} skipped
        {run.runner ? <> · runner {run.runner}</> : null}
      </p>
      <progress max={run.likes_total || 1} value={run.likes_sent} aria-label="Likes sent by the generator" />
      <p className="proof-summary" data-testid="proof-summary" data-matching={matching} data-mismatching={done.length - matching} data-total={rows.length} data-complete={allDone}>
        {matching} of {rows.length} windows match{done.length - matching > 0 ? `, ${done.length - matching} do not` : ""}
        {allDone ? (matching === rows.length ? " — every like counted exactly once." : ".") : " so far."}
      </p>
      <div className="table-wrap">
        <table className="proof">
          <caption className="sr-only">Expected likes against counted finals, per window</caption>
          <thead>
            <tr>
              <th scope="col">Video</th>
              <th scope="col">Window</th>
              <th scope="col">Time</th>
              <th scope="col" className="num">
                Expected
              </th>
              <th scope="col" className="num">
                Counted
              </th>
              <th scope="col">Check</th>
            </tr>
          </thead>
          <tbody>
            {rows.map(({ w, final, mark }) => (
              <tr key={`${w.video}/${w.label}/${w.start}`} data-testid="proof-row" data-mark={mark}>
                <td className="ellipsis">{titles.get(w.video) ?? w.video}</td>
                <td>{w.label}</td>
                <td>
                  {range(w.start, w.end)}
                  {w.partial && (
                    <span className="muted small" title="The window also covers time outside the run: other likes of the video count in it too">
                      {" "}
                      (partial)
                    </span>
                  )}
                </td>
                <td className="num">{w.expected}</td>
                <td className="num">{final ? final.count : "—"}</td>
                <td>
                  <span className={`mark mark-${mark}`}>{MARK_TEXT[mark]}</span>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </div>
  );
}
