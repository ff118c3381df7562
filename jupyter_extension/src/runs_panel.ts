// The sidebar's Runs section (live status, progress, solve rate, cost
// ratio; a form to start one; cancel, resume, open) and its Conductors
// section (what training runs made, their evaluations; evaluate on a pack).

import { Widget } from "@lumino/widgets";
import { ago, cancelRun, FINISHED, resumeRun, type RunRecord, serverInfo, startRun, type SummaryRow } from "./api";
import { el, percent, ratio } from "./dom";
import type { RunsModel } from "./runs_model";

export interface PanelSettings {
  refreshSeconds: number;
  tiers: string[];
  packs: string[];
  defaultSteps: number;
}

/** What both sections share: the model, opening a run, a line of news. */
abstract class Section extends Widget {
  protected message = el("div", { class: "symphony-message", role: "status" });

  constructor(
    protected model: RunsModel,
    protected open: (id: string) => void,
    protected settings: PanelSettings,
  ) {
    super();
    this.addClass("symphony-section");
    model.changed.connect(() => this.draw(), this);
    model.watch(() => this.isVisible);
  }

  configure(settings: PanelSettings): void {
    this.settings = settings;
    this.draw();
  }

  protected onAfterShow(): void {
    void this.model.refresh();
  }

  protected abstract draw(): void;

  protected say(text: string, error = false): void {
    this.message.textContent = text;
    this.message.classList.toggle("symphony-error", error);
  }

  protected async act(fn: () => Promise<RunRecord>, done: string): Promise<void> {
    try {
      const rec = await fn();
      this.say(`${done} (${rec.id}: ${rec.status})`);
    } catch (e) {
      this.say(String((e as Error).message ?? e), true);
    }
    await this.model.refresh();
  }

  protected button(label: string, action: string, fn: () => void): HTMLButtonElement {
    return el("button", { class: "jp-Button", "data-action": action, onclick: fn }, label);
  }
}

export class RunsSection extends Section {
  private list = el("div", { class: "symphony-runs-list" });
  private form = el("form");
  private picked = new Set<string>();
  private compareButton: HTMLButtonElement;

  constructor(
    model: RunsModel,
    open: (id: string) => void,
    settings: PanelSettings,
    private compare: (ids: string[]) => void,
  ) {
    super(model, open, settings);
    this.id = "symphony-runs";
    this.title.label = "Runs";
    this.compareButton = this.button("Compare", "compare", () => this.compare([...this.picked]));
    const where = el("div", { class: "symphony-where", "data-field": "runs-dir" });
    this.node.append(this.form, this.message, el("div", { class: "symphony-actions" }, this.compareButton), this.list, where);
    void serverInfo().then(
      (info) => {
        where.textContent = `runs in ${info.runs_dir} (c.SymphonyRuns.runs_dir) · symphony-jupyter ${info.version}`;
        this.model.runsDir = info.runs_dir;
        this.model.changed.emit();
      },
      () => undefined,
    );
    this.draw();
  }

  configure(settings: PanelSettings): void {
    this.settings = settings;
    this.form.replaceWith((this.form = this.buildForm()));
    this.draw();
  }

  protected draw(): void {
    if (!this.form.childElementCount) this.form.replaceWith((this.form = this.buildForm()));
    if (this.model.error) this.say(this.model.error, true);
    const runs = this.model.runs;
    const ids = new Set(runs.map((r) => r.id));
    for (const id of this.picked) if (!ids.has(id)) this.picked.delete(id);
    this.compareButton.disabled = this.picked.size < 2;
    this.compareButton.textContent = `Compare ${this.picked.size || ""}`.trim();
    this.list.replaceChildren(
      ...(runs.length ? runs.map((r) => this.row(r)) : [el("p", { class: "symphony-empty" }, "No runs yet: start one above.")]),
    );
  }

