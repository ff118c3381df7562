"""Trees for motifs, as plain data that crosses the bus.

A motif's ``render`` returns ``h(...)`` trees; event handlers are named by
the motif function that handles them::

    from symphony_lab.sdk import motif
    from symphony_lab.sdk.ui import h

    @motif
    def render(state):
        return h("div", None,
                 h("span", {"class": "count"}, str(state["count"])),
                 h("button", {"label": "+1"}, on={"click": "increment"}))

    @motif
    def increment(state, event):
        return {**state, "count": state["count"] + 1}

The types are those of the front end's registry
(:data:`symphony_lab.pit.COMPONENTS`); others are refused here, before the
tree leaves the extension.
"""

from __future__ import annotations

from typing import Any

from symphony_lab.pit import COMPONENTS

Tree = dict[str, Any]


def h(
    kind: str,
    props: dict[str, Any] | None = None,
    *children: Any,
    key: str | int | None = None,
    on: dict[str, str] | None = None,
) -> Tree:
    """A node: ``kind`` from the registry, JSON ``props``, children (nodes,
    text, numbers, lists of them; None and False skipped), a ``key``, and
    ``on={"event": "handler_function_name"}``."""
    if kind not in COMPONENTS:
        raise ValueError(
            f"unknown component type {kind!r}; motifs may use: {', '.join(sorted(COMPONENTS))}"
        )
    for event, handler in (on or {}).items():
        if not isinstance(handler, str):
            raise TypeError(
                f"on[{event!r}] must name a motif function (a str), got {type(handler).__name__}"
            )
    flat: list[Any] = []

    def add(child: Any) -> None:
        if child is None or child is False:
            return
        if isinstance(child, (list, tuple)):
            for c in child:
                add(c)
        else:
            flat.append(child)

    add(children)
    node: Tree = {"type": kind, "props": props or {}, "children": flat}
    if key is not None:
        node["key"] = key
    if on:
        node["on"] = dict(on)
    return node
