// Drawing a layered DAG on a canvas, thousands of tasks at a time: one pass
// over edges, one over tasks, culled to the view; labels only when zoomed in.

export interface Graph {
  keys: string[];
  layer: number[];
  x: number[];
  edges: [number, number, [number, number][]][];
  states: number[];
  names: string[];
  height: number;
}

/** pending, ready, running, done, failed, skipped, cancelled */
export const COLOURS = ["#c8c8c8", "#6baed6", "#fd8d3c", "#41ab5d", "#de2d26", "#9e9ac8", "#737373"];

const SLOT = 28;
const LAYER = 56;
const W = 18;
const H = 12;

export class Canvas {
  private scale = 1;
  private ox = 0;
  private oy = 0;
  private selected = -1;
  private hits = new Set<number>();
  private folded = new Set<number>();
  private hidden = new Set<number>();
  private children: number[][];
  private pending = false;
  /** Tasks drawn in the last frame. */
  drawn = 0;

  constructor(
    private canvas: HTMLCanvasElement,
    private g: Graph,
    private select: (index: number) => void,
    /** Told after every drawing: a view reports what it drew only then. */
    private onDraw: (canvas: Canvas) => void = () => {},
  ) {
    this.children = g.keys.map(() => []);
    for (const [a, b] of g.edges) this.children[a].push(b);
    this.fit();
    this.bind();
    this.draw();
  }

  stateOf(index: number): string {
    return this.g.names[this.g.states[index]];
  }

  setStates(ids: number[], states: number[]): void {
    ids.forEach((id, i) => (this.g.states[id] = states[i]));
    this.redraw();
  }

  /** Highlights the tasks whose key contains `text`; centres on the first. */
  search(text: string): number {
    this.hits.clear();
    if (text) this.g.keys.forEach((k, i) => k.includes(text) && this.hits.add(i));
    const first = this.hits.values().next();
    if (!first.done) {
      const r = this.canvas.getBoundingClientRect();
      this.scale = Math.max(this.scale, 1);
      this.ox = r.width / 2 - this.px(first.value) * this.scale;
      this.oy = r.height / 2 - this.py(first.value) * this.scale;
    }
    this.redraw();
    return this.hits.size;
  }

  /** Folds (or unfolds) every descendant of `index` into it. */
  toggleFold(index: number): void {
    if (this.folded.has(index)) this.folded.delete(index);
    else this.folded.add(index);
    this.hidden.clear();
    for (const f of this.folded) {
      const stack = [...this.children[f]];
      while (stack.length) {
        const v = stack.pop()!;
        if (this.hidden.has(v) || v === f) continue;
        this.hidden.add(v);
        stack.push(...this.children[v]);
      }
    }
    this.redraw();
  }

  private px(i: number): number {
    return 20 + this.g.x[i] * SLOT;
  }

  private py(i: number): number {
    return 20 + this.g.layer[i] * LAYER;
  }

  private fit(): void {
    const r = this.canvas.getBoundingClientRect();
    const width = Math.max(1, ...this.g.x) * SLOT + 40;
    const height = Math.max(1, ...this.g.layer) * LAYER + 40;
    this.scale = Math.min(1.5, (r.width || 600) / width, (r.height || 400) / height);
    this.ox = ((r.width || 600) - width * this.scale) / 2;
    this.oy = 4;
  }

