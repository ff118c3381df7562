// The run service's REST routes and its WebSocket, with Jupyter's
// authentication and XSRF handled by ServerConnection.

import { URLExt } from "@jupyterlab/coreutils";
import { ServerConnection } from "@jupyterlab/services";
import type { Graph } from "@symphony-lab/widgets/dag_canvas";

export type Status = "queued" | "running" | "done" | "failed" | "cancelled" | "interrupted";
export const FINISHED: ReadonlySet<Status> = new Set(["done", "failed", "cancelled", "interrupted"]);

export type Row = Record<string, number | null>;
export type SummaryRow = Record<string, string | number | null>;

export interface Progress {
  train: Row | null;
  evals: Record<string, SummaryRow[]>;
}

export interface RunRecord {
  id: string;
  kind: "train" | "eval";
  params: Record<string, unknown>;
  status: Status;
  created: number;
  started: number | null;
  ended: number | null;
  pid: number | null;
  error: string;
  provenance: Record<string, unknown>;
  resumed_from: string | null;
  progress?: Progress;
  /** Checkpoint file names (checkpoints/...), oldest first. */
  checkpoints?: string[];
}

export type RunEvent = Record<string, unknown> & { type: string };

export type StreamMessage =
  | { type: "event"; line: number; event: RunEvent }
  | { type: "status"; status: Status; error: string }
  | { type: "end"; status: Status; error: string };

export class ApiError extends Error {}

/** One request to `/symphony/api/<path>`; a JSON error becomes an ApiError with its message. */
export async function request<T>(path: string, init: RequestInit = {}): Promise<T> {
  const settings = ServerConnection.makeSettings();
  const url = URLExt.join(settings.baseUrl, "symphony", "api", path);
  let response: Response;
  try {
    response = await ServerConnection.makeRequest(url, init, settings);
  } catch (e) {
    throw new ApiError(`the Jupyter server did not answer: ${String(e)}`);
  }
  const text = await response.text();
  let data: unknown = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    throw new ApiError(`${response.status}: ${text.slice(0, 200)}`);
  }
  if (!response.ok) {
    const message = (data as { message?: string } | null)?.message;
    throw new ApiError(message || `${response.status} ${response.statusText}`);
  }
  return data as T;
}

export const listRuns = () => request<{ runs: RunRecord[] }>("runs").then((r) => r.runs);
export const getRun = (id: string) => request<RunRecord>(`runs/${encodeURIComponent(id)}`);
export const startRun = (kind: "train" | "eval", params: Record<string, unknown>) =>
  request<RunRecord>("runs", { method: "POST", body: JSON.stringify({ kind, params }) });
export const cancelRun = (id: string) =>
  request<RunRecord>(`runs/${encodeURIComponent(id)}/cancel`, { method: "POST" });
export const resumeRun = (id: string) =>
  request<RunRecord>(`runs/${encodeURIComponent(id)}/resume`, { method: "POST" });
export const runLogs = (id: string, tail = 20000) =>
  request<{ log: string }>(`runs/${encodeURIComponent(id)}/logs?tail=${tail}`).then((r) => r.log);

/** Follows a run's events: the history from line `start`, then the live tail, each once. */
export function openStream(id: string, start: number, onMessage: (m: StreamMessage) => void): WebSocket {
  const settings = ServerConnection.makeSettings();
  let url = URLExt.join(settings.wsUrl, "symphony", "api", "runs", encodeURIComponent(id), "stream");
  url += `?start=${start}`;
  if (settings.token && settings.appendToken) url += `&token=${encodeURIComponent(settings.token)}`;
  const socket = new settings.WebSocket(url);
  socket.onmessage = (e: MessageEvent) => onMessage(JSON.parse(String(e.data)) as StreamMessage);
  return socket;
}

/** "3 min ago", "2 h", as a list of runs reads them. */
export function ago(seconds: number | null): string {
  if (seconds === null) return "";
  const s = Math.max(0, Date.now() / 1000 - seconds);
  if (s < 60) return `${Math.round(s)} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${(s / 3600).toFixed(1)} h ago`;
  return `${(s / 86400).toFixed(1)} d ago`;
}

