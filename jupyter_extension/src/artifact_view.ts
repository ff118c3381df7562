// An artifact in the main area: its metadata, names, tags, pin, lineage
// (what it was made from, as a tree of inputs), and a preview of its
// content: text, JSON (pretty), CSV (a table), images.

import { Widget } from "@lumino/widgets";
import { type ArtifactDetail, artifactContent, artifactDetail, bytes, pinArtifact, unpinArtifact } from "./api";
import { el } from "./dom";

/** Bytes read for a text preview. */
const TEXT_PREVIEW = 64 * 1024;
const IMAGES = new Set(["image/png", "image/jpeg", "image/gif", "image/webp"]);

export class ArtifactView extends Widget {
  private head = el("div", { class: "symphony-artifact-head" });
  private preview = el("div", { class: "symphony-preview" });
  private lineage = el("div", { class: "symphony-lineage" });
  private url: string | null = null;

  constructor(
    readonly hash: string,
    private open: (hash: string) => void,
  ) {
    super();
    this.id = `symphony-artifact-${hash.slice(0, 16)}`;
    this.addClass("symphony-run-view");
    this.addClass("symphony-artifact-view");
    this.title.label = hash.slice(0, 12);
    this.title.closable = true;
    this.node.append(this.head, el("h2", {}, "Preview"), this.preview, el("h2", {}, "Lineage"), this.lineage);
  }

  protected onAfterAttach(): void {
    void this.load();
  }

  dispose(): void {
    if (this.url) URL.revokeObjectURL(this.url);
    super.dispose();
  }

  async load(): Promise<void> {
    let d: ArtifactDetail;
    try {
      d = await artifactDetail(this.hash);
    } catch (e) {
      this.head.replaceChildren(el("div", { class: "symphony-error" }, String((e as Error).message ?? e)));
      return;
    }
    this.title.label = d.tags.length ? `${this.hash.slice(0, 8)} ${d.tags[0]}` : this.hash.slice(0, 12);
    this.node.dataset.pinned = String(d.pinned);
    const rows: [string, string][] = [
      ["hash", d.hash],
      ["kind", d.kind ?? "—"],
      ["media type", d.media_type ?? "—"],
      ["size", `${bytes(d.size)} (stored ${bytes(d.stored_size)}, ${d.encoding}${d.inline ? ", inline" : ""})`],
      ["producer", d.producer ?? "—"],
      ["quality", d.quality === null ? "—" : String(d.quality)],
      ["tags", d.tags.join(", ") || "—"],
      ["created", new Date(d.created * 1000).toLocaleString()],
      ["read", `${d.access_count} times, last ${new Date(d.accessed * 1000).toLocaleString()}`],
      ["pinned", d.pinned ? `yes${d.pin_reason ? `: ${d.pin_reason}` : ""}` : "no"],
    ];
    const toggle = el(
      "button",
      { class: "jp-Button", "data-action": d.pinned ? "unpin" : "pin", onclick: () => void this.pin(!d.pinned) },
      d.pinned ? "Unpin" : "Pin",
    );
    this.head.replaceChildren(
      el("div", { class: "symphony-run-title" }, el("h1", {}, this.hash.slice(0, 16)), toggle),
      el("table", { class: "symphony-table symphony-params" }, ...rows.map(([k, v]) => el("tr", {}, el("th", {}, k), el("td", {}, v)))),
    );
    this.drawLineage(d);
    await this.drawPreview(d);
  }

  private async pin(on: boolean): Promise<void> {
    await (on ? pinArtifact(this.hash, "pinned in JupyterLab") : unpinArtifact(this.hash));
    await this.load();
  }

  private drawLineage(d: ArtifactDetail): void {
    if (d.lineage.length === 0) {
      this.lineage.replaceChildren(el("p", { class: "symphony-empty" }, "Made from nothing stored: no inputs."));
      return;
    }
    const inputs = new Map<string, string[]>();
    for (const [child, input] of d.lineage) inputs.set(child, [...(inputs.get(child) ?? []), input]);
    const seen = new Set<string>();
    const node = (hash: string): HTMLElement => {
      const item = el("li", {}, el("a", { href: "#", "data-hash": hash, onclick: (e: Event) => (e.preventDefault(), this.open(hash)) }, hash.slice(0, 16)));
      if (!seen.has(hash)) {
        seen.add(hash);
        const below = inputs.get(hash) ?? [];
        if (below.length) item.append(el("ul", {}, ...below.map(node)));
      }
      return item;
    };
    this.lineage.replaceChildren(el("ul", { class: "symphony-tree" }, node(d.hash)));
  }

  private async drawPreview(d: ArtifactDetail): Promise<void> {
    const media = d.media_type ?? "";
    try {
      if (IMAGES.has(media)) {
        const { blob } = await artifactContent(this.hash);
        if (this.url) URL.revokeObjectURL(this.url);
        this.url = URL.createObjectURL(blob);
        this.preview.replaceChildren(el("img", { src: this.url, alt: d.hash, class: "symphony-image" }));
        this.preview.dataset.preview = "image";
        return;
      }
      const { blob, size } = await artifactContent(this.hash, TEXT_PREVIEW);
      const raw = new Uint8Array(await blob.arrayBuffer());
      let text: string;
      try {
        text = new TextDecoder("utf-8", { fatal: true }).decode(raw);
      } catch {
        this.preview.replaceChildren(el("p", { class: "symphony-empty" }, `Binary content (${media || "no media type"}), ${bytes(size)}.`));
        this.preview.dataset.preview = "binary";
        return;
      }
      const cut = size > raw.length ? `\n… (${bytes(size - raw.length)} more)` : "";
      if (media === "text/csv" || d.kind === "table") {
        this.preview.replaceChildren(csvTable(text));
        this.preview.dataset.preview = "table";
      } else if (media.includes("json") || looksJson(text)) {
        let shown = text;
        try {
          shown = JSON.stringify(JSON.parse(text), null, 2);
        } catch {
          /* cut short or not JSON after all: shown as it is */
        }
        this.preview.replaceChildren(el("pre", { class: "symphony-log" }, shown + cut));
        this.preview.dataset.preview = "json";
      } else {
        this.preview.replaceChildren(el("pre", { class: "symphony-log" }, text + cut));
        this.preview.dataset.preview = "text";
      }
    } catch (e) {
      this.preview.replaceChildren(el("div", { class: "symphony-error" }, String((e as Error).message ?? e)));
    }
  }
}

const looksJson = (text: string) => /^\s*[[{]/.test(text);

/** The first rows of a CSV as a table (quoted fields with commas and quotes). */
export function csvTable(text: string, rows = 50): HTMLElement {
  const lines: string[][] = [];
  let field = "";
  let line: string[] = [];
  let quoted = false;
  for (let i = 0; i < text.length && lines.length <= rows; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ",") {
      line.push(field);
      field = "";
    } else if (c === "\n" || c === "\r") {
      if (c === "\r" && text[i + 1] === "\n") i++;
      line.push(field);
      lines.push(line);
      line = [];
      field = "";
    } else field += c;
  }
  if (field || line.length) lines.push([...line, field]);
  const [header, ...body] = lines;
  return el(
    "table",
    { class: "symphony-table", "data-table": "csv" },
    el("tr", {}, ...(header ?? []).map((h) => el("th", {}, h))),
    ...body.slice(0, rows).map((r) => el("tr", {}, ...r.map((v) => el("td", {}, v)))),
  );
}
