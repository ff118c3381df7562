"""Motifs: UI trees rendered by a real extension process, live in a VdomWidget."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from symphony_lab.sdk.ui import h
from symphony_lab.stage import Stage
from symphony_lab.widgets import MotifView

MakeExtension = Callable[..., Path]

COUNTER = """
from symphony_lab.sdk import motif
from symphony_lab.sdk.ui import h

@motif
def render(state):
    return h("div", {"class": "counter"},
             h("span", {"class": "count"}, str(state.get("count", 0))),
             h("button", {"label": "+1"}, on={"click": "increment"}),
             h("button", {"label": "boom"}, on={"click": "explode"}))

@motif
def increment(state, event):
    return {**state, "count": state.get("count", 0) + event.get("step", 1)}

@motif
def explode(state, event):
    raise RuntimeError("the motif's handler failed")

@motif
def bad(state):
    return {"type": "marquee", "props": {}, "children": []}
"""


@pytest.fixture
def stage(make_extension: MakeExtension) -> Iterator[Stage]:
    folder = make_extension("counter", COUNTER, functions=["render", "increment", "explode", "bad"])
    toml = folder / "symphony.toml"
    toml.write_text(toml.read_text().replace('kind = "operator"', 'kind = "motif"'))
    with Stage([folder]) as s:
        yield s


def texts(node: dict[str, Any]) -> list[str]:
    """The text nodes of a mounted tree (``Vdom.tree()``), depth first."""
    found = [node["props"]["text"]] if node["type"] == "#text" else []
    for c in node["children"]:
        found += texts(c)
    return found


def click(view: MotifView, label: str, payload: dict[str, Any] | None = None) -> None:
    tree = view._vdom.tree()
    assert tree is not None
    button = next(c for c in tree["children"] if c.get("props", {}).get("label") == label)
    event = {"type": "event", "id": button["id"], "event": "click", "payload": payload or {}}
    view._on_msg(view, event, [])


def test_events_reach_the_motif_and_the_page_follows(stage: Stage) -> None:
    view = MotifView(stage, "counter.render", state={"count": 41})
    tree = view._vdom.tree()
    assert tree is not None
    assert "41" in texts(tree)
    click(view, "+1")
    assert view.state == {"count": 42}
    click(view, "+1", {"step": 8})
    assert view.state == {"count": 50}
    tree = view._vdom.tree()
    assert tree is not None
    assert "50" in texts(tree)


def test_handler_errors_are_kept_not_raised(stage: Stage) -> None:
    view = MotifView(stage, "counter.render")
    click(view, "boom")
    assert view.errors
    assert "the motif's handler failed" in view.errors[0]
    click(view, "+1")
    assert view.state == {"count": 1}


def test_only_registered_components(stage: Stage) -> None:
    with pytest.raises(ValueError, match="unknown component type 'marquee'; motifs may use"):
        h("marquee")
    with pytest.raises(Exception, match="marquee"):
        MotifView(stage, "counter.bad")


def test_only_motif_extensions(make_extension: MakeExtension) -> None:
    folder = make_extension(
        "plain",
        "from symphony_lab.sdk import operator\n\n@operator\ndef f(state):\n    return 1\n",
        functions=["f"],
    )
    with Stage([folder]) as s, pytest.raises(TypeError, match="is an operator, not a motif"):
        MotifView(s, "plain.f")
