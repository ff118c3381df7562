// A mime renderer for application/vnd.symphony.vdom.v1+json: a virtual DOM
// tree saved in an output draws in Lab with no kernel, through the same
// components the live widget uses. Events have nowhere to go, so the tree
// is shown as it was.

import type { IRenderMime } from "@jupyterlab/rendermime-interfaces";
import { Widget } from "@lumino/widgets";
import { Registry } from "@symphony-lab/widgets/components";
import { View, type VNodeJson } from "@symphony-lab/widgets/patches";

export const MIME = "application/vnd.symphony.vdom.v1+json";

export class VdomOutput extends Widget implements IRenderMime.IRenderer {
  constructor() {
    super();
    this.addClass("symphony-vdom");
    this.addClass("symphony-vdom-static");
  }

  async renderModel(model: IRenderMime.IMimeModel): Promise<void> {
    const tree = model.data[MIME] as unknown as VNodeJson;
    try {
      const view = new View(this.node, new Registry(), () => {});
      view.apply([{ op: "create", parent: null, before: null, node: tree }]);
      this.node.dataset.nodes = String(view.size);
    } catch (e) {
      const pre = document.createElement("pre");
      pre.className = "symphony-error";
      pre.textContent = `symphony vdom: this output cannot be drawn: ${String(e)}`;
      this.node.replaceChildren(pre);
    }
  }
}

const extension: IRenderMime.IExtension = {
  id: "@symphony-lab/jupyterlab:vdom",
  description: "Draws Symphony virtual DOM outputs without a kernel",
  rendererFactory: { safe: true, mimeTypes: [MIME], createRenderer: () => new VdomOutput() },
  // Before text/html (rank 50), whose static fallback it replaces.
  rank: 40,
  dataType: "json",
  documentWidgetFactoryOptions: [],
};

export default extension;
