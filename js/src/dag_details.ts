// The details panel of a selected task: what went in, what came out, and
// why the Conductor chose it.

function row(parent: HTMLElement, label: string, value: string): void {
  const div = document.createElement("div");
  const b = document.createElement("b");
  b.textContent = `${label}: `;
  div.append(b, document.createTextNode(value));
  parent.append(div);
}

export function showDetails(panel: HTMLElement, d: Record<string, unknown>): void {
  panel.replaceChildren();
  const title = document.createElement("h4");
  title.textContent = String(d.key);
  title.style.margin = "2px 0 6px";
  panel.append(title);
  for (const field of ["state", "function", "cost", "started", "finished", "seconds"]) {
    if (d[field] !== undefined && d[field] !== null) row(panel, field, String(d[field]));
  }
  for (const field of ["predecessors", "successors"]) {
    const list = d[field] as string[] | undefined;
    if (list && list.length) row(panel, field, list.join(", "));
  }
  const probs = d.probabilities as [string, number][] | undefined;
  if (probs) {
    const h = document.createElement("div");
    h.textContent = "action probabilities";
    h.style.fontWeight = "bold";
    panel.append(h);
    for (const [name, p] of probs) {
      const bar = document.createElement("div");
      bar.className = "symphony-prob";
      bar.style.cssText = `background:linear-gradient(90deg,#9ecae1 ${(100 * p).toFixed(1)}%,transparent 0);padding:1px 3px`;
      bar.textContent = `${name} ${(100 * p).toFixed(1)}%`;
      panel.append(bar);
    }
  }
  const artifacts = d.artifacts as Record<string, unknown>[] | undefined;
  if (artifacts && artifacts.length) {
    const h = document.createElement("div");
    h.textContent = "artifacts";
    h.style.fontWeight = "bold";
    panel.append(h);
    for (const a of artifacts) {
      const box = document.createElement("div");
      box.className = "symphony-artifact";
      box.style.cssText = "border:1px solid #eee;margin:2px 0;padding:2px";
      const head = `${String(a.hash).slice(0, 12)}… ${a.kind ?? ""} ${a.size ?? ""} B`;
      row(box, "artifact", a.missing ? `${head} (not in the store)` : head);
      if (a.text !== undefined) {
        const pre = document.createElement("pre");
        pre.style.cssText = "white-space:pre-wrap;max-height:120px;overflow:auto;margin:2px 0";
        pre.textContent = String(a.text);
        box.append(pre);
      }
      panel.append(box);
    }
  }
  if (d.payload !== undefined) {
    const pre = document.createElement("pre");
    pre.style.cssText = "white-space:pre-wrap;max-height:200px;overflow:auto";
    pre.textContent = JSON.stringify(d.payload, null, 1);
    panel.append(pre);
  }
}
