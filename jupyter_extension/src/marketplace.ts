// The marketplace of the Extensions section: search the configured
// registries, review what an install would change (the permissions each
// package asks for, shown before anything is written), then install,
// upgrade, roll back or uninstall, with the install's progress step by step.

import { Dialog, showDialog } from "@jupyterlab/apputils";
import { Widget } from "@lumino/widgets";
import {
  type KitHit,
  type KitInstalled,
  type KitJob,
  type KitReview,
  kitJob,
  kitReview,
  kitRollback,
  kitSearch,
  kitStart,
  kitUninstall,
} from "./api";
import { el } from "./dom";

const POLL_MS = 250;

export class Marketplace {
  readonly node = el("div", { class: "symphony-marketplace" });
  private input = el("input", {
    type: "search",
    class: "jp-mod-styled symphony-market-search",
    placeholder: "Search the registries",
    "aria-label": "Search the extension registries",
  });
  private results = el("div", { class: "symphony-market-results" });
  private bar = el("progress", { class: "symphony-progress", max: 1, value: 0 });
  private step = el("span", { class: "symphony-run-meta" });
  private progress = el("div", { class: "symphony-market-progress", hidden: true }, this.bar, this.step);
  private status = el("div", { class: "symphony-message", role: "status" });
  private busy = false;

  /** `changed` redraws what is installed after a change. */
  constructor(private changed: () => Promise<void>) {
    const form = el(
      "form",
      {
        class: "symphony-market-form",
        onsubmit: (e: Event) => {
          e.preventDefault();
          void this.search();
        },
      },
      this.input,
      el("button", { class: "jp-Button", type: "submit", "data-action": "search" }, "Search"),
    );
    this.node.append(form, this.progress, this.status, this.results);
  }

  async search(): Promise<void> {
    this.say("Searching…");
    try {
      const { hits, errors } = await kitSearch(this.input.value.trim());
      this.results.replaceChildren(...hits.map((h) => this.hit(h)));
      this.say(`${hits.length} found` + (errors.length ? `; unreachable: ${errors.join("; ")}` : ""), errors.length > 0);
    } catch (e) {
      this.say(String((e as Error).message ?? e), true);
    }
  }

  private hit(h: KitHit): HTMLElement {
    const action = h.installed === null ? "install" : h.installed !== h.version ? "upgrade" : null;
    return el(
      "div",
      { class: "symphony-market-hit", "data-package": h.name },
      el("span", { class: "symphony-run-id" }, `${h.name} ${h.version}`),
      el("span", { class: "symphony-run-meta" }, h.registries.join(", ")),
      h.installed !== null ? el("span", { class: "symphony-status" }, `installed ${h.installed}`) : null,
      action
        ? el(
            "button",
            { class: "jp-Button", "data-action": action, onclick: () => void this.install([h.name], action === "upgrade") },
            action === "install" ? "Install" : "Upgrade",
          )
        : null,
      el("div", { class: "symphony-market-description" }, h.description),
    );
  }

  /** The buttons of an extension the kit installed: upgrade, roll back, uninstall. */
  actions(x: KitInstalled): HTMLElement {
    return el(
      "span",
      { class: "symphony-kit-actions" },
      x.newest !== x.version
        ? el("button", { class: "jp-Button", "data-action": "upgrade", title: `to ${x.newest}`, onclick: () => void this.install([x.name], true) }, `Upgrade to ${x.newest}`)
        : null,
      x.previous
        ? el("button", { class: "jp-Button", "data-action": "rollback", title: `back to ${x.previous}`, onclick: () => void this.rollback(x.name) }, "Roll back")
        : null,
      el("button", { class: "jp-Button", "data-action": "uninstall", onclick: () => void this.uninstall(x) }, "Uninstall"),
    );
  }

