// A run in the main area: its record, live training curves (axes, values
// under the pointer, smoothing, log scale), its evaluations and its log.
// Events come over the run's WebSocket: the history, then the live tail.

import { Widget } from "@lumino/widgets";
import { Plot } from "@symphony-lab/widgets/plot";
import { cancelRun, FINISHED, getRun, openStream, resumeRun, type RunEvent, type RunRecord, runLogs, type Status, type StreamMessage, type SummaryRow } from "./api";
import { el, percent, ratio } from "./dom";
import { EpisodeReplay } from "./episode_replay";

/** The training row's curves: field -> title. */
const CURVES: [string, string][] = [
  ["solve_rate", "solve rate"],
  ["cost_ratio", "cost ratio (solved episodes)"],
  ["mean_return", "mean return"],
  ["mean_calls", "calls per episode"],
];

export class RunView extends Widget {
  private plots = new Map<string, Plot>();
  private status = el("span", { class: "symphony-status" });
  private details = el("div", { class: "symphony-run-details" });
  private evals = el("div", { class: "symphony-evals" });
  private log = el("pre", { class: "symphony-log" });
  private actions = el("span", { class: "symphony-actions" });
  private counter = el("span", { class: "symphony-rows", "data-field": "rows" }, "0 rows");
  private socket: WebSocket | null = null;
  private line = 0;
  private rows = 0;
  private ended = false;
  private evaluations: { pack: string; summary: SummaryRow[] }[] = [];
  private episodes = new EpisodeReplay();

  constructor(
    readonly runId: string,
    smoothing: number,
  ) {
    super();
    this.id = `symphony-run-${runId}`;
    this.addClass("symphony-run-view");
    this.title.label = `Run ${runId}`;
    this.title.closable = true;
    const smooth = el("input", { type: "range", min: 0, max: 0.99, step: 0.01, value: smoothing, "aria-label": "smoothing" });
    const smoothLabel = el("span", {}, `smoothing ${smoothing}`);
    smooth.addEventListener("input", () => {
      smoothLabel.textContent = `smoothing ${smooth.value}`;
      for (const p of this.plots.values()) p.smoothing = Number(smooth.value);
    });
    const log = el("input", { type: "checkbox", "aria-label": "log scale" });
    log.addEventListener("change", () => {
      for (const p of this.plots.values()) p.logY = log.checked;
    });
    const grid = el("div", { class: "symphony-plots" });
    this.node.append(
      el("div", { class: "symphony-run-title" }, el("h1", {}, runId), this.status, this.counter, this.actions),
      this.details,
      el("div", { class: "symphony-controls" }, el("label", {}, smoothLabel, smooth), el("label", {}, log, " log scale")),
      grid,
      el("h2", {}, "Evaluations"),
      this.evals,
      el("h2", {}, "Episodes"),
      this.episodes.node,
      el("h2", {}, "Log"),
      this.log,
    );
    for (const [field, title] of CURVES) {
      const box = el("div", { class: "symphony-plot-box", "data-curve": field });
      grid.append(box);
      this.plots.set(field, new Plot(box, { title, smoothing }));
    }
  }

  protected onAfterAttach(): void {
    // Once: a tab dragged elsewhere is attached again, with its socket still open.
    if (this.socket === null) void this.load();
  }

  protected onResize(): void {
    for (const p of this.plots.values()) p.redraw();
  }

  dispose(): void {
    this.ended = true;
    this.socket?.close();
    this.episodes.dispose();
    super.dispose();
  }

  private async load(): Promise<void> {
    try {
      this.showRecord(await getRun(this.runId));
    } catch (e) {
      this.details.replaceChildren(el("div", { class: "symphony-error" }, String((e as Error).message ?? e)));
      return;
    }
    this.connect();
  }

  private connect(): void {
    if (this.ended || this.isDisposed) return;
    this.socket = openStream(this.runId, this.line, (m) => this.receive(m));
    this.socket.onclose = () => {
      // A dropped connection (a server restart): carry on from the next line.
      if (!this.ended && !this.isDisposed) window.setTimeout(() => this.connect(), 2000);
    };
  }

  private receive(m: StreamMessage): void {
    if (m.type === "event") {
      if (m.line < this.line) return;
      this.line = m.line + 1;
      this.event(m.event);
    } else {
      this.setStatus(m.status, m.error);
      if (m.type === "end") this.ended = true;
      // Started, ended: the record has news (times, error, actions).
      void getRun(this.runId).then((r) => this.showRecord(r));
    }
  }

