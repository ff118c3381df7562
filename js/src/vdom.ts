// The anywidget front end of symphony_lab.widgets.VdomWidget: each view
// draws the saved snapshot first (all a page has when the notebook was
// reopened with no kernel), asks Python for the whole tree, then applies
// the patches every render sends, and sends the events its nodes listen for back.

import type { AnyModel, RenderProps } from "@anywidget/types";
import { Registry } from "./components";
import { View, type Patch } from "./patches";

type Message = { type: "patches"; patches: string } | { type: "error"; message: string };

function render({ model, el }: RenderProps): () => void {
  el.classList.add("symphony-vdom");
  const view = new View(el, new Registry(), (id, event, payload) =>
    model.send({ type: "event", id, event, payload }),
  );
  let asked = false;
  const onMessage = (msg: Message) => {
    if (msg.type === "patches") {
      const started = performance.now();
      try {
        view.apply(JSON.parse(msg.patches) as Patch[]);
        asked = false;
      } catch (e) {
        // The page no longer matches Python's tree: ask for it whole, once;
        // if the whole tree fails too, show why instead of asking forever.
        console.error("symphony vdom:", e);
        if (asked) {
          el.replaceChildren(errorBox(`symphony vdom: ${String(e)}`));
        } else {
          asked = true;
          model.send({ type: "hello" });
        }
        return;
      }
      el.dataset.applyMs = (performance.now() - started).toFixed(2);
      el.dataset.nodes = String(view.size);
    } else if (msg.type === "error") {
      el.replaceChildren(errorBox(msg.message));
    }
  };
  (model as AnyModel).on("msg:custom", onMessage);
  const snapshot = model.get("snapshot") as string | undefined;
  if (snapshot) {
    try {
      view.apply([{ op: "create", parent: null, before: null, node: JSON.parse(snapshot) }]);
      el.dataset.nodes = String(view.size);
      el.dataset.snapshot = "shown";
    } catch (e) {
      console.error("symphony vdom: the saved snapshot cannot be drawn:", e);
    }
  }
  try {
    model.send({ type: "hello" });
  } catch (e) {
    // No kernel (a notebook reopened from its saved state): the snapshot stays.
    console.info("symphony vdom: no kernel to ask for the tree:", e);
  }
  return () => (model as AnyModel).off("msg:custom", onMessage);
}

function errorBox(message: string): HTMLElement {
  const pre = document.createElement("pre");
  pre.className = "symphony-error";
  pre.textContent = message;
  return pre;
}

export default { render };
