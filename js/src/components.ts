// The component types a tree may use: the HTML elements and the small
// library of components.json (symphony_lab/pit/components.json, which the
// Python side reads too; src/ links to it), and nothing else.

import registryJson from "./components.json";
import { drawLineChart } from "./chart";
import { renderMarkdown } from "./markdown";

export interface Component {
  /** The element, and where its children go when not in the element itself. */
  create(props: Record<string, unknown>): { el: HTMLElement; slot?: Node };
  /** Applies changed props (all current `props`, with what was `set` and `unset`). */
  update(el: HTMLElement, props: Record<string, unknown>, set: Record<string, unknown>, unset: string[]): void;
}

const text = (v: unknown): string => (v === null || v === undefined ? "" : String(v));

const URL_PROPS = new Set(["href", "src", "action", "formaction", "xlink:href", "poster"]);

/** http(s), mailto, images as data, or a relative or in-page address. */
export function safeUrl(url: string): boolean {
  const scheme = /^\s*([a-zA-Z][a-zA-Z0-9+.-]*):/.exec(url);
  if (!scheme) return true;
  const s = scheme[1].toLowerCase();
  return s === "http" || s === "https" || s === "mailto" || (s === "data" && /^\s*data:image\//i.test(url));
}

function setAttr(el: HTMLElement, name: string, value: unknown): void {
  if (name === "style" && value !== null && typeof value === "object") {
    el.removeAttribute("style");
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      el.style.setProperty(k.replace(/_/g, "-"), text(v));
    }
    return;
  }
  const attr = name === "class_name" ? "class" : name;
  // Python refuses these already; a page never takes script from props.
  if (/^on/i.test(attr) || (URL_PROPS.has(attr) && typeof value === "string" && !safeUrl(value))) return;
  if (value === false || value === null || value === undefined) el.removeAttribute(attr);
  else if (value === true) el.setAttribute(attr, "");
  else if (typeof value !== "object") el.setAttribute(attr, String(value));
}

/** A plain HTML element: props are attributes. */
function element(tag: string): Component {
  return {
    create(props) {
      const el = document.createElement(tag);
      for (const [k, v] of Object.entries(props)) setAttr(el, k, v);
      return { el };
    },
    update(el, _props, set, unset) {
      for (const k of unset) setAttr(el, k, null);
      for (const [k, v] of Object.entries(set)) setAttr(el, k, v);
    },
  };
}

/** A library component whose look is redrawn from all its props on change. */
function drawn(tag: string, draw: (el: HTMLElement, props: Record<string, unknown>) => void): Component {
  return {
    create(props) {
      const el = document.createElement(tag);
      el.className = `symphony-${tag}`;
      draw(el, props);
      return { el };
    },
    update(el, props) {
      draw(el, props);
    },
  };
}

const library: Record<string, Component> = {
  button: {
    create(props) {
      const el = document.createElement("button");
      const label = document.createElement("span");
      label.textContent = text(props.label);
      el.append(label);
      if (props.disabled) el.disabled = true;
      return { el };
    },
    update(el, props) {
      (el.firstChild as HTMLElement).textContent = text(props.label);
      (el as HTMLButtonElement).disabled = Boolean(props.disabled);
    },
  },
  text_input: {
    create(props) {
      const el = document.createElement("input");
      el.type = "text";
      el.value = text(props.value);
      el.placeholder = text(props.placeholder);
      return { el };
    },
    update(el, props) {
      const input = el as HTMLInputElement;
      if (document.activeElement !== input) input.value = text(props.value);
      input.placeholder = text(props.placeholder);
    },
  },
  select: {
    create(props) {
      const el = document.createElement("select");
      library.select.update(el, props, props, []);
      return { el };
    },
    update(el, props) {
      const select = el as HTMLSelectElement;
      const options = Array.isArray(props.options) ? props.options.map(text) : [];
      select.replaceChildren(
        ...options.map((o) => {
          const opt = document.createElement("option");
          opt.value = o;
          opt.textContent = o;
          return opt;
        }),
      );
      select.value = text(props.value);
    },
  },
  slider: {
    create(props) {
      const el = document.createElement("input");
      el.type = "range";
      library.slider.update(el, props, props, []);
      return { el };
    },
    update(el, props) {
      const input = el as HTMLInputElement;
      input.min = text(props.min ?? 0);
      input.max = text(props.max ?? 100);
      input.step = text(props.step ?? 1);
      if (document.activeElement !== input) input.value = text(props.value ?? props.min ?? 0);
    },
  },
  data_table: drawn("table", (el, props) => {
    const head = document.createElement("thead");
    const columns = Array.isArray(props.columns) ? props.columns : [];
    head.append(row("th", columns));
    const body = document.createElement("tbody");
    const rows = Array.isArray(props.rows) ? props.rows : [];
    for (const r of rows) body.append(row("td", Array.isArray(r) ? r : [r]));
    el.replaceChildren(head, body);
  }),
  markdown: drawn("div", (el, props) => renderMarkdown(el, text(props.text))),
  code_block: drawn("pre", (el, props) => {
    const code = document.createElement("code");
    code.textContent = text(props.text);
    el.replaceChildren(code);
  }),
  image: {
    create(props) {
      const el = document.createElement("img");
      library.image.update(el, props, props, []);
      return { el };
    },
    update(el, props) {
      const img = el as HTMLImageElement;
      img.src = safeUrl(text(props.src)) ? text(props.src) : "";
      img.alt = text(props.alt);
      if (props.width !== undefined) img.width = Number(props.width);
    },
  },
  line_chart: drawn("canvas", (el, props) => drawLineChart(el as HTMLCanvasElement, props)),
};

function row(cell: "th" | "td", values: unknown[]): HTMLTableRowElement {
  const tr = document.createElement("tr");
  for (const v of values) {
    const c = document.createElement(cell);
    c.textContent = text(v);
    tr.append(c);
  }
  return tr;
}

/** The registry: every type of components.json, each with its component. */
export class Registry {
  private components = new Map<string, Component>();

  constructor() {
    for (const tag of registryJson.html) this.components.set(tag, element(tag));
    for (const name of registryJson.library) {
      if (this.components.has(name)) {
        throw new Error(`symphony vdom: components.json lists '${name}' both as an HTML element and a component`);
      }
      const c = library[name];
      if (!c) throw new Error(`symphony vdom: components.json lists '${name}', which the front end does not draw`);
      this.components.set(name, c);
    }
  }

  get(type: string): Component {
    const c = this.components.get(type);
    if (!c) throw new Error(`symphony vdom: '${type}' is not a registered component type`);
    return c;
  }

  get types(): string[] {
    return [...this.components.keys()];
  }
}
