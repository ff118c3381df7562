// Drawing a layered DAG on a canvas, thousands of tasks at a time: one pass
// over edges, one over tasks, culled to the view. Zoomed out, tasks keep a
// least size on screen and edges fade with their number, so states stay
// legible at 5,000+ tasks; names are drawn at screen size wherever there is
// room for them (the selected and found tasks first); states can be
// filtered out.

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
  /** States not drawn (filtered out). */
  private filtered = new Set<number>();
  private children: number[][];
  private pending = false;
  /** Tasks drawn in the last frame, and how many of them got a name. */
  drawn = 0;
  labelled = 0;

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

  /** Draws only tasks whose state is in `states` (indices into the graph's names). */
  filterStates(states: number[]): void {
    this.filtered = new Set(this.g.names.map((_, i) => i).filter((i) => !states.includes(i)));
    this.redraw();
  }

  /** Zooms and pans so the whole graph is in view. */
  fitView(): void {
    this.fit();
    this.redraw();
  }

  /** Selects a task as a click would (the details follow), and centres it when asked. */
  selectTask(index: number, centre = false): void {
    this.selected = index;
    if (centre) {
      const r = this.canvas.getBoundingClientRect();
      this.ox = r.width / 2 - this.px(index) * this.scale;
      this.oy = r.height / 2 - this.py(index) * this.scale;
    }
    this.redraw();
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
      if (this.hidden.has(i) || this.filtered.has(this.g.states[i])) continue;
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

  /** Names at screen size where they fit without overlap: the selected and
   * found tasks first, then the others in order; one per 14 px row band. */
  private label(ctx: CanvasRenderingContext2D, visible: number[], ratio: number, width: number, height: number): number {
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.font = "11px sans-serif";
    ctx.textBaseline = "bottom";
    const taken: [number, number, number, number][] = [];
    const free = (x: number, y: number, w: number) =>
      !taken.some(([tx, ty, tw, th]) => x < tx + tw && tx < x + w && y < ty + th && ty < y + 13);
    const first = visible.filter((i) => i === this.selected || this.hits.has(i));
    const rest = this.scale >= 0.35 ? visible.filter((i) => i !== this.selected && !this.hits.has(i)) : [];
    let count = 0;
    for (const i of [...first, ...rest]) {
      const sx = this.ox + this.px(i) * this.scale;
      const sy = this.oy + (this.py(i) - H / 2) * this.scale - 1;
      const text = this.g.keys[i].length > 28 ? `${this.g.keys[i].slice(0, 27)}…` : this.g.keys[i];
      const tw = ctx.measureText(text).width;
      const x = sx - tw / 2;
      const y = sy - 13;
      if (x > width || y > height || x + tw < 0 || y + 13 < 0) continue;
      if (!free(x, y, tw)) continue;
      taken.push([x - 2, y, tw + 4, 13]);
      ctx.fillStyle = "rgba(255,255,255,0.75)";
      ctx.fillRect(x - 1, y + 1, tw + 2, 12);
      ctx.fillStyle = "#222";
      ctx.fillText(text, x, sy);
      count++;
      if (count > 400) break; // more would be unreadable anyway
    }
    return count;
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
    const shown = (i: number) => !this.hidden.has(i) && !this.filtered.has(this.g.states[i]);
    let edgesInView = 0;
    for (const [a, b] of this.g.edges) if (inView(a) || inView(b)) edgesInView++;
    // Many edges in view fade, so that the tasks' colours stay readable.
    const alpha = Math.min(0.5, Math.max(0.06, 0.5 * Math.sqrt(300 / Math.max(1, edgesInView))));
    ctx.strokeStyle = `rgba(120,120,120,${alpha.toFixed(3)})`;
    ctx.lineWidth = 1 / Math.max(this.scale, 0.25);
    ctx.beginPath();
    for (const [a, b, bends] of this.g.edges) {
      if (!shown(a) || !shown(b)) continue;
      if (!inView(a) && !inView(b)) continue;
      ctx.moveTo(this.px(a), this.py(a) + H / 2);
      for (const [bx, by] of bends) ctx.lineTo(20 + bx * SLOT, 20 + by * LAYER);
      ctx.lineTo(this.px(b), this.py(b) - H / 2);
    }
    ctx.stroke();
    // A task never shrinks below 3 screen pixels.
    const w = Math.max(W, 3 / this.scale);
    const h = Math.max(H, 3 / this.scale);
    let drawn = 0;
    const visible: number[] = [];
    for (let i = 0; i < this.g.keys.length; i++) {
      if (!shown(i) || !inView(i)) continue;
      drawn++;
      visible.push(i);
      const x = this.px(i) - w / 2;
      const y = this.py(i) - h / 2;
      ctx.fillStyle = COLOURS[this.g.states[i]] ?? "#000";
      ctx.fillRect(x, y, w, h);
      if (i === this.selected || this.hits.has(i)) {
        ctx.strokeStyle = i === this.selected ? "#000" : "#e7298a";
        ctx.lineWidth = 2 / Math.max(this.scale, 0.5);
        ctx.strokeRect(x - 1, y - 1, w + 2, h + 2);
      }
      if (this.folded.has(i)) {
        ctx.fillStyle = "#000";
        ctx.font = `${9 / Math.max(this.scale, 0.1)}px sans-serif`;
        ctx.fillText("+", x + w + 1, y + h);
      }
    }
    this.labelled = this.label(ctx, visible, ratio, r.width, r.height);
    this.drawn = drawn;
    this.onDraw(this);
  }
}
