// The sidebar's Extensions section: the marketplace (search, install,
// upgrade), then every installed Stage extension with its manifest (kind,
// version, functions, permissions, resources), what it still needs, and,
// once started in the server, its live state and restarts; those the kit
// installed can be upgraded, rolled back and uninstalled here.

import { Widget } from "@lumino/widgets";
import { type InstalledExtension, type KitInstalled, kitInstalled, listExtensions, startExtension, stopExtension } from "./api";
import { el } from "./dom";
import { Marketplace } from "./marketplace";

const KIT = "symphony kit";

export class ExtensionsSection extends Widget {
  private list = el("div", { class: "symphony-extensions-list" });
  private status = el("div", { class: "symphony-message", role: "status" });
  private market = new Marketplace(() => this.refresh());

  constructor() {
    super();
    this.id = "symphony-extensions";
    this.title.label = "Extensions";
    this.addClass("symphony-section");
    this.node.append(el("h2", {}, "Marketplace"), this.market.node, el("h2", {}, "Installed"), this.status, this.list);
  }

  private timer: number | undefined;

  protected onAfterShow(): void {
    void this.refresh();
    // Live state and restarts: asked again while the section is shown.
    window.clearInterval(this.timer);
    this.timer = window.setInterval(() => {
      if (this.isVisible) void this.refresh(false);
    }, 3000);
  }

  protected onAfterHide(): void {
    window.clearInterval(this.timer);
  }

  dispose(): void {
    window.clearInterval(this.timer);
    super.dispose();
  }

  private kit = new Map<string, KitInstalled>();
  private kitErrors: string[] = [];

  /** `registries`: ask the registries again what is newer (not on the live timer). */
  async refresh(registries = true): Promise<void> {
    try {
      const [all, kit] = await Promise.all([listExtensions(), registries ? kitInstalled() : null]);
      if (kit) {
        this.kit = new Map(kit.installed.map((k) => [k.name, k]));
        this.kitErrors = kit.errors;
      }
      const byKit = this.kit;
      this.status.textContent = `${all.length} installed` + (this.kitErrors.length ? `; registries unreachable: ${this.kitErrors.join("; ")}` : "");
      this.status.classList.remove("symphony-error");
      // Redrawn every few seconds: what the user opened stays open.
      const open = new Set([...this.list.querySelectorAll("details[open]")].map((d) => (d as HTMLElement).dataset.extension));
      this.list.replaceChildren(...all.map((x) => this.item(x, x.distribution === KIT ? byKit.get(x.name) : undefined)));
      for (const d of this.list.querySelectorAll("details")) {
        if (open.has((d as HTMLElement).dataset.extension)) (d as HTMLDetailsElement).open = true;
      }
    } catch (e) {
      this.status.textContent = String((e as Error).message ?? e);
      this.status.classList.add("symphony-error");
    }
  }

  private async act(fn: () => Promise<unknown>): Promise<void> {
    this.status.textContent = "…";
    try {
      await fn();
    } catch (e) {
      this.status.textContent = String((e as Error).message ?? e);
      this.status.classList.add("symphony-error");
      return;
    }
    await this.refresh();
  }

  private item(x: InstalledExtension, kit: KitInstalled | undefined): HTMLElement {
    const m = x.manifest;
    const live = x.state !== "not started" && x.state !== "broken" && x.state !== "stopped";
    const body = el("div", { class: "symphony-extension-body" });
    if (m) {
      if (m.description) body.append(el("p", {}, m.description));
      body.append(
        el(
          "table",
          { class: "symphony-table" },
          el("tr", {}, el("th", {}, "function"), el("th", {}, "inputs → outputs"), el("th", {}, "effects"), el("th", {}, "cost")),
          ...m.functions.map((f) =>
            el(
              "tr",
              { title: f.description },
              el("td", {}, f.name),
              el("td", {}, `${Object.keys(f.inputs).join(", ") || "–"} → ${f.outputs.join(", ") || "–"}`),
              el("td", {}, f.side_effects.join(", ") || (f.deterministic ? "none" : "nondeterministic")),
              el("td", {}, String(f.cost)),
            ),
          ),
        ),
        el("pre", { class: "symphony-permissions", "data-field": "permissions" }, JSON.stringify(m.permissions, null, 1)),
      );
    }
    if (x.sandbox) {
      const degraded = x.sandbox.includes("DEGRADED");
      body.append(el("div", { class: degraded ? "symphony-error" : "symphony-run-meta", "data-field": "sandbox" }, x.sandbox));
    }
    if (x.missing?.length) body.append(el("div", { class: "symphony-error" }, `needs ${x.missing.join(", ")}`));
    if (x.error) body.append(el("div", { class: "symphony-error" }, x.error));
    const button = m
      ? live
        ? el("button", { class: "jp-Button", "data-action": "stop", onclick: () => void this.act(() => stopExtension(x.name)) }, "Stop")
        : el("button", { class: "jp-Button", "data-action": "start", disabled: Boolean(x.missing?.length), onclick: () => void this.act(() => startExtension(x.name)) }, "Start")
      : null;
    return el(
      "details",
      { class: "symphony-extension", "data-extension": x.name, "data-state": x.state },
      el(
        "summary",
        {},
        el("span", { class: "symphony-run-id" }, m ? `${x.name} ${m.version}` : x.name),
        el("span", { class: "symphony-run-meta" }, m ? `${m.kind} · ${m.functions.length} functions` : ""),
        el("span", { class: `symphony-status symphony-state-${x.state.replace(/\s/g, "-")}` }, live ? `${x.state} · ${x.restarts ?? 0} restarts` : x.state),
        button,
        kit ? this.market.actions(kit) : null,
      ),
      body,
    );
  }
}
