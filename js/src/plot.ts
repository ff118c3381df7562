// An interactive line plot on a canvas: axes with round ticks and a grid,
// series that grow as rows arrive, the values under the pointer, smoothing
// (an exponential moving average with TensorBoard's start-up correction)
// and a log scale. Colours come from the page's CSS variables, so a dark
// theme draws light on dark.

export interface PlotSeries {
  name: string;
  x: number[];
  y: number[];
}

export interface PlotOptions {
  title?: string;
  /** 0 (raw) to 0.99: the weight of the past in the moving average. */
  smoothing?: number;
  logY?: boolean;
  height?: number;
}

export const SERIES_COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2"];

const PAD = { left: 52, right: 12, top: 22, bottom: 26 };

/** About `count` round values that span [lo, hi]: steps of 1, 2 or 5 × 10^k. */
export function ticks(lo: number, hi: number, count = 5): number[] {
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) return [];
  if (hi === lo) return [lo];
  const raw = (hi - lo) / Math.max(1, count);
  const power = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw) ?? 10 * power;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(+v.toPrecision(12));
  return out;
}

/** The moving average TensorBoard draws: debiased, so it starts at the first value. */
export function smooth(y: number[], weight: number): number[] {
  if (weight <= 0) return y.slice();
  let last = 0;
  let n = 0;
  return y.map((v) => {
    if (!Number.isFinite(v)) return v;
    last = last * weight + (1 - weight) * v;
    n += 1;
    return last / (1 - Math.pow(weight, n));
  });
}

export function formatNumber(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  if (a !== 0 && (a >= 1e5 || a < 1e-3)) return v.toExponential(1);
  if (a >= 1000) return v.toLocaleString("en-US", { maximumFractionDigits: 0 });
  return String(+v.toPrecision(3));
}

export class Plot {
  readonly canvas: HTMLCanvasElement;
  private series = new Map<string, PlotSeries>();
  private hoverX: number | null = null;
  private pending = false;
  private opts: Required<PlotOptions>;

  constructor(
    private host: HTMLElement,
    options: PlotOptions = {},
  ) {
    this.opts = { title: "", smoothing: 0, logY: false, height: 180, ...options };
    this.canvas = document.createElement("canvas");
    this.canvas.className = "symphony-plot";
    this.canvas.style.width = "100%";
    this.canvas.style.height = `${this.opts.height}px`;
    host.appendChild(this.canvas);
    this.canvas.addEventListener("mousemove", (e) => {
      const box = this.canvas.getBoundingClientRect();
      this.hoverX = e.clientX - box.left;
      this.redraw();
    });
    this.canvas.addEventListener("mouseleave", () => {
      this.hoverX = null;
      this.redraw();
    });
  }

  set smoothing(weight: number) {
    this.opts.smoothing = Math.min(0.99, Math.max(0, weight));
    this.redraw();
  }

  set logY(on: boolean) {
    this.opts.logY = on;
    this.redraw();
  }

  /** Replaces every series. */
  setSeries(all: PlotSeries[]): void {
    this.series = new Map(all.map((s) => [s.name, { name: s.name, x: [...s.x], y: [...s.y] }]));
    this.redraw();
  }

  /** Adds one point to a series (made when new). */
  append(name: string, x: number, y: number): void {
    let s = this.series.get(name);
    if (!s) this.series.set(name, (s = { name, x: [], y: [] }));
    s.x.push(x);
    s.y.push(y);
    this.redraw();
  }

  get points(): number {
    let n = 0;
    for (const s of this.series.values()) n += s.y.length;
    return n;
  }

