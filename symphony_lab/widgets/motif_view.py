"""A motif from the Stage, live in the notebook.

The extension renders trees as data (``symphony_lab.sdk.ui.h``); this widget
keeps the motif's state in the kernel, turns each tree into Pit nodes (so
only patches reach the page), and sends every page event to the handler the
tree names, then renders the state it returns.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from symphony_lab.pit import COMPONENTS, VNode, h
from symphony_lab.widgets.vdom_widget import VdomWidget

if TYPE_CHECKING:
    from symphony_lab.stage import Stage


class MotifView(VdomWidget):
    """``MotifView(stage, "ext.render", state={...})``: shows the motif and
    follows its events. ``state`` is the motif's state after the last event."""

    def __init__(
        self,
        stage: Stage,
        render: str,
        state: dict[str, Any] | None = None,
        *,
        timeout: float | None = 30.0,
    ) -> None:
        super().__init__(registry=COMPONENTS)
        ext, _ = stage.resolve(render)
        if ext.manifest.kind != "motif":
            raise TypeError(f"{ext.name!r} is an {ext.manifest.kind}, not a motif")
        self.stage = stage
        self.extension = ext.name
        self.render_target = render
        self.state: dict[str, Any] = dict(state or {})
        self.timeout = timeout
        self.errors: list[str] = []
        self.refresh()

    def refresh(self) -> None:
        """Asks the motif for the tree of the current state and shows it."""
        data = self.stage.call(self.render_target, {"state": self.state}, timeout=self.timeout)
        tree = self._node(data, "tree")
        if not isinstance(tree, VNode):
            raise ValueError(f"{self.render_target} rendered text, not a node: {tree!r:.80}")
        self.update(tree)

    def _node(self, data: Any, where: str) -> VNode | str:
        if isinstance(data, (str, int, float)):
            return str(data)
        if not isinstance(data, dict) or not isinstance(data.get("type"), str):
            raise ValueError(f"the motif returned no node at {where}: {data!r:.80}")
        on = {event: self._handler(str(name)) for event, name in (data.get("on") or {}).items()}
        children = [
            self._node(c, f"{where}.children[{i}]") for i, c in enumerate(data.get("children", []))
        ]
        return h(data["type"], data.get("props") or {}, *children, key=data.get("key"), on=on)

    def _handler(self, name: str) -> Any:
        target = f"{self.extension}.{name}"

        def handle(payload: dict[str, Any]) -> None:
            try:
                new = self.stage.call(
                    target, {"state": self.state, "event": payload}, timeout=self.timeout
                )
            except Exception as e:  # shown to the researcher, not raised into the comm
                self.errors.append(f"{target}: {e}")
                return
            if isinstance(new, dict):
                self.state = new
            self.refresh()

        return handle


__all__ = ["MotifView"]
