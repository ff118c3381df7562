"""The virtual DOM from Python: builders, renders as patches, events, the
registry, static display."""

import json

import nbformat
import numpy as np
import pytest
from nbconvert import HTMLExporter

from symphony_lab.pit import COMPONENTS, HTML_ELEMENTS, LIBRARY, MIME, Vdom, h


def rows(keys: list[str], hot: str | None = None) -> object:
    return h(
        "ul",
        None,
        [h("li", {"class": "hot" if k == hot else "row"}, k, key=k) for k in keys],
    )


def test_first_render_creates_the_tree_and_later_ones_send_only_changes() -> None:
    ui = Vdom()
    first = ui.render(rows(["a", "b", "c"]))
    assert [p["op"] for p in first] == ["create"]
    tree = first[0]["node"]
    assert tree["type"] == "ul"
    assert [c["key"] for c in tree["children"]] == ["a", "b", "c"]
    assert tree["children"][0]["children"][0] == {
        "id": tree["children"][0]["children"][0]["id"],
        "type": "#text",
        "key": None,
        "props": {"text": "a"},
        "on": [],
        "children": [],
    }
    ids = {c["key"]: c["id"] for c in tree["children"]}
    assert ui.render(rows(["a", "b", "c"])) == []
    change = ui.render(rows(["c", "a", "b"], hot="a"))
    assert sorted(p["op"] for p in change) == ["move", "props"]
    move = next(p for p in change if p["op"] == "move")
    assert move["id"] == ids["c"]
    assert move["before"] == ids["a"]
    props = next(p for p in change if p["op"] == "props")
    assert props == {"op": "props", "id": ids["a"], "set": {"class": "hot"}, "unset": []}
    assert ui.tree()["children"][0]["key"] == "c"


def test_events_reach_the_current_handler() -> None:
    ui = Vdom()
    seen: list[tuple[str, dict]] = []
    ui.render(
        h(
            "div",
            None,
            h("button", {"label": "Go"}, on={"click": lambda e: seen.append(("old", e))}),
        )
    )
    button = ui.tree()["children"][0]
    assert button["on"] == ["click"]
    # A new closure for the same event is not a change the page hears of,
    # but it is the one called.
    again = ui.render(
        h(
            "div",
            None,
            h("button", {"label": "Go"}, on={"click": lambda e: seen.append(("new", e))}),
        )
    )
    assert again == []
    assert ui.dispatch(button["id"], "click", {"x": 1})
    assert seen == [("new", {"x": 1})]
    assert not ui.dispatch(button["id"], "dblclick")
    assert not ui.dispatch(999, "click")


def test_props_are_json_and_bad_input_is_named() -> None:
    node = h(
        "line_chart",
        {
            "x": np.arange(3),
            "y": np.array([0.5, 1.5, 1.0]),
            "style": {"width": 300},
            "n": np.int64(4),
        },
    )
    assert node.props == {"x": [0, 1, 2], "y": [0.5, 1.5, 1.0], "style": {"width": 300}, "n": 4.0}
    with pytest.raises(TypeError, match=r"prop data is a set"):
        h("div", {"data": {1, 2}})
    with pytest.raises(ValueError, match="prop y\\[1\\] is NaN"):
        h("line_chart", {"y": [1.0, float("nan")]})
    with pytest.raises(TypeError, match="a child of a 'div' is a dict"):
        h("div", None, {"not": "a node"})
    with pytest.raises(TypeError, match="not callable"):
        h("button", on={"click": 42})
    ui = Vdom()
    with pytest.raises(
        ValueError, match="'marquee' is not a registered component type; registered: a, b"
    ):
        ui.render(h("marquee"))
    with pytest.raises(ValueError, match="the key 'k'"):
        ui.render(h("div", None, h("p", key="k"), h("p", key="k")))
    assert ui.tree() is None, "a refused tree changes nothing"
    assert "line_chart" in COMPONENTS
    assert "slider" in COMPONENTS
    with pytest.raises(ValueError, match="handlers go in on="):
        h("div", {"onclick": "alert(1)"})
    with pytest.raises(ValueError, match="not a valid attribute name"):
        h("div", {"x onmouseover": 1})
    with pytest.raises(ValueError, match="addresses are http"):
        h("a", {"href": "javascript:alert(1)"})
    assert h("a", {"href": "https://example.org"}).props["href"] == "https://example.org"
    with pytest.raises(ValueError, match="the key 'a'"):
        h("div", None, h("i", key="a"), h("i", key="a"))._repr_mimebundle_()


def test_children_skip_none_and_false_and_flatten_lists() -> None:
    shown = False
    node = h("div", None, shown and h("p"), None, [h("span"), ["text", 3]], h("hr"))
    assert [c.kind for c in node.children] == ["span", "#text", "#text", "hr"]
    assert len(node) == 5


def test_a_tree_displays_as_its_own_mime_type_with_an_html_fallback() -> None:
    node = h(
        "div",
        {"class": "card"},
        h("h3", None, "Run <1>"),
        h("button", {"label": "Stop"}),
        h("table", None, h("tr", None, h("td", None, "cell"))),
    )
    bundle = node._repr_mimebundle_()
    assert set(bundle) == {MIME, "text/html"}
    assert bundle[MIME]["children"][0]["type"] == "h3"
    assert bundle["text/html"] == (
        '<div class="card"><h3>Run &lt;1&gt;</h3><button>Stop</button>'
        "<table><tr><td>cell</td></tr></table></div>"
    )
    assert not (HTML_ELEMENTS & LIBRARY), "a type is an element or a component, not both"
    assert json.loads(node.to_json())["type"] == "div"


def test_nbconvert_html_draws_a_saved_tree_through_its_static_fallback() -> None:
    tree = h("div", {"class": "report"}, h("b", None, "solved 97%"), h("button", {"label": "Stop"}))
    cell = nbformat.v4.new_code_cell("tree")
    cell.outputs = [nbformat.v4.new_output("display_data", data=tree._repr_mimebundle_())]
    nb = nbformat.v4.new_notebook(cells=[cell])
    html, _ = HTMLExporter().from_notebook_node(nb)
    assert '<div class="report"><b>solved 97%</b><button>Stop</button></div>' in html
