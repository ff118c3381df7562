"""A virtual DOM tree live in the notebook: :class:`VdomWidget` renders a
tree built with ``h`` and keeps the page in step with each ``update``,
sending only the patches; events on the page call the Python handlers.

Its last view outlives the kernel: the widget's ``snapshot`` (the whole
tree, refreshed at most once a second) is part of the widget state that Lab
saves in the notebook ("Save Widget State Automatically"), and a reopened
notebook draws it with no kernel; the output also carries the tree as
static HTML for viewers without widgets (GitHub, nbviewer)."""

from __future__ import annotations

import contextvars
import json
import threading
from pathlib import Path
from typing import Any

import anywidget
import traitlets

from symphony_lab.pit import COMPONENTS, Vdom, VNode

STATIC = Path(__file__).with_name("static")
#: Seconds between refreshes of the saved snapshot while the tree changes.
SNAPSHOT_S = 1.0


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
    #: The whole tree as JSON, for a page with no kernel to answer it.
    snapshot = traitlets.Unicode("").tag(sync=True)

    def __init__(self, tree: VNode | None = None, *, registry: frozenset[str] = COMPONENTS) -> None:
        _check_built("vdom.js")
        super().__init__()
        self._vdom = Vdom(registry)
        self._tree = tree
        self.events = 0
        self._timer: threading.Timer | None = None
        self._timer_lock = threading.Lock()
        if tree is not None:
            self.snapshot = tree.to_json()
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
            self._snapshot_soon()

    def save_snapshot(self) -> None:
        """Makes the saved snapshot the tree shown now (updates do it within a second)."""
        with self._timer_lock:
            if self._timer is not None:
                self._timer.cancel()
            self._timer = None
        if self._tree is not None:
            self.snapshot = self._tree.to_json()

    def _snapshot_soon(self) -> None:
        with self._timer_lock:
            if self._timer is not None:
                return
            # With the caller's context: the kernel routes what the timer's
            # thread sends by the parent message it holds.
            context = contextvars.copy_context()
            self._timer = threading.Timer(SNAPSHOT_S, context.run, args=(self.save_snapshot,))
            self._timer.daemon = True
            self._timer.start()

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        bundle = super()._repr_mimebundle_(**kwargs)
        if bundle is not None and self._tree is not None:
            data, metadata = bundle
            data["text/html"] = self._tree.to_html()  # for viewers without widgets
            return data, metadata
        return bundle

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