  /** Review, ask, then install and follow the job to its end. */
  async install(targets: string[], upgrade: boolean): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      this.say("Checking signatures and permissions…");
      const changes = await kitReview(targets, upgrade);
      if (!changes.length) {
        this.say(`nothing to change: ${targets.join(", ")} is up to date`);
        return;
      }
      const verb = upgrade ? "Upgrade" : "Install";
      const answer = await showDialog({
        title: `${verb} ${changes.map((c) => `${c.name} ${c.version}`).join(", ")}?`,
        body: reviewBody(changes),
        buttons: [Dialog.cancelButton(), Dialog.okButton({ label: changes.some((c) => c.widened) ? `Accept and ${verb.toLowerCase()}` : verb })],
      });
      if (!answer.button.accept) {
        this.say("cancelled: nothing was installed");
        return;
      }
      const job = await this.follow(await kitStart(targets, upgrade, changes.map((c) => c.text)));
      if (job.state === "failed") this.say(job.error ?? "the install failed", true);
      else this.say(`${upgrade ? "upgraded" : "installed"} ${job.changes.join(", ")}`);
      await Promise.all([this.changed(), this.results.childElementCount ? this.search() : null]);
    } catch (e) {
      this.say(String((e as Error).message ?? e), true);
    } finally {
      this.busy = false;
    }
  }

  private async follow(job: KitJob): Promise<KitJob> {
    this.progress.hidden = false;
    this.progress.dataset.jobState = job.state;
    while (job.state === "running") {
      this.draw(job);
      await new Promise((r) => window.setTimeout(r, POLL_MS));
      job = await kitJob(job.id);
    }
    this.draw(job);
    this.progress.dataset.jobState = job.state;
    return job;
  }

  private draw(job: KitJob): void {
    const total = Math.max(job.total, job.steps.length, 1);
    this.bar.max = total;
    this.bar.value = job.state === "done" ? total : job.steps.length;
    const last = job.steps[job.steps.length - 1];
    this.step.textContent = last ? `${last.package}: ${last.step} (${job.steps.length}/${total})` : "starting…";
  }

  private async rollback(name: string): Promise<void> {
    await this.act(async () => {
      const r = await kitRollback(name);
      this.say(`${name} rolled back to ${r.version}`);
    });
  }

  private async uninstall(x: KitInstalled): Promise<void> {
    const answer = await showDialog({
      title: `Uninstall ${x.name} ${x.version}?`,
      body: "Its files are removed; a process of it started here is stopped first.",
      buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: "Uninstall" })],
    });
    if (!answer.button.accept) return;
    await this.act(async () => {
      await kitUninstall(x.name);
      this.say(`${x.name} uninstalled`);
    });
  }

  private async act(fn: () => Promise<void>): Promise<void> {
    try {
      await fn();
      await this.changed();
    } catch (e) {
      this.say(String((e as Error).message ?? e), true);
    }
  }

  private say(text: string, error = false): void {
    this.status.textContent = text;
    this.status.classList.toggle("symphony-error", error);
  }
}

/** The dialog's body: each change, where it comes from, and what it may do. */
function reviewBody(changes: KitReview[]): Widget {
  const node = el(
    "div",
    { class: "symphony-review" },
    ...changes.map((c) =>
      el(
        "div",
        { class: "symphony-review-change", "data-package": c.name, "data-widened": c.widened ? "yes" : "no" },
        el("div", { class: "symphony-run-id" }, c.installed ? `${c.name} ${c.installed} → ${c.version}` : `${c.name} ${c.version} (new)`),
        el("div", { class: "symphony-run-meta" }, `from ${c.origin}` + (c.key_id ? `, signed by ${c.key_id}` : ", unsigned")),
        el("div", {}, c.widened ? (c.installed ? "asks for more than the installed version:" : "asks for:") : "asks for nothing new:"),
        el("pre", { class: "symphony-permissions", "data-field": "permissions" }, c.permissions.join("\n") || "nothing"),
      ),
    ),
  );
  return new Widget({ node });
}
