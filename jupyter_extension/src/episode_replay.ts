// An episode the run recorded (an `episode` event), replayed step by step:
// the DAG of its calls drawn by the widgets' canvas, the calls up to the
// step in their end state and the rest pending, and the reason for the
// step's call: the probabilities the Conductor gave its options, the
// critic's value, and the call the env's expert would have made.

import { Canvas, type Graph } from "@symphony-lab/widgets/dag_canvas";
import type { RunEvent } from "./api";
import { el, percent } from "./dom";

export interface EpisodeStep {
  call: string;
  reward: number;
  probabilities: [string, number][];
  value: number;
  expert: string | null;
}

export interface Episode {
  pack: string;
  level: string | null;
  score: Record<string, unknown>;
  steps: EpisodeStep[];
  graph: Graph | null;
}

const PENDING = 0;

export class EpisodeReplay {
  readonly node = el("div", { class: "symphony-episodes" });
  private episodes: Episode[] = [];
  private picker = el("select", { class: "symphony-episode-pick", "aria-label": "episode" });
  private slider = el("input", { type: "range", min: 0, max: 0, value: 0, "aria-label": "step", class: "symphony-episode-step" });
  private stepLabel = el("span", { class: "symphony-episode-label" });
  private summary = el("div", { class: "symphony-run-meta" });
  private canvasEl = el("canvas", { class: "symphony-episode-canvas" });
  private reason = el("div", { class: "symphony-reason" });
  private canvas: Canvas | null = null;
  private finalStates: number[] = [];
  private empty = el("p", { class: "symphony-empty" }, "No episode yet: each evaluation records the Conductor's play of the pack's first level.");
  private body: HTMLElement;

  constructor() {
    this.picker.addEventListener("change", () => this.show(Number(this.picker.value)));
    this.slider.addEventListener("input", () => this.step(Number(this.slider.value)));
    this.body = el(
      "div",
      {},
      el("div", { class: "symphony-controls" }, this.picker, this.slider, this.stepLabel),
      this.summary,
      el("div", { class: "symphony-episode-main" }, this.canvasEl, this.reason),
    );
    this.body.hidden = true;
    this.node.append(this.empty, this.body);
  }

  /** Removes the canvas's listeners (on the window too). */
  dispose(): void {
    this.canvas?.dispose();
    this.canvas = null;
  }

  add(e: RunEvent): void {
    this.episodes.push(e as unknown as Episode);
    const ep = this.episodes[this.episodes.length - 1];
    this.picker.append(el("option", { value: this.episodes.length - 1 }, `${ep.pack}: ${ep.level ?? "level"}`));
    if (this.episodes.length === 1) {
      this.empty.remove();
      this.body.hidden = false;
      this.show(0);
    }
  }

  private show(index: number): void {
    const ep = this.episodes[index];
    this.node.dataset.episode = String(index);
    const s = ep.score;
    const solved = s.solved === true;
    this.summary.replaceChildren(
      el("span", {}, `${ep.steps.length} calls`),
      el("span", {}, solved ? "solved" : "not solved"),
      el("span", {}, `cost ${Number(s.cost ?? NaN).toFixed(2)}`),
      el("span", {}, s.optimal_cost ? `optimum ${Number(s.optimal_cost).toFixed(2)}` : ""),
      el("span", {}, `${Number(s.failures ?? 0)} failures`),
    );
    this.canvas?.dispose();
    this.canvas = null;
    if (ep.graph) {
      this.canvasEl.style.height = `${ep.graph.height}px`;
      this.finalStates = [...ep.graph.states];
      this.canvas = new Canvas(this.canvasEl, { ...ep.graph, states: [...ep.graph.states] }, (i) => this.pick(i));
    }
    this.slider.max = String(Math.max(0, ep.steps.length - 1));
    this.slider.value = "0";
    this.step(0);
  }

  private pick(task: number): void {
    this.slider.value = String(task);
    this.step(task);
  }

  /** Calls up to `k` as they ended, later ones pending; the reason for call `k`. */
  private step(k: number): void {
    const ep = this.episodes[Number(this.picker.value || 0)];
    const step = ep.steps[k];
    this.node.dataset.step = String(k);
    this.stepLabel.textContent = `call ${k + 1} / ${ep.steps.length}`;
    if (this.canvas) {
      const ids = this.finalStates.map((_, i) => i);
      this.canvas.setStates(ids, this.finalStates.map((state, i) => (i <= k ? state : PENDING)));
      this.canvas.selectTask(k);
    }
    if (!step) {
      this.reason.replaceChildren();
      return;
    }
    const agreed = step.expert === null ? "" : step.expert === step.call ? "the expert agrees" : `the expert would call ${step.expert}`;
    this.reason.replaceChildren(
      el("h3", { "data-field": "call" }, step.call),
      el("div", { class: "symphony-run-meta" }, el("span", {}, `reward ${step.reward.toFixed(2)}`), el("span", {}, `value ${step.value.toFixed(2)}`)),
      el("div", { "data-field": "expert" }, agreed),
      el("div", { class: "symphony-subhead" }, "the Conductor's options"),
      ...step.probabilities.map(([name, p]) =>
        el(
          "div",
          { class: "symphony-bar-row", "data-option": name },
          el("span", { class: "symphony-bar-name" }, name),
          el("span", { class: "symphony-bar" }, el("span", { class: "symphony-bar-fill", style: `width:${(100 * p).toFixed(1)}%` })),
          el("span", {}, percent(p)),
        ),
      ),
    );
  }
}