  /** Draws on the next frame, once however many changes came before it. */
  redraw(): void {
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => {
      this.pending = false;
      this.draw();
    });
  }

  draw(): void {
    const width = this.canvas.clientWidth || this.host.clientWidth || 360;
    const height = this.opts.height;
    const ratio = window.devicePixelRatio || 1;
    this.canvas.width = Math.round(width * ratio);
    this.canvas.height = Math.round(height * ratio);
    const ctx = this.canvas.getContext("2d");
    if (!ctx) return;
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, width, height);
    const style = getComputedStyle(this.host);
    const ink = style.getPropertyValue("--jp-ui-font-color1").trim() || "#333";
    const faint = style.getPropertyValue("--jp-border-color2").trim() || "#ddd";
    ctx.font = "11px sans-serif";
    ctx.fillStyle = ink;
    ctx.fillText(this.opts.title + (this.opts.logY ? " (log)" : ""), PAD.left, 13);

    const logY = this.opts.logY;
    const ty = (v: number) => (logY ? (v > 0 ? Math.log10(v) : NaN) : v);
    const drawn = [...this.series.values()].map((s) => ({
      name: s.name,
      x: s.x,
      y: smooth(s.y, this.opts.smoothing).map(ty),
      raw: s.y,
    }));
    const xs = drawn.flatMap((s) => s.x).filter(Number.isFinite);
    const ys = drawn.flatMap((s) => s.y).filter(Number.isFinite);
    this.canvas.dataset.points = String(this.points);
    if (ys.length === 0) {
      ctx.fillText("no values yet", PAD.left, height / 2);
      return;
    }
    let [x0, x1] = [Math.min(...xs), Math.max(...xs)];
    let [y0, y1] = [Math.min(...ys), Math.max(...ys)];
    if (x0 === x1) [x0, x1] = [x0 - 1, x1 + 1];
    if (y0 === y1) [y0, y1] = [y0 - 0.5, y1 + 0.5];
    const margin = (y1 - y0) * 0.05;
    [y0, y1] = [y0 - margin, y1 + margin];
    const right = width - PAD.right;
    const bottom = height - PAD.bottom;
    const sx = (x: number) => PAD.left + ((x - x0) / (x1 - x0)) * (right - PAD.left);
    const sy = (y: number) => bottom - ((y - y0) / (y1 - y0)) * (bottom - PAD.top);

    ctx.strokeStyle = faint;
    ctx.lineWidth = 1;
    ctx.textAlign = "right";
    for (const v of logY ? ticks(Math.ceil(y0), Math.floor(y1)) : ticks(y0, y1)) {
      const y = Math.round(sy(v)) + 0.5;
      ctx.beginPath();
      ctx.moveTo(PAD.left, y);
      ctx.lineTo(right, y);
      ctx.stroke();
      ctx.fillText(formatNumber(logY ? Math.pow(10, v) : v), PAD.left - 4, y + 3);
    }
    ctx.textAlign = "center";
    for (const v of ticks(x0, x1, Math.max(2, Math.floor((right - PAD.left) / 80)))) {
      const x = Math.round(sx(v)) + 0.5;
      ctx.beginPath();
      ctx.moveTo(x, bottom);
      ctx.lineTo(x, bottom + 4);
      ctx.stroke();
      ctx.fillText(formatNumber(v), x, bottom + 15);
    }
    ctx.strokeStyle = ink;
    ctx.beginPath();
    ctx.moveTo(PAD.left + 0.5, PAD.top);
    ctx.lineTo(PAD.left + 0.5, bottom + 0.5);
    ctx.lineTo(right, bottom + 0.5);
    ctx.stroke();

    ctx.save();
    ctx.beginPath();
    ctx.rect(PAD.left, PAD.top - 2, right - PAD.left, bottom - PAD.top + 4);
    ctx.clip();
    drawn.forEach((s, k) => {
      ctx.strokeStyle = SERIES_COLOURS[k % SERIES_COLOURS.length];
      ctx.lineWidth = 1.6;
      ctx.beginPath();
      let open = false;
      s.x.forEach((x, i) => {
        const y = s.y[i];
        if (!Number.isFinite(y)) {
          open = false;
          return;
        }
        if (open) ctx.lineTo(sx(x), sy(y));
        else ctx.moveTo(sx(x), sy(y));
        open = true;
      });
      ctx.stroke();
    });
    ctx.restore();

    ctx.textAlign = "left";
    if (drawn.length > 1) {
      let at = right;
      for (let k = drawn.length - 1; k >= 0; k--) {
        at -= ctx.measureText(drawn[k].name).width + 18;
        ctx.fillStyle = SERIES_COLOURS[k % SERIES_COLOURS.length];
        ctx.fillRect(at, 6, 10, 8);
        ctx.fillStyle = ink;
        ctx.fillText(drawn[k].name, at + 13, 13);
      }
    }

    if (this.hoverX !== null && this.hoverX >= PAD.left && this.hoverX <= right) {
      const x = x0 + ((this.hoverX - PAD.left) / (right - PAD.left)) * (x1 - x0);
      const lines: [string, string][] = [];
      let at = this.hoverX;
      drawn.forEach((s, k) => {
        const i = nearest(s.x, x);
        if (i < 0) return;
        at = sx(s.x[i]);
        const shown = this.opts.smoothing > 0 ? smooth(s.raw, this.opts.smoothing)[i] : s.raw[i];
        lines.push([SERIES_COLOURS[k % SERIES_COLOURS.length], `${s.name || "y"} ${formatNumber(shown)}`]);
        if (Number.isFinite(s.y[i])) {
          ctx.fillStyle = SERIES_COLOURS[k % SERIES_COLOURS.length];
          ctx.beginPath();
          ctx.arc(sx(s.x[i]), sy(s.y[i]), 3, 0, 2 * Math.PI);
          ctx.fill();
        }
      });
      ctx.strokeStyle = faint;
      ctx.beginPath();
      ctx.moveTo(at + 0.5, PAD.top);
      ctx.lineTo(at + 0.5, bottom);
      ctx.stroke();
      const label = `x ${formatNumber(x0 + ((at - PAD.left) / (right - PAD.left)) * (x1 - x0))}`;
      const texts = [label, ...lines.map((l) => l[1])];
      const boxW = Math.max(...texts.map((t) => ctx.measureText(t).width)) + 12;
      const boxX = at + boxW + 8 > right ? at - boxW - 6 : at + 6;
      ctx.fillStyle = style.getPropertyValue("--jp-layout-color1").trim() || "#fff";
      ctx.globalAlpha = 0.9;
      ctx.fillRect(boxX, PAD.top, boxW, 14 * texts.length + 4);
      ctx.globalAlpha = 1;
      texts.forEach((t, i) => {
        ctx.fillStyle = i === 0 ? ink : lines[i - 1][0];
        ctx.fillText(t, boxX + 6, PAD.top + 13 + 14 * i);
      });
      this.canvas.dataset.hover = texts.join("; ");
    }
  }
}

/** The index of the value in sorted `xs` closest to `x`, or -1 when empty. */
export function nearest(xs: number[], x: number): number {
  if (xs.length === 0) return -1;
  let lo = 0;
  let hi = xs.length - 1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (xs[mid] < x) lo = mid;
    else hi = mid;
  }
  return Math.abs(xs[lo] - x) <= Math.abs(xs[hi] - x) ? lo : hi;
}
