// Function Quest in the main area: browse the packs and their levels, see a
// level's graph (kinds and functions, held and callable), play it by
// clicking the functions, and set your calls beside the exact solver's plan
// and a trained Conductor's play of the same level.

import { Widget } from "@lumino/widgets";
import { Canvas, COLOURS } from "@symphony-lab/widgets/dag_canvas";
import { callInGame, conductorPlay, endGame, listRuns, newGame, type QuestGame, type QuestLevel, questLevel, questLevels, questPacks } from "./api";
import { el } from "./dom";

export class QuestView extends Widget {
  private packs = el("select", { "aria-label": "pack", class: "symphony-quest-pack" });
  private levels = el("div", { class: "symphony-quest-levels" });
  private head = el("div", { class: "symphony-quest-head" });
  private legend = el("div", { class: "symphony-run-meta" });
  private canvasEl = el("canvas", { class: "symphony-episode-canvas symphony-quest-canvas" });
  private status = el("div", { class: "symphony-message", role: "status" });
  private compare = el("div", { class: "symphony-quest-compare" });
  private canvas: Canvas | null = null;
  private level: QuestLevel | null = null;
  private game: QuestGame | null = null;
  private conductor: { calls: string[]; cost: number | null; solved: boolean } | null = null;
  private checkpoint = el("select", { "aria-label": "checkpoint", class: "symphony-quest-checkpoint" });

  constructor() {
    super();
    this.id = "symphony-quest";
    this.addClass("symphony-run-view");
    this.addClass("symphony-quest-view");
    this.title.label = "Function Quest";
    this.title.closable = true;
    this.packs.addEventListener("change", () => void this.loadPack(this.packs.value));
    const play = el("button", { class: "jp-Button", "data-action": "conductor", onclick: () => void this.conductorPlays() }, "Conductor plays");
    const restart = el("button", { class: "jp-Button", "data-action": "new-game", onclick: () => void this.startGame() }, "New game");
    this.node.append(
      el(
        "div",
        { class: "symphony-quest" },
        el("div", { class: "symphony-quest-side" }, this.packs, this.levels),
        el(
          "div",
          { class: "symphony-quest-main" },
          this.head,
          el("div", { class: "symphony-controls" }, restart, this.checkpoint, play),
          this.legend,
          this.status,
          this.canvasEl,
          el("h2", {}, "Plans side by side"),
          this.compare,
        ),
      ),
    );
  }

  protected onAfterAttach(): void {
    if (this.packs.childElementCount) return;
    void this.init();
  }

  private async init(): Promise<void> {
    try {
      const packs = await questPacks();
      this.packs.replaceChildren(...packs.map((p) => el("option", { value: p, selected: p === "test-easy" }, p)));
      const runs = await listRuns();
      const trained = runs.filter((r) => r.kind === "train" && r.status === "done");
      this.checkpoint.replaceChildren(
        ...(trained.length
          ? trained.map((r) => el("option", { value: `${r.id}/conductor.pt` }, `${r.id}/conductor.pt`))
          : [el("option", { value: "" }, "no trained Conductor yet")]),
      );
      await this.loadPack(this.packs.value);
    } catch (e) {
      this.say(String((e as Error).message ?? e), true);
    }
  }

  private say(text: string, error = false): void {
    this.status.textContent = text;
    this.status.classList.toggle("symphony-error", error);
  }

  private async loadPack(pack: string): Promise<void> {
    const rows = await questLevels(pack);
    this.levels.replaceChildren(
      el(
        "table",
        { class: "symphony-table" },
        el("tr", {}, el("th", {}, "#"), el("th", {}, "level"), el("th", {}, "functions"), el("th", {}, "")),
        ...rows.map((r) =>
          el(
            "tr",
            { class: "symphony-quest-row", "data-level": r.index, onclick: () => void this.loadLevel(pack, r.index) },
            el("td", {}, String(r.index)),
            el("td", {}, r.id),
            el("td", {}, String(r.functions)),
            el("td", {}, r.flaky ? "flaky" : ""),
          ),
        ),
      ),
    );
    if (rows.length) await this.loadLevel(pack, 0);
  }

  dispose(): void {
    this.canvas?.dispose();
    if (this.game) void endGame(this.game.game).catch(() => undefined);
    super.dispose();
  }