  private redraw(): void {
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => {
      this.pending = false;
      this.draw();
    });
  }

  private at(clientX: number, clientY: number): number {
    const r = this.canvas.getBoundingClientRect();
    const x = (clientX - r.left - this.ox) / this.scale;
    const y = (clientY - r.top - this.oy) / this.scale;
    let best = -1;
    let bestD = Infinity;
    for (let i = 0; i < this.g.keys.length; i++) {
      if (this.hidden.has(i)) continue;
      const dx = Math.abs(x - this.px(i));
      const dy = Math.abs(y - this.py(i));
      if (dx <= W / 2 + 2 && dy <= H / 2 + 2 && dx + dy < bestD) {
        best = i;
        bestD = dx + dy;
      }
    }
    return best;
  }

  private unbind: (() => void)[] = [];

  /** Removes every listener this canvas added (a new graph gets a new one). */
  dispose(): void {
    for (const undo of this.unbind) undo();
    this.unbind = [];
  }

  private on<K extends keyof WindowEventMap>(
    target: Window | HTMLElement,
    type: K,
    fn: (e: WindowEventMap[K]) => void,
    options?: AddEventListenerOptions,
  ): void {
    target.addEventListener(type, fn as EventListener, options);
    this.unbind.push(() => target.removeEventListener(type, fn as EventListener));
  }

  private bind(): void {
    const c = this.canvas;
    this.on(c, "wheel", (e) => {
      e.preventDefault();
      const r = c.getBoundingClientRect();
      const f = Math.exp(-e.deltaY * 0.0015);
      const mx = e.clientX - r.left;
      const my = e.clientY - r.top;
      this.ox = mx - (mx - this.ox) * f;
      this.oy = my - (my - this.oy) * f;
      this.scale *= f;
      this.redraw();
    }, { passive: false });
    let drag: { x: number; y: number; moved: boolean } | null = null;
    this.on(c, "mousedown", (e) => (drag = { x: e.clientX, y: e.clientY, moved: false }));
    this.on(window, "mousemove", (e) => {
      if (!drag) return;
      const dx = e.clientX - drag.x;
      const dy = e.clientY - drag.y;
      if (Math.abs(dx) + Math.abs(dy) > 2) drag.moved = true;
      this.ox += dx;
      this.oy += dy;
      drag.x = e.clientX;
      drag.y = e.clientY;
      if (drag.moved) this.redraw();
    });
    this.on(window, "mouseup", (e) => {
      if (drag && !drag.moved) {
        const i = this.at(e.clientX, e.clientY);
        if (i >= 0) {
          this.selected = i;
          this.select(i);
          this.redraw();
        }
      }
      drag = null;
    });
    this.on(c, "dblclick", (e) => {
      const i = this.at(e.clientX, e.clientY);
      if (i >= 0) this.toggleFold(i);
    });
    const resize = new ResizeObserver(() => this.redraw());
    resize.observe(c);
    this.unbind.push(() => resize.disconnect());
  }

  /** Where task `i` is on the canvas, in CSS pixels (for tests and tooltips). */
  screenOf(i: number): { x: number; y: number } {
    return { x: this.ox + this.px(i) * this.scale, y: this.oy + this.py(i) * this.scale };
  }

  draw(): void {
    const c = this.canvas;
    const r = c.getBoundingClientRect();
    const ratio = window.devicePixelRatio || 1;
    if (c.width !== Math.round(r.width * ratio) || c.height !== Math.round(r.height * ratio)) {
      c.width = Math.round(r.width * ratio);
      c.height = Math.round(r.height * ratio);
    }
    const ctx = c.getContext("2d");
    if (!ctx) return;
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, r.width, r.height);
    ctx.setTransform(ratio * this.scale, 0, 0, ratio * this.scale, ratio * this.ox, ratio * this.oy);
    // The part of the drawing in view, in drawing units.
    const x0 = -this.ox / this.scale - W;
    const x1 = (r.width - this.ox) / this.scale + W;
    const y0 = -this.oy / this.scale - LAYER;
    const y1 = (r.height - this.oy) / this.scale + LAYER;
    const inView = (i: number) => {
      const x = this.px(i);
      const y = this.py(i);
      return x >= x0 && x <= x1 && y >= y0 && y <= y1;
    };
    ctx.strokeStyle = "rgba(120,120,120,0.45)";
    ctx.lineWidth = 1 / Math.max(this.scale, 0.25);
    ctx.beginPath();
    for (const [a, b, bends] of this.g.edges) {
      if (this.hidden.has(a) || this.hidden.has(b)) continue;
      if (!inView(a) && !inView(b)) continue;
      ctx.moveTo(this.px(a), this.py(a) + H / 2);
      for (const [bx, by] of bends) ctx.lineTo(20 + bx * SLOT, 20 + by * LAYER);
      ctx.lineTo(this.px(b), this.py(b) - H / 2);
    }
    ctx.stroke();
    const labels = this.scale > 0.9;
    ctx.font = "9px sans-serif";
    let drawn = 0;
    for (let i = 0; i < this.g.keys.length; i++) {
      if (this.hidden.has(i) || !inView(i)) continue;
      drawn++;
      const x = this.px(i) - W / 2;
      const y = this.py(i) - H / 2;
      ctx.fillStyle = COLOURS[this.g.states[i]] ?? "#000";
      ctx.fillRect(x, y, W, H);
      if (i === this.selected || this.hits.has(i)) {
        ctx.strokeStyle = i === this.selected ? "#000" : "#e7298a";
        ctx.lineWidth = 2 / Math.max(this.scale, 0.5);
        ctx.strokeRect(x - 1, y - 1, W + 2, H + 2);
      }
      if (this.folded.has(i)) {
        ctx.fillStyle = "#000";
        ctx.fillText("+", x + W + 1, y + H);
      }
      if (labels) {
        ctx.fillStyle = "#222";
        ctx.fillText(this.g.keys[i].slice(0, 24), x, y - 2);
      }
    }
    this.drawn = drawn;
    this.onDraw(this);
  }
}
