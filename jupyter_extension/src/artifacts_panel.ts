// The sidebar's Artifacts section: the ArtifactStore a page at a time,
// newest first, filtered by kind or searched in full text; a click opens
// the artifact's view (artifact_view.ts).

import { Widget } from "@lumino/widgets";
import { ago, type ArtifactItem, artifactPage, bytes, searchArtifacts } from "./api";
import { el } from "./dom";

const PAGE = 50;

export class ArtifactsSection extends Widget {
  private list = el("div", { class: "symphony-artifacts-list" });
  private status = el("div", { class: "symphony-message", role: "status" });
  private search = el("input", { type: "search", placeholder: "search the artifacts' text", "aria-label": "search artifacts", class: "symphony-search" });
  private kind = el("input", { placeholder: "kind", "aria-label": "kind", class: "symphony-kind" });
  private pager = el("div", { class: "symphony-pager" });
  private offset = 0;
  private loaded = false;

  constructor(private open: (hash: string) => void) {
    super();
    this.id = "symphony-artifacts";
    this.title.label = "Artifacts";
    this.addClass("symphony-section");
    const form = el("form", { class: "symphony-artifact-query" }, this.search, this.kind);
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      this.offset = 0;
      void this.refresh();
    });
    this.search.addEventListener("search", () => {
      this.offset = 0;
      void this.refresh();
    });
    this.node.append(form, this.status, this.list, this.pager);
  }

  protected onAfterShow(): void {
    if (!this.loaded) void this.refresh();
  }

  async refresh(): Promise<void> {
    this.loaded = true;
    this.status.classList.remove("symphony-error");
    const words = this.search.value.trim();
    const kind = this.kind.value.trim() || undefined;
    try {
      if (words) {
        const hits = await searchArtifacts(words, PAGE, kind);
        this.status.textContent = `${hits.length} found for “${words}”`;
        this.list.replaceChildren(...hits.map((h) => this.row(h.hash, h.names[0] ?? null, h.kind, h.media_type, `score ${h.score.toFixed(3)}`, false)));
        this.pager.replaceChildren();
        return;
      }
      const page = await artifactPage(this.offset, PAGE, kind);
      if (!page.exists) {
        this.status.textContent = `No artifact store at ${page.store} (c.SymphonyArtifacts.store_dir).`;
        this.list.replaceChildren();
        this.pager.replaceChildren();
        return;
      }
      const last = Math.min(page.total, this.offset + page.items.length);
      this.status.textContent = `${page.total.toLocaleString()} artifacts${kind ? ` of kind ${kind}` : ""}; ${page.total ? this.offset + 1 : 0}–${last}`;
      this.list.replaceChildren(...page.items.map((a) => this.item(a)));
      this.pager.replaceChildren(
        el("button", { class: "jp-Button", "data-action": "newer", disabled: this.offset === 0, onclick: () => this.move(-PAGE) }, "‹ newer"),
        el("button", { class: "jp-Button", "data-action": "older", disabled: last >= page.total, onclick: () => this.move(PAGE) }, "older ›"),
      );
    } catch (e) {
      this.status.textContent = String((e as Error).message ?? e);
      this.status.classList.add("symphony-error");
    }
  }

  private move(by: number): void {
    this.offset = Math.max(0, this.offset + by);
    void this.refresh();
  }

  private item(a: ArtifactItem): HTMLElement {
    const name = a.name ? `${a.name} v${a.version}` : null;
    return this.row(a.hash, name, a.kind, a.media_type, `${bytes(a.size)} · ${ago(a.created)}`, a.pinned);
  }

  private row(hash: string, name: string | null, kind: string | null, media: string | null, meta: string, pinned: boolean): HTMLElement {
    return el(
      "div",
      { class: "symphony-artifact", "data-hash": hash, tabindex: 0, title: hash, onclick: () => this.open(hash) },
      el("div", { class: "symphony-run-head" }, el("span", { class: "symphony-run-id" }, name ?? hash.slice(0, 16)), pinned ? el("span", { class: "symphony-pin", title: "pinned" }, "📌") : null),
      el("div", { class: "symphony-run-meta" }, el("span", {}, [kind, media].filter(Boolean).join(" · ") || "—"), el("span", {}, meta)),
    );
  }
}
