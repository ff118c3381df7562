// Runs side by side: their training curves overlaid (one series a run),
// and a table of what differs in their parameters and how they ended
// (last training row, each evaluation's Conductor row).

import { Widget } from "@lumino/widgets";
import { Plot } from "@symphony-lab/widgets/plot";
import { getRun, type RunEvent, runEvents, type RunRecord, type SummaryRow } from "./api";
import { el, percent, ratio } from "./dom";

const CURVES: [string, string][] = [
  ["solve_rate", "solve rate"],
  ["cost_ratio", "cost ratio (solved episodes)"],
  ["mean_return", "mean return"],
  ["mean_calls", "calls per episode"],
];

interface Loaded {
  rec: RunRecord;
  events: RunEvent[];
}

export class CompareView extends Widget {
  private table = el("div", { class: "symphony-compare-table" });
  private grid = el("div", { class: "symphony-plots" });
  private plots = new Map<string, Plot>();

  constructor(
    readonly ids: string[],
    smoothing: number,
  ) {
    super();
    this.id = `symphony-compare-${ids.join("-")}`;
    this.addClass("symphony-run-view");
    this.addClass("symphony-compare-view");
    this.title.label = `Compare ${ids.length} runs`;
    this.title.closable = true;
    const smooth = el("input", { type: "range", min: 0, max: 0.99, step: 0.01, value: smoothing, "aria-label": "smoothing" });
    smooth.addEventListener("input", () => this.plots.forEach((p) => (p.smoothing = Number(smooth.value))));
    const log = el("input", { type: "checkbox", "aria-label": "log scale" });
    log.addEventListener("change", () => this.plots.forEach((p) => (p.logY = log.checked)));
    this.node.append(
      el("h1", {}, this.title.label),
      el("div", { class: "symphony-controls" }, el("label", {}, "smoothing ", smooth), el("label", {}, log, " log scale")),
      this.grid,
      el("h2", {}, "Summary"),
      this.table,
    );
    for (const [field, title] of CURVES) {
      const box = el("div", { class: "symphony-plot-box", "data-curve": field });
      this.grid.append(box);
      this.plots.set(field, new Plot(box, { title, smoothing }));
    }
  }

  protected onAfterAttach(): void {
    void this.load();
  }

  async load(): Promise<void> {
    let runs: Loaded[];
    try {
      runs = await Promise.all(this.ids.map(async (id) => ({ rec: await getRun(id), events: (await runEvents(id)).events })));
    } catch (e) {
      this.table.replaceChildren(el("div", { class: "symphony-error" }, String((e as Error).message ?? e)));
      return;
    }
    for (const [field, plot] of this.plots) {
      plot.setSeries(
        runs.map(({ rec, events }) => {
          const rows = events.filter((e) => e.type === "train");
          return { name: rec.id, x: rows.map((r) => Number(r.steps)), y: rows.map((r) => (typeof r[field] === "number" ? (r[field] as number) : NaN)) };
        }),
      );
    }
    this.drawTable(runs);
  }

  private drawTable(runs: Loaded[]): void {
    // Parameters that differ between the runs, then how each ended.
    const keys = [...new Set(runs.flatMap((r) => Object.keys(r.rec.params)))].sort();
    const differ = keys.filter((k) => new Set(runs.map((r) => JSON.stringify(r.rec.params[k]))).size > 1);
    const last = (r: Loaded) => [...r.events].reverse().find((e) => e.type === "train");
    const packs = [...new Set(runs.flatMap((r) => r.events.filter((e) => e.type === "eval").map((e) => String(e.pack))))].sort();
    const conductorRow = (r: Loaded, pack: string): SummaryRow | undefined => {
      const ev = [...r.events].reverse().find((e) => e.type === "eval" && e.pack === pack);
      return (ev?.summary as SummaryRow[] | undefined)?.[0];
    };
    const rows: [string, (r: Loaded) => string][] = [
      ["status", (r) => r.rec.status],
      ...differ.map((k) => [k, (r: Loaded) => JSON.stringify(r.rec.params[k] ?? null)] as [string, (r: Loaded) => string]),
      ["steps", (r) => Number(last(r)?.steps ?? 0).toLocaleString()],
      ["last solve rate", (r) => percent(last(r)?.solve_rate)],
      ["last cost ratio", (r) => ratio(last(r)?.cost_ratio)],
      ["training time", (r) => (last(r)?.wall_s ? `${Number(last(r)?.wall_s).toFixed(0)} s` : "–")],
      ...packs.flatMap((p) => [
        [`${p}: solved`, (r: Loaded) => percent(conductorRow(r, p)?.solve_rate)] as [string, (r: Loaded) => string],
        [`${p}: cost ratio`, (r: Loaded) => ratio(conductorRow(r, p)?.cost_ratio)] as [string, (r: Loaded) => string],
      ]),
      ["git", (r) => String((r.rec.provenance as { git?: { commit?: string } }).git?.commit ?? "–").slice(0, 10)],
    ];
    this.table.replaceChildren(
      el(
        "table",
        { class: "symphony-table", "data-table": "compare" },
        el("tr", {}, el("th", {}, ""), ...runs.map((r) => el("th", {}, r.rec.id))),
        ...rows.map(([label, cell]) => el("tr", { "data-row": label }, el("th", {}, label), ...runs.map((r) => el("td", {}, cell(r))))),
      ),
    );
  }
}