  private row(r: RunRecord): HTMLElement {
    const train = r.progress?.train ?? null;
    const steps = Number(r.params.steps ?? 0);
    const done = train?.steps ?? 0;
    const fraction = r.kind === "train" && steps > 0 ? Math.min(1, (done ?? 0) / steps) : r.status === "done" ? 1 : 0;
    const evalRow = Object.values(r.progress?.evals ?? {})[0]?.[0];
    const solve = train?.solve_rate ?? evalRow?.solve_rate;
    const cost = train?.cost_ratio ?? evalRow?.cost_ratio;
    const actions = el("span", { class: "symphony-actions" }, this.button("Open", "open", () => this.open(r.id)));
    if (!FINISHED.has(r.status)) {
      actions.append(this.button("Cancel", "cancel", () => void this.act(() => cancelRun(r.id), `cancelled ${r.id}`)));
    } else if (r.kind === "train" && r.status !== "done") {
      actions.append(this.button("Resume", "resume", () => void this.act(() => resumeRun(r.id), `resumed ${r.id}`)));
    }
    const what =
      r.kind === "train"
        ? `${Math.round(done ?? 0).toLocaleString()} / ${steps.toLocaleString()} steps`
        : `eval ${(r.params.packs as string[] | undefined)?.join(", ") ?? ""}`;
    return el(
      "div",
      { class: "symphony-run", "data-run": r.id, "data-status": r.status, title: r.error || JSON.stringify(r.params) },
      el("div", { class: "symphony-run-head" }, this.pick(r.id), el("span", { class: "symphony-run-id" }, r.id), el("span", { class: `symphony-status symphony-status-${r.status}` }, r.status)),
      el("progress", { max: 1, value: fraction, class: "symphony-progress" }),
      el(
        "div",
        { class: "symphony-run-meta" },
        el("span", {}, what),
        el("span", { "data-field": "solve" }, `solved ${percent(solve)}`),
        el("span", { "data-field": "ratio" }, `cost × ${ratio(cost)}`),
        el("span", {}, ago(r.created)),
      ),
      r.error ? el("div", { class: "symphony-error" }, r.error) : null,
      actions,
    );
  }

  private pick(id: string): HTMLInputElement {
    const box = el("input", { type: "checkbox", "data-action": "pick", "aria-label": `compare ${id}`, checked: this.picked.has(id) });
    box.addEventListener("change", () => {
      if (box.checked) this.picked.add(id);
      else this.picked.delete(id);
      this.compareButton.disabled = this.picked.size < 2;
      this.compareButton.textContent = `Compare ${this.picked.size || ""}`.trim();
    });
    return box;
  }

  private buildForm(): HTMLFormElement {
    const s = this.settings;
    const field = (label: string, input: HTMLElement) => el("label", { class: "symphony-field" }, el("span", {}, label), input);
    const env = el("input", { name: "env", list: "symphony-tiers", value: s.tiers[0] ?? "medium", required: true });
    const steps = el("input", { name: "steps", type: "number", min: 1, step: 1, value: s.defaultSteps, required: true });
    const seed = el("input", { name: "seed", type: "number", min: 0, step: 1, value: 0 });
    const every = el("input", { name: "checkpoint_every", type: "number", min: 1, step: 1, value: 5000 });
    const pretrain = el("input", { name: "pretrain", type: "checkbox", checked: true });
    const packs = el("input", { name: "packs", list: "symphony-packs", value: "", placeholder: "test-medium, ood" });
    const form = el(
      "form",
      { class: "symphony-form", "data-form": "train" },
      el("datalist", { id: "symphony-tiers" }, ...s.tiers.map((t) => el("option", { value: t }))),
      el("datalist", { id: "symphony-packs" }, ...s.packs.map((t) => el("option", { value: t }))),
      field("tier or env", env),
      field("steps", steps),
      field("seed", seed),
      field("checkpoint every", every),
      field("imitation first", pretrain),
      field("evaluate on", packs),
      el("button", { class: "jp-Button jp-mod-accept", type: "submit", "data-action": "start" }, "Start training"),
    );
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      const params: Record<string, unknown> = {
        env: env.value.trim(),
        steps: Number(steps.value),
        seed: Number(seed.value),
        checkpoint_every: Number(every.value),
        pretrain: pretrain.checked,
        packs: packs.value
          .split(",")
          .map((p) => p.trim())
          .filter(Boolean),
      };
      void this.act(async () => {
        const rec = await startRun("train", params);
        this.open(rec.id);
        return rec;
      }, "started");
    });
    return form;
  }
}