  private async loadLevel(pack: string, index: number): Promise<void> {
    const level = await questLevel(pack, index);
    if (this.isDisposed) return;
    this.level = level;
    this.conductor = null;
    this.node.dataset.level = this.level.level.id;
    for (const row of this.levels.querySelectorAll(".symphony-quest-row")) {
      row.classList.toggle("symphony-selected", (row as HTMLElement).dataset.level === String(index));
    }
    const lv = this.level.level;
    this.head.replaceChildren(
      el("h1", {}, lv.title),
      el("p", {}, lv.story),
      el(
        "div",
        { class: "symphony-run-meta" },
        el("span", {}, `budget ${lv.budget}`),
        el("span", {}, `goals: ${lv.goals.map((g) => `${g.kind} (${g.importance})`).join(", ")}`),
      ),
    );
    this.legend.replaceChildren(
      ...this.level.graph.names.map((n, i) => el("span", { style: `color:${COLOURS[i]}` }, `■ ${n}`)),
      el("span", {}, "click a callable function to call it"),
    );
    await this.startGame();
  }

  private async startGame(): Promise<void> {
    const level = this.level;
    if (!level) return;
    if (this.game) void endGame(this.game.game).catch(() => undefined);
    this.game = null;
    const game = await newGame(level.pack, level.index);
    if (this.level !== level) {
      void endGame(game.game).catch(() => undefined); // another level was picked meanwhile
      return;
    }
    this.game = game;
    this.say("Your move: call a function (blue).");
    this.draw();
  }

  private async call(fn: string): Promise<void> {
    const game = this.game;
    if (!game) return;
    try {
      const next = await callInGame(game.game, fn);
      if (this.game !== game) return;
      this.game = next;
    } catch (e) {
      this.say(String((e as Error).message ?? e), true);
      return;
    }
    const last = this.game.calls[this.game.calls.length - 1];
    this.say(
      this.game.done
        ? this.game.won
          ? `Won in ${this.game.calls.length} calls, cost ${this.game.spent.toFixed(2)}.`
          : `Over: the goals were not reached (cost ${this.game.spent.toFixed(2)}).`
        : `${last.call} ${last.failed ? "failed (paid, nothing made)" : "done"}; spent ${this.game.spent.toFixed(2)}.`,
      last.failed,
    );
    this.draw();
  }

  private draw(): void {
    if (!this.game || !this.level) return;
    const g = this.game.graph;
    this.node.dataset.calls = String(this.game.calls.length);
    this.node.dataset.done = String(this.game.done);
    this.node.dataset.won = String(this.game.won);
    this.canvasEl.style.height = `${g.height}px`;
    this.canvas?.dispose();
    this.canvas = new Canvas(this.canvasEl, { ...g }, (i) => {
      const name = g.keys[i];
      if (g.functions.includes(name)) void this.call(name);
    });
    (this.node as HTMLElement & { questCanvas?: () => Canvas | null }).questCanvas = () => this.canvas;
    this.drawCompare();
  }

  private async conductorPlays(): Promise<void> {
    if (!this.level || !this.checkpoint.value) {
      this.say("Train a Conductor first (the Runs section), then choose its checkpoint.", true);
      return;
    }
    this.say("The Conductor is playing (in a worker process)…");
    const level = this.level;
    try {
      const ep = await conductorPlay(this.checkpoint.value, level.pack, level.index);
      if (this.level !== level) return; // another level was picked meanwhile
      this.conductor = {
        calls: ep.steps.map((s) => s.call),
        cost: typeof ep.score.cost === "number" ? ep.score.cost : null,
        solved: ep.score.solved === true,
      };
      this.say(`The Conductor ${this.conductor.solved ? "won" : "did not win"} in ${this.conductor.calls.length} calls.`);
    } catch (e) {
      this.say(String((e as Error).message ?? e), true);
    }
    this.drawCompare();
  }

  private drawCompare(): void {
    const plan = this.level?.plan;
    const you = this.game;
    const column = (who: string, calls: string[] | null, cost: string, note: string) =>
      el(
        "div",
        { class: "symphony-quest-plan", "data-plan": who },
        el("h3", {}, who),
        el("div", { class: "symphony-run-meta" }, el("span", {}, cost), el("span", {}, note)),
        calls ? el("ol", {}, ...calls.map((c) => el("li", {}, c))) : el("p", { class: "symphony-empty" }, "—"),
      );
    this.compare.replaceChildren(
      column("you", you ? you.calls.map((c) => (c.failed ? `${c.call} (failed)` : c.call)) : null, you ? `cost ${you.spent.toFixed(2)}` : "", you?.done ? (you.won ? "won" : "lost") : "playing"),
      column("solver", plan ? plan.calls : null, plan ? `cost ${plan.cost.toFixed(2)}` : "", plan ? "the exact optimum, every call succeeding" : (this.level?.plan_note ?? "")),
      column(
        "conductor",
        this.conductor ? this.conductor.calls : null,
        this.conductor?.cost !== null && this.conductor?.cost !== undefined ? `cost ${this.conductor.cost.toFixed(2)}` : "",
        this.conductor ? (this.conductor.solved ? "won" : "lost") : "press “Conductor plays”",
      ),
    );
  }
}
