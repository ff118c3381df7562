// The anywidget front end of symphony_lab.widgets.VdomWidget: each view
// asks Python for the whole tree when it mounts, then applies the patches
// every render sends, and sends the events its nodes listen for back.

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
  model.send({ type: "hello" });
  return () => (model as AnyModel).off("msg:custom", onMessage);
}

function errorBox(message: string): HTMLElement {
  const pre = document.createElement("pre");
  pre.className = "symphony-error";
  pre.textContent = message;
  return pre;
}

export default { render };