export class ConductorsSection extends Section {
  private list = el("div", { class: "symphony-conductors-list" });

  constructor(model: RunsModel, open: (id: string) => void, settings: PanelSettings) {
    super(model, open, settings);
    this.id = "symphony-conductors";
    this.title.label = "Conductors";
    this.node.append(this.message, this.list);
    this.draw();
  }

  protected draw(): void {
    const trained = this.model.runs.filter((r) => r.kind === "train" && r.status === "done");
    this.list.replaceChildren(
      ...(trained.length ? trained.map((r) => this.conductor(r)) : [el("p", { class: "symphony-empty" }, "A finished training run's Conductor shows here.")]),
    );
  }

  private conductor(r: RunRecord): HTMLElement {
    // Its evaluations: the run's own, and those of evaluation runs of its files.
    const folder = `${this.model.runsDir}/${r.id}/`;
    const mine = (e: RunRecord) => e.kind === "eval" && this.model.runsDir !== "" && String(e.params.checkpoint ?? "").startsWith(folder);
    const evals: [string, string, SummaryRow | undefined][] = [
      ...Object.entries(r.progress?.evals ?? {}).map(([pack, rows]) => ["conductor.pt", pack, rows?.[0]] as [string, string, SummaryRow | undefined]),
      ...this.model.runs.filter(mine).flatMap((e) =>
        Object.entries(e.progress?.evals ?? {}).map(
          ([pack, rows]) => [String(e.params.checkpoint).slice(folder.length), pack, rows?.[0]] as [string, string, SummaryRow | undefined],
        ),
      ),
    ];
    const files = ["conductor.pt", ...[...(r.checkpoints ?? [])].reverse().map((c) => `checkpoints/${c}`)];
    const which = el("select", { class: "symphony-pack", "aria-label": "checkpoint", "data-field": "checkpoint" }, ...files.map((f) => el("option", { value: f }, f)));
    const pack = el("input", { class: "symphony-pack", list: "symphony-packs", value: this.settings.packs[0] ?? "test-medium", "aria-label": "pack" });
    const evaluate = () =>
      void this.act(
        () => startRun("eval", { checkpoint: `${r.id}/${which.value}`, packs: [pack.value.trim()] }),
        `evaluating ${r.id}/${which.value} on ${pack.value}`,
      );
    return el(
      "div",
      { class: "symphony-conductor", "data-conductor": r.id },
      el("div", { class: "symphony-run-head" }, el("span", { class: "symphony-run-id" }, r.id), el("span", {}, `${Number(r.params.steps ?? 0).toLocaleString()} steps`)),
      evals.length
        ? el(
            "table",
            { class: "symphony-table" },
            el("tr", {}, el("th", {}, "file"), el("th", {}, "pack"), el("th", {}, "solved"), el("th", {}, "cost ×")),
            ...evals.map(([file, name, row]) => el("tr", {}, el("td", {}, file), el("td", {}, name), el("td", {}, percent(row?.solve_rate)), el("td", {}, ratio(row?.cost_ratio)))),
          )
        : null,
      el("div", { class: "symphony-actions" }, which, pack),
      el("div", { class: "symphony-actions" }, this.button("Evaluate", "evaluate", evaluate), this.button("Open run", "open", () => this.open(r.id))),
    );
  }
}
