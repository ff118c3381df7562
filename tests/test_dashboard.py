"""The training dashboard outside the browser: a diverging run (infinite or
undefined losses) keeps the widget drawing, with those points left out."""

from __future__ import annotations

import json
import math

from symphony_lab.widgets import TrainingDashboard


def chart(dash: TrainingDashboard, title: str) -> dict[str, list[float]]:
    tree = json.loads(dash.widget.tree.to_json())

    def find(node: dict) -> dict | None:
        if node.get("type") == "line_chart" and node["props"].get("title") == title:
            return node["props"]
        for child in node.get("children", []):
            if isinstance(child, dict) and (found := find(child)):
                return found
        return None

    props = find(tree)
    assert props is not None, title
    return props


def test_infinite_and_undefined_losses_are_left_out_of_the_curves() -> None:
    dash = TrainingDashboard(notebook=True)
    dash.rows = [
        {"steps": 128.0, "value_loss": 0.5, "mean_return": -3.0, "solve_rate": 0.5},
        {"steps": 256.0, "value_loss": math.inf, "mean_return": -math.inf, "solve_rate": 0.5},
        {"steps": 384.0, "value_loss": math.nan, "mean_return": -2.0, "solve_rate": 1.0},
    ]
    for row in dash.rows:
        if dash._better(row):
            dash.best = row
    dash._refresh()  # raised "prop y[1] is inf, which JSON cannot carry" before
    assert chart(dash, "value loss") == {**chart(dash, "value loss"), "x": [128.0], "y": [0.5]}
    returns = chart(dash, "episode return")
    assert returns["x"] == [128.0, 384.0]
    assert dash.best is dash.rows[2]
