// The widgets' front end as a package: what a JupyterLab extension (or any
// page) imports to draw the same trees, charts and DAGs from one source.
// The anywidget entry points stay vdom.ts and dag_view.ts.

export { drawLineChart } from "./chart";
export { type Component, Registry, safeUrl } from "./components";
export { Canvas, COLOURS, type Graph } from "./dag_canvas";
export { showDetails } from "./dag_details";
export { renderMarkdown } from "./markdown";
export { formatNumber, nearest, Plot, type PlotOptions, type PlotSeries, SERIES_COLOURS, smooth, ticks } from "./plot";
export { type Emit, type Patch, View, type VNodeJson } from "./patches";
export { default as dagView } from "./dag_view";
export { default as vdomView } from "./vdom";
