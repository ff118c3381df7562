// The run service's REST routes and its WebSocket, with Jupyter's
// authentication and XSRF handled by ServerConnection.

import { URLExt } from "@jupyterlab/coreutils";
import { ServerConnection } from "@jupyterlab/services";

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
