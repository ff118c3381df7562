"""A virtual DOM for research UIs: describe the tree you want on every
render; the Pit (crate ``pit-vdom``) sends the page only what changed.

>>> from symphony_lab.pit import h, Vdom
>>> ui = Vdom()
>>> patches = ui.render(h("div", {"class": "row"},
...     h("button", {"label": "Stop"}, on={"click": stop}),
...     h("line_chart", {"x": steps, "y": rewards, "title": "reward"})))

Nodes have a component type from :data:`COMPONENTS` (HTML elements and a
small library: button, text_input, select, slider, data_table, markdown,
code_block, image, line_chart), props (JSON values; numpy arrays become lists), keyed
children, and event handlers. A tree also displays on its own in a notebook,
as the ``application/vnd.symphony.vdom.v1+json`` mime type with an HTML
fallback for viewers without the widget.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

from symphony_lab.pit._pit import VdomRoot, VNode
from symphony_lab.pit._pit import h as _h

MIME = "application/vnd.symphony.vdom.v1+json"


def _registry() -> dict[str, list[str]]:
    # The front end bundles the same file (js/src/components.ts).
    text = resources.files("symphony_lab.pit").joinpath("components.json").read_text()
    found: dict[str, list[str]] = json.loads(text)
    return found


_REGISTRY = _registry()
HTML_ELEMENTS: frozenset[str] = frozenset(_REGISTRY["html"])
LIBRARY: frozenset[str] = frozenset(_REGISTRY["library"])
if HTML_ELEMENTS & LIBRARY:
    raise RuntimeError(
        f"components.json lists {sorted(HTML_ELEMENTS & LIBRARY)} as both elements and components"
    )
COMPONENTS: frozenset[str] = HTML_ELEMENTS | LIBRARY
"""Every type a tree may use; the front end draws exactly these."""

h = _h
"""``h(kind, props=None, *children, key=None, on=None)``: a node of type
``kind`` with ``props``, ``children`` (nodes, text, numbers, lists of them;
``None`` and ``False`` are skipped), a ``key`` that identifies it among its
siblings across renders, and handlers ``on={"click": fn}``: ``fn(event)``
gets the page's event as a dict. (Built in the Pit: a tree of a thousand
nodes takes well under a millisecond.)"""


class Vdom:
    """A mounted tree: :meth:`render` returns the patches from the last
    render, :meth:`dispatch` calls the handler an event from the page names.
    Types outside ``registry`` are refused with an error that lists it."""

    def __init__(self, registry: frozenset[str] | None = COMPONENTS) -> None:
        self._root = VdomRoot(sorted(registry) if registry is not None else None)

    def render(self, node: VNode) -> list[dict[str, Any]]:
        """The patches that turn the page's tree into ``node``."""
        patches: list[dict[str, Any]] = json.loads(self._root.render(node))
        return patches

    def render_json(self, node: VNode) -> str:
        """As :meth:`render`, as the JSON text a widget sends."""
        return self._root.render(node)

    def reset(self) -> None:
        """The page lost its tree (a reload): the next render sends it whole."""
        self._root.reset()

    def tree(self) -> dict[str, Any] | None:
        """The mounted tree, with the ids the page knows its nodes by."""
        text = self._root.tree_json()
        return None if text is None else json.loads(text)

    def dispatch(self, node_id: int, event: str, payload: dict[str, Any] | None = None) -> bool:
        """Calls the handler of ``event`` on node ``node_id`` with ``payload``;
        ``False`` when the node (no longer) has one."""
        handler = self._root.handler(node_id, event)
        if handler is None:
            return False
        handler(payload or {})
        return True


__all__ = ["COMPONENTS", "HTML_ELEMENTS", "LIBRARY", "MIME", "VNode", "Vdom", "h"]
