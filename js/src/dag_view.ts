// The DAG inspector's page side: a canvas drawing of the layered layout the
// Pit computed, kept live by state changes only, with zoom, pan, search,
// folding of descendants, a details panel and a replay slider.

import type { AnyModel, RenderProps } from "@anywidget/types";
import { Canvas, COLOURS, type Graph } from "./dag_canvas";
import { showDetails } from "./dag_details";

type Message =
  | { type: "states"; ids: number[]; states: number[]; at?: number }
  | { type: "details"; index: number; details: Record<string, unknown> };

function render({ model, el }: RenderProps): () => void {
  const started = performance.now();
  el.classList.add("symphony-dag");
  el.style.cssText = "display:flex;flex-direction:column;gap:4px;font:12px sans-serif";
  const bar = document.createElement("div");
  bar.style.cssText = "display:flex;gap:8px;align-items:center";
  const search = document.createElement("input");
  search.placeholder = "search keys";
  search.className = "symphony-dag-search";
  const found = document.createElement("span");
  const legend = document.createElement("span");
  const fit = document.createElement("button");
  fit.textContent = "Fit";
  fit.title = "Zoom to show the whole graph";
  fit.className = "symphony-dag-fit";
  fit.addEventListener("click", () => view?.fitView());
  bar.append(search, found, fit, legend);
  const main = document.createElement("div");
  main.style.cssText = "display:flex;gap:6px";
  const canvasEl = document.createElement("canvas");
  canvasEl.style.cssText = "border:1px solid #ddd;flex:1;min-width:0;cursor:grab";
  const panel = document.createElement("div");
  panel.className = "symphony-dag-details";
  panel.style.cssText = "width:280px;max-height:100%;overflow:auto;border-left:1px solid #eee;padding:4px";
  main.append(canvasEl, panel);
  el.append(bar, main);

  let view: Canvas | null = null;
  const load = () => {
    const graph = JSON.parse(model.get("graph") as string) as Graph;
    if (!graph.keys) return;
    canvasEl.style.height = `${graph.height}px`;
    main.style.height = `${graph.height}px`;
    // The legend filters: a state unticked is not drawn.
    const boxes = graph.names.map((name, i) => {
      const box = document.createElement("input");
      box.type = "checkbox";
      box.checked = true;
      box.dataset.state = name;
      box.addEventListener("change", () => view?.filterStates(boxes.flatMap((b, k) => (b.checked ? [k] : []))));
      const label = document.createElement("label");
      label.className = "symphony-dag-state";
      label.style.cssText = `color:${COLOURS[i]};margin-right:6px;white-space:nowrap`;
      label.append(box, `■ ${name}`);
      return box;
    });
    legend.replaceChildren(...boxes.map((b) => b.parentElement as HTMLElement));
    view?.dispose();
    view = new Canvas(canvasEl, graph, (index) => model.send({ type: "select", index }), expose);
    el.dataset.tasks = String(graph.keys.length);
  };
  // Tests and the curious read the drawing's facts from the element, written
  // after each drawing (and only then: an idle view does no work per frame).
  const expose = (drawing: Canvas) => {
    el.dataset.drawn = String(drawing.drawn);
    el.dataset.labelled = String(drawing.labelled);
    // Time to first render: until tasks are on the canvas, not merely until
    // a draw ran (before layout, a draw culls everything).
    if (drawing.drawn > 0) el.dataset.firstRenderMs ??= (performance.now() - started).toFixed(1);
  };
  const onMessage = (msg: Message) => {
    if (!view) return;
    if (msg.type === "states") {
      view.setStates(msg.ids, msg.states);
      el.dataset.updates = String(Number(el.dataset.updates ?? 0) + 1);
      if (msg.at !== undefined) {
        // From Python's send to the colour drawn: the next frame paints it.
        const sentAt = msg.at * 1000;
        requestAnimationFrame(() => {
          const ms = performance.timeOrigin + performance.now() - sentAt;
          // The last 200 only: a view that follows a long run must not grow.
          const kept = (el.dataset.latencies ? el.dataset.latencies.split(",") : []).slice(-199);
          el.dataset.latencies = [...kept, ms.toFixed(2)].join(",");
        });
      }
    } else if (msg.type === "details") {
      showDetails(panel, msg.details);
      panel.dataset.index = String(msg.index);
    }
  };
  const onGraph = () => load();
  (model as AnyModel).on("msg:custom", onMessage);
  (model as AnyModel).on("change:graph", onGraph);
  load();
  // States may have changed since the graph was drawn: ask for them all.
  model.send({ type: "hello" });

  search.addEventListener("keydown", (e) => {
    if (e.key !== "Enter" || !view) return;
    const hits = view.search(search.value);
    found.textContent = search.value ? `${hits} found` : "";
  });

  const steps = model.get("steps") as number;
  if (steps > 1) {
    const slider = document.createElement("input");
    slider.type = "range";
    slider.min = "0";
    slider.max = String(steps - 1);
    slider.value = String(model.get("step"));
    slider.className = "symphony-dag-step";
    const label = document.createElement("span");
    label.textContent = `step ${slider.value} / ${steps - 1}`;
    slider.addEventListener("input", () => {
      label.textContent = `step ${slider.value} / ${steps - 1}`;
      model.set("step", Number(slider.value));
      model.save_changes();
    });
    bar.append(slider, label);
  }
  (el as HTMLElement & { dagView?: () => Canvas | null }).dagView = () => view;
  return () => {
    view?.dispose();
    (model as AnyModel).off("msg:custom", onMessage);
    (model as AnyModel).off("change:graph", onGraph);
  };
}

export default { render };
