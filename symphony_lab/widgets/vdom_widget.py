"""A virtual DOM tree live in the notebook: :class:`VdomWidget` renders a
tree built with ``h`` and keeps the page in step with each ``update``,
sending only the patches; events on the page call the Python handlers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anywidget

from symphony_lab.pit import COMPONENTS, Vdom, VNode

STATIC = Path(__file__).with_name("static")


def _missing(name: str) -> str:
    return (
        f"the widgets' front end is not built ({STATIC / name} is missing): run ./lab,"
        " which builds it, or `npm ci && npm run build` in js/"
    )


def _esm(name: str) -> Path | str:
    """The bundle, for anywidget to read at class creation; without one, a
    module that says what is missing in the page."""
    path = STATIC / name
    if path.exists():
        return path
    return (
        "export default { render({ el }) { el.textContent = "
        + json.dumps("symphony-lab: " + _missing(name))
        + "; } };"
    )


def _check_built(name: str) -> None:
    if not (STATIC / name).exists():
        raise FileNotFoundError(_missing(name))


class VdomWidget(anywidget.AnyWidget):
    """Shows ``tree`` and follows it: ``widget.update(new_tree)`` sends the
    page only what changed. Every view asks for the whole tree when it
    mounts (a reload, a second view), so none misses a patch."""

    _esm = _esm("vdom.js")

    def __init__(self, tree: VNode | None = None, *, registry: frozenset[str] = COMPONENTS) -> None:
        _check_built("vdom.js")
        super().__init__()
        self._vdom = Vdom(registry)
        self._tree = tree
        self.events = 0
        self.on_msg(self._on_msg)

    @property
    def tree(self) -> VNode | None:
        return self._tree

    def update(self, tree: VNode) -> None:
        """Makes ``tree`` the one shown; refuses types outside the registry."""
        patches = self._vdom.render_json(tree)
        self._tree = tree
        if patches != "[]":
            self.send({"type": "patches", "patches": patches})

    def _on_msg(self, _widget: Any, content: dict[str, Any], _buffers: list[bytes]) -> None:
        kind = content.get("type")
        if kind == "hello":
            self._vdom.reset()
            if self._tree is not None:
                self.send({"type": "patches", "patches": self._vdom.render_json(self._tree)})
        elif kind == "event":
            self.events += 1
            self._vdom.dispatch(int(content["id"]), str(content["event"]), content.get("payload"))


__all__ = ["VdomWidget"]
