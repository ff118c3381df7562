// The line chart: one or more series drawn on a canvas, with the range of
// each axis written at its ends. Props: `x` and `y` (one series), or
// `series: [{name, x, y}]`; `title`; `width`, `height` in CSS pixels.

interface Series {
  name: string;
  x: number[];
  y: number[];
}

const COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b"];

const numbers = (v: unknown): number[] =>
  Array.isArray(v) ? v.map(Number).filter((n) => Number.isFinite(n)) : [];

function seriesOf(props: Record<string, unknown>): Series[] {
  const raw = Array.isArray(props.series) ? props.series : [{ name: "", x: props.x, y: props.y }];
  return raw.map((s: Record<string, unknown>) => {
    const y = numbers(s.y);
    const x = numbers(s.x);
    return { name: String(s.name ?? ""), y, x: x.length === y.length ? x : y.map((_, i) => i) };
  });
}

export function drawLineChart(canvas: HTMLCanvasElement, props: Record<string, unknown>): void {
  const width = Number(props.width ?? 360);
  const height = Number(props.height ?? 160);
  const ratio = window.devicePixelRatio || 1;
  canvas.width = width * ratio;
  canvas.height = height * ratio;
  canvas.style.width = `${width}px`;
  canvas.style.height = `${height}px`;
  const ctx = canvas.getContext("2d");
  if (!ctx) return;
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.clearRect(0, 0, width, height);
  ctx.font = "11px sans-serif";
  ctx.fillStyle = "#444";
  const title = props.title === undefined ? "" : String(props.title);
  const top = title ? 18 : 6;
  if (title) ctx.fillText(title, 4, 12);
  const all = seriesOf(props);
  const xs = all.flatMap((s) => s.x);
  const ys = all.flatMap((s) => s.y);
  if (ys.length === 0) return;
  const [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  const [y0, y1] = [Math.min(...ys), Math.max(...ys)];
  const left = 44;
  const bottom = height - 16;
  const sx = (x: number) => left + ((x - x0) / (x1 - x0 || 1)) * (width - left - 6);
  const sy = (y: number) => bottom - ((y - y0) / (y1 - y0 || 1)) * (bottom - top);
  ctx.strokeStyle = "#bbb";
  ctx.beginPath();
  ctx.moveTo(left, top);
  ctx.lineTo(left, bottom);
  ctx.lineTo(width - 6, bottom);
  ctx.stroke();
  ctx.fillText(fmt(y1), 2, top + 8);
  ctx.fillText(fmt(y0), 2, bottom);
  ctx.fillText(fmt(x0), left, height - 3);
  const last = fmt(x1);
  ctx.fillText(last, width - 6 - ctx.measureText(last).width, height - 3);
  all.forEach((s, k) => {
    ctx.strokeStyle = COLOURS[k % COLOURS.length];
    ctx.lineWidth = 1.5;
    ctx.beginPath();
    s.x.forEach((x, i) => (i === 0 ? ctx.moveTo(sx(x), sy(s.y[i])) : ctx.lineTo(sx(x), sy(s.y[i]))));
    ctx.stroke();
  });
  canvas.dataset.points = String(ys.length);
}

function fmt(v: number): string {
  return Math.abs(v) >= 1e4 || (Math.abs(v) < 1e-2 && v !== 0) ? v.toExponential(1) : String(+v.toFixed(2));
}