export interface ArtifactItem {
  hash: string;
  size: number;
  kind: string | null;
  media_type: string | null;
  producer: string | null;
  created: number;
  name: string | null;
  version: number | null;
  pinned: boolean;
}

export interface ArtifactPage {
  store: string;
  exists: boolean;
  total: number;
  items: ArtifactItem[];
}

export interface SearchHit {
  hash: string;
  score: number;
  kind: string | null;
  media_type: string | null;
  names: string[];
}

export interface ArtifactDetail extends ArtifactItem {
  stored_size: number;
  encoding: string;
  quality: number | null;
  accessed: number;
  access_count: number;
  inline: boolean;
  inputs: string[];
  tags: string[];
  pin_reason: string | null;
  lineage: [string, string][];
}

const query = (params: Record<string, string | number | null | undefined>) =>
  Object.entries(params)
    .filter(([, v]) => v !== null && v !== undefined && v !== "")
    .map(([k, v]) => `${k}=${encodeURIComponent(String(v))}`)
    .join("&");

export const artifactPage = (offset: number, limit: number, kind?: string) =>
  request<ArtifactPage>(`artifacts?${query({ offset, limit, kind })}`);
export const searchArtifacts = (q: string, limit = 50, kind?: string) =>
  request<{ hits: SearchHit[] }>(`artifacts/search?${query({ q, limit, kind })}`).then((r) => r.hits);
export const artifactDetail = (hash: string) => request<ArtifactDetail>(`artifacts/${hash}`);
export const pinArtifact = (hash: string, reason?: string) =>
  request<unknown>(`artifacts/${hash}/pin`, { method: "POST", body: JSON.stringify({ reason: reason ?? null }) });
export const unpinArtifact = (hash: string) => request<unknown>(`artifacts/${hash}/unpin`, { method: "POST" });

/** An artifact's bytes (the first `maxBytes`), with Jupyter's authentication. */
export async function artifactContent(hash: string, maxBytes?: number): Promise<{ blob: Blob; size: number; type: string }> {
  const settings = ServerConnection.makeSettings();
  const url = URLExt.join(settings.baseUrl, "symphony", "api", "artifacts", hash, "content") + (maxBytes ? `?max_bytes=${maxBytes}` : "");
  const response = await ServerConnection.makeRequest(url, {}, settings);
  if (!response.ok) throw new ApiError(`${response.status}: ${(await response.text()).slice(0, 200)}`);
  return {
    blob: await response.blob(),
    size: Number(response.headers.get("X-Artifact-Size") ?? 0),
    type: response.headers.get("X-Artifact-Media-Type") ?? response.headers.get("Content-Type") ?? "",
  };
}

export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let v = n;
  let i = -1;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i += 1;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

export interface ExtensionFunction {
  name: string;
  description: string;
  inputs: Record<string, string>;
  outputs: string[];
  side_effects: string[];
  deterministic: boolean;
  cost: number;
}

export interface InstalledExtension {
  name: string;
  distribution?: string;
  state: string;
  restarts?: number;
  /** What the kernel enforces around it, once started ("sandbox: ..." or "sandbox DEGRADED, ..."). */
  sandbox?: string;
  error?: string;
  missing?: string[];
  manifest?: {
    name: string;
    version: string;
    kind: string;
    description: string;
    functions: ExtensionFunction[];
    permissions: Record<string, unknown>;
    resources: Record<string, unknown>;
  };
}

export const listExtensions = () =>
  request<{ extensions: InstalledExtension[] }>("extensions").then((r) => r.extensions);
export const startExtension = (name: string) =>
  request<InstalledExtension>(`extensions/${encodeURIComponent(name)}/start`, { method: "POST" });
export const stopExtension = (name: string) =>
  request<InstalledExtension>(`extensions/${encodeURIComponent(name)}/stop`, { method: "POST" });

// Orchestra Kit in the server: the marketplace's search, reviews and install jobs.

