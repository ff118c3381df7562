// The patches a render sends (see pit/crates/vdom/src/diff.rs), and a view
// that applies them to the page.

import { Registry } from "./components";

export interface VNodeJson {
  id: number;
  type: string;
  key: string | null;
  props: Record<string, unknown>;
  on: string[];
  children: VNodeJson[];
}

export type Patch =
  | { op: "create"; parent: number | null; before: number | null; node: VNodeJson }
  | { op: "remove"; id: number }
  | { op: "move"; id: number; parent: number; before: number | null }
  | { op: "props"; id: number; set: Record<string, unknown>; unset: string[] }
  | { op: "events"; id: number; on: string[] };

/** What an event handler in Python gets. */
export type Emit = (id: number, event: string, payload: Record<string, unknown>) => void;

interface Mounted {
  type: string;
  el: Node;
  /** Where children go: the element itself, or a part of it. */
  slot: Node;
  props: Record<string, unknown>;
  listeners: Map<string, EventListener>;
}

/** One page's copy of the tree: its nodes by id, under `host`. */
export class View {
  private nodes = new Map<number, Mounted>();
  private rootId: number | null = null;

  constructor(
    private host: HTMLElement,
    private registry: Registry,
    private emit: Emit,
  ) {}

  /** How many nodes the page holds (for tests and the inspector). */
  get size(): number {
    return this.nodes.size;
  }

  apply(patches: Patch[]): void {
    for (const p of patches) {
      switch (p.op) {
        case "create": {
          if (p.parent === null) {
            // A whole new tree: a reset on the Python side numbers it afresh.
            this.nodes.clear();
            this.host.replaceChildren(this.build(p.node));
            this.rootId = p.node.id;
          } else {
            this.insert(this.build(p.node), p.parent, p.before);
          }
          break;
        }
        case "remove": {
          const m = this.nodes.get(p.id);
          if (!m) break;
          m.el.parentNode?.removeChild(m.el);
          this.forget(m.el);
          if (this.rootId === p.id) this.rootId = null;
          break;
        }
        case "move": {
          const m = this.must(p.id);
          this.insert(m.el, p.parent, p.before);
          break;
        }
        case "props": {
          const m = this.must(p.id);
          for (const k of p.unset) delete m.props[k];
          Object.assign(m.props, p.set);
          if (m.type === "#text") (m.el as Text).data = String(m.props.text ?? "");
          else this.registry.get(m.type).update(m.el as HTMLElement, m.props, p.set, p.unset);
          break;
        }
        case "events": {
          const m = this.must(p.id);
          this.listen(p.id, m, p.on);
          break;
        }
      }
    }
  }

  private must(id: number): Mounted {
    const m = this.nodes.get(id);
    if (!m) throw new Error(`symphony vdom: a patch names node ${id}, which the page does not have`);
    return m;
  }

  private insert(el: Node, parent: number, before: number | null): void {
    const slot = this.must(parent).slot;
    const next = before === null ? null : this.must(before).el;
    slot.insertBefore(el, next);
  }

  private mountedOf(node: VNodeJson, el: Node): Mounted {
    return { type: node.type, el, slot: el, props: { ...node.props }, listeners: new Map() };
  }

  private build(node: VNodeJson): Node {
    if (node.type === "#text") {
      const text = document.createTextNode(String(node.props.text ?? ""));
      this.nodes.set(node.id, this.mountedOf(node, text));
      return text;
    }
    const component = this.registry.get(node.type);
    const { el, slot } = component.create(node.props);
    el.dataset.vdomId = String(node.id);
    const m: Mounted = { type: node.type, el, slot: slot ?? el, props: { ...node.props }, listeners: new Map() };
    this.nodes.set(node.id, m);
    this.listen(node.id, m, node.on);
    for (const child of node.children) m.slot.appendChild(this.build(child));
    return el;
  }

  private listen(id: number, m: Mounted, events: string[]): void {
    for (const [name, fn] of m.listeners) {
      if (!events.includes(name)) {
        m.el.removeEventListener(domEvent(name), fn);
        m.listeners.delete(name);
      }
    }
    for (const name of events) {
      if (m.listeners.has(name)) continue;
      const fn: EventListener = (e) => this.emit(id, name, payloadOf(e));
      m.el.addEventListener(domEvent(name), fn);
      m.listeners.set(name, fn);
    }
  }

  private forget(el: Node): void {
    const id = (el as HTMLElement).dataset?.vdomId;
    if (id !== undefined) this.nodes.delete(Number(id));
    else for (const [k, m] of this.nodes) if (m.el === el) this.nodes.delete(k);
    el.childNodes.forEach((c) => this.forget(c));
  }
}

/** Python names events as the library does: `change` for inputs' edits. */
function domEvent(name: string): string {
  return name === "change" ? "change" : name;
}

function payloadOf(e: Event): Record<string, unknown> {
  const t = e.target as HTMLInputElement | null;
  const payload: Record<string, unknown> = { type: e.type };
  if (t && "value" in t && (t.tagName === "INPUT" || t.tagName === "SELECT" || t.tagName === "TEXTAREA")) {
    payload.value = t.type === "range" || t.type === "number" ? Number(t.value) : t.value;
  }
  if (e instanceof MouseEvent) {
    payload.x = e.offsetX;
    payload.y = e.offsetY;
  }
  return payload;
}
