// Shapes of the server's answers (README: HTTP API, Socket.IO).

/** One configured window size (GET /{stage}/config). */
export interface WindowCfg {
  label: string;
  size_ms: number;
  consume_event: string;
  live_event: string;
}

/** GET /{stage}/config. */
export interface ServerConfig {
  stage: string;
  windows: WindowCfg[];
  grace_ms: number;
  generator_steps: number;
}

/** An entry of GET /{stage}/videos/metadata. */
export interface Video {
  unique_identifier: string;
  title: string;
}

/** A like generator run (GET /{stage}/generator, generator_progress). */
export interface GeneratorRun {
  id: string;
  state: "scheduled" | "running" | "done" | "canceled" | "expired" | string;
  step_ms: number;
  steps: number;
  start: string;
  end: string;
  created_at: string;
  steps_done: number;
  likes_total: number;
  likes_sent: number;
  likes_skipped: number;
  runner?: string;
  videos: Record<string, number[]>;
}

/** The restore of one partition, in a worker of GET /{stage}/cluster. */
export interface RestoreProgress {
  partition: number;
  /** changelog records replayed so far */
  restored: number;
  /** changelog records to replay; 0 when there are none (the state is loading from the local store) */
  total: number;
}

/** A worker's status: see WorkerStatus in Panels.tsx. */
export type WorkerStatusName = "ready" | "restoring" | "starting" | "unknown";

/** A worker of GET /{stage}/cluster. */
export interface ClusterWorker {
  id: string;
  instance_id?: string;
  host: string;
  partitions: Record<string, number[]>;
  standbys: number[];
  lag: Record<string, number>;
  /** absent from servers older than the status topic */
  status?: WorkerStatusName;
  restoring?: boolean;
  restore?: RestoreProgress[];
  status_at?: string;
}

/** GET /{stage}/cluster. */
export interface ClusterView {
  group: string;
  state: string;
  workers: ClusterWorker[];
  total_lag: number;
}

/** A drift of GET /{stage}/audit. */
export interface AuditDrift {
  video_id: string;
  window: string;
  window_start: string;
  window_end: string;
  expected: number;
  counted: number[];
  kind: string;
}

/** GET /{stage}/audit. */
export interface AuditReport {
  at: string;
  from: string;
  to: string;
  windows: string[];
  windows_checked: number;
  windows_matching: number;
  windows_drifting: number;
  drifts: AuditDrift[] | null;
  workers_behind: number;
  took_ms: number;
}

/** GET /{stage}/videos/top. */
export interface TopAnswer {
  window: string;
  window_start: string;
  window_end: string;
  videos: { video_id: string; title?: string; count: number }[];
}

/** A window of GET /{stage}/videos/{id}/counts. */
export interface CountsWindow {
  window_start: string;
  window_end: string;
  count: number;
  final: boolean;
}

/** GET /{stage}/videos/{id}/counts. */
export interface CountsAnswer {
  video_id: string;
  title?: string;
  windows: { window: string; size_ms: number; current: CountsWindow; last_closed: CountsWindow | null }[];
}