export interface KitHit {
  name: string;
  version: string;
  description: string;
  score: number;
  registries: string[];
  installed: string | null;
}

export interface KitInstalled {
  name: string;
  version: string;
  previous: string | null;
  key_id: string | null;
  sha256: string;
  newest: string;
  permissions: string[];
}

export interface KitReview {
  name: string;
  version: string;
  installed: string | null;
  origin: string;
  key_id: string | null;
  permissions: string[];
  widened: boolean;
  text: string;
}

export interface KitJob {
  id: string;
  targets: string[];
  upgrade: boolean;
  state: "running" | "done" | "failed";
  total: number;
  steps: { step: string; package: string }[];
  changes: string[];
  error: string | null;
}

const post = (body: unknown): RequestInit => ({ method: "POST", body: JSON.stringify(body) });

export const kitSearch = (q: string) =>
  request<{ hits: KitHit[]; errors: string[] }>(`kit/search?q=${encodeURIComponent(q)}`);
export const kitInstalled = () => request<{ installed: KitInstalled[]; errors: string[] }>("kit/installed");
export const kitReview = (targets: string[], upgrade: boolean) =>
  request<{ changes: KitReview[] }>("kit/review", post({ targets, upgrade })).then((r) => r.changes);
export const kitStart = (targets: string[], upgrade: boolean, accept: string[]) =>
  request<KitJob>("kit/jobs", post({ targets, upgrade, accept }));
export const kitJob = (id: string) => request<KitJob>(`kit/jobs/${encodeURIComponent(id)}`);
export const kitRollback = (name: string) =>
  request<{ name: string; version: string }>(`kit/installed/${encodeURIComponent(name)}/rollback`, { method: "POST" });
export const kitUninstall = (name: string) =>
  request<{ name: string }>(`kit/installed/${encodeURIComponent(name)}/uninstall`, { method: "POST" });

export const runEvents = (id: string, start = 0) =>
  request<{ events: RunEvent[]; next: number }>(`runs/${encodeURIComponent(id)}/events?start=${start}`);

export interface QuestLevelRow {
  index: number;
  id: string;
  title: string;
  difficulty: string;
  functions: number;
  flaky: boolean;
}

/** A level drawn as the DAG canvas draws (its Graph), with which nodes are functions. */
export interface QuestGraph extends Graph {
  functions: string[];
}

export interface QuestLevel {
  pack: string;
  index: number;
  level: { id: string; title: string; story: string; budget: number; goals: { kind: string; importance: string; reward: number }[] };
  graph: QuestGraph;
  plan: { calls: string[]; cost: number; bonus: number } | null;
  plan_note: string;
}

export interface QuestGame {
  game: string;
  held: string[];
  callable: string[];
  calls: { call: string; failed: boolean; reward: number }[];
  spent: number;
  failures: number;
  done: boolean;
  won: boolean;
  graph: QuestGraph;
}

export const questPacks = () => request<{ packs: string[] }>("quest/packs").then((r) => r.packs);
export const questLevels = (pack: string) => request<QuestLevelRow[]>(`quest/packs/${encodeURIComponent(pack)}`);
export const questLevel = (pack: string, index: number) => request<QuestLevel>(`quest/packs/${encodeURIComponent(pack)}/${index}`);
export const newGame = (pack: string, index: number, seed = 0) =>
  request<QuestGame>("quest/games", { method: "POST", body: JSON.stringify({ pack, index, seed }) });
export const callInGame = (game: string, fn: string) =>
  request<QuestGame>(`quest/games/${game}/call`, { method: "POST", body: JSON.stringify({ function: fn }) });
export const endGame = (game: string) => request<unknown>(`quest/games/${game}`, { method: "DELETE" });
export const conductorPlay = (checkpoint: string, pack: string, index: number) =>
  request<{ steps: { call: string }[]; score: Record<string, unknown> }>("quest/conductor", {
    method: "POST",
    body: JSON.stringify({ checkpoint, pack, index }),
  });

export const serverInfo = () => request<{ version: string; runs_dir: string; store_dir: string }>("info");