  private event(e: RunEvent): void {
    if (e.type === "train") {
      const steps = Number(e.steps);
      for (const [field] of CURVES) {
        const v = e[field];
        this.plots.get(field)?.append("train", steps, typeof v === "number" ? v : NaN);
      }
      this.rows += 1;
      this.counter.textContent = `${this.rows} rows, ${steps.toLocaleString()} steps`;
      this.node.dataset.rows = String(this.rows);
    } else if (e.type === "episode") {
      this.episodes.add(e);
    } else if (e.type === "eval") {
      this.evaluations.push({ pack: String(e.pack), summary: (e.summary as SummaryRow[]) ?? [] });
      this.drawEvals();
    }
  }

  private drawEvals(): void {
    if (this.evaluations.length === 0) {
      this.evals.replaceChildren(el("p", { class: "symphony-empty" }, "No evaluation yet."));
      return;
    }
    const columns = ["levels", "solve_rate", "cost_ratio", "median_ratio", "calls", "failures", "recoveries", "wall_ms"];
    // Solve rate and cost ratio as bars too: agents compare at a glance.
    const ratios = this.evaluations.flatMap(({ summary }) => summary.map((r) => Number(r.cost_ratio))).filter(Number.isFinite);
    const top = Math.max(1, ...ratios);
    const bar = (fraction: number) =>
      el("span", { class: "symphony-bar symphony-cell-bar" }, el("span", { class: "symphony-bar-fill", style: `width:${(100 * Math.min(1, Math.max(0, fraction))).toFixed(1)}%` }));
    const cell = (c: string, v: unknown) => {
      const text = c === "solve_rate" ? percent(v) : c.endsWith("ratio") ? ratio(v) : typeof v === "number" ? String(+v.toFixed(2)) : String(v ?? "–");
      if (typeof v === "number" && Number.isFinite(v) && (c === "solve_rate" || c === "cost_ratio")) {
        return el("td", { class: "symphony-bar-cell" }, bar(c === "solve_rate" ? v : v / top), text);
      }
      return el("td", {}, text);
    };
    this.evals.replaceChildren(
      el(
        "table",
        { class: "symphony-table", "data-table": "evals" },
        el("tr", {}, el("th", {}, "pack"), el("th", {}, "agent"), ...columns.map((c) => el("th", {}, c.replace("_", " ")))),
        ...this.evaluations.flatMap(({ pack, summary }) =>
          summary.map((row) => el("tr", {}, el("td", {}, pack), el("td", {}, String(row.agent ?? row.index ?? "")), ...columns.map((c) => cell(c, row[c])))),
        ),
      ),
    );
  }

  private async resume(): Promise<void> {
    this.showRecord(await resumeRun(this.runId));
    // The same folder carries on: follow its new events (the old socket
    // closed at the run's end, when nothing reconnects).
    this.ended = false;
    if (!this.socket || this.socket.readyState === WebSocket.CLOSED) this.connect();
  }

  private setStatus(status: Status, error: string): void {
    this.status.textContent = status;
    this.status.className = `symphony-status symphony-status-${status}`;
    this.node.dataset.status = status;
    this.status.title = error;
  }

  private showRecord(r: RunRecord): void {
    this.setStatus(r.status, r.error);
    const prov = r.provenance as { git?: { commit?: string; dirty?: boolean }; packages?: Record<string, string> };
    const rows: [string, string][] = [
      ["kind", r.kind],
      ...Object.entries(r.params).map(([k, v]) => [k, JSON.stringify(v)] as [string, string]),
      ["started", r.started ? new Date(r.started * 1000).toLocaleString() : "–"],
      ["ended", r.ended ? new Date(r.ended * 1000).toLocaleString() : "–"],
      ["git", prov.git?.commit ? `${prov.git.commit.slice(0, 10)}${prov.git.dirty ? " (dirty)" : ""}` : "–"],
    ];
    if (r.resumed_from) rows.push(["resumes", r.resumed_from]);
    this.details.replaceChildren(
      el("table", { class: "symphony-table symphony-params" }, ...rows.map(([k, v]) => el("tr", {}, el("th", {}, k), el("td", {}, v)))),
      r.error ? el("div", { class: "symphony-error" }, r.error) : "",
    );
    this.actions.replaceChildren();
    if (!FINISHED.has(r.status)) {
      this.actions.append(el("button", { class: "jp-Button", "data-action": "cancel", onclick: () => void cancelRun(r.id).then((x) => this.showRecord(x)) }, "Cancel"));
    } else if (r.kind === "train" && r.status !== "done") {
      this.actions.append(
        el("button", { class: "jp-Button", "data-action": "resume", onclick: () => void this.resume() }, "Resume"),
      );
    }
    void runLogs(r.id, 8000).then((text) => (this.log.textContent = text || "(empty)"));
    this.drawEvals();
  }
}
