"""A DagTracker as the page draws it (js/src/dag_canvas.ts): the layered
layout the Pit computes, each task's state, as one JSON-ready dict. The
DAG inspector sends it to its widget; a run records it for the Lab's replay."""

from __future__ import annotations

from typing import Any

from symphony_lab.pit._pit import DagTracker

#: The state codes' names, in code order (``DagTracker.state_codes``).
STATES = ("pending", "ready", "running", "done", "failed", "skipped", "cancelled")


def drawing(tracker: DagTracker, *, height: int = 480) -> dict[str, Any]:
    """``keys``, ``layer``, ``x``, ``edges`` (with their bends), ``states``
    (codes into ``names``), ``names`` and the drawing's ``height``."""
    layout = tracker.layout()
    return {
        "keys": [str(k) for k in layout["keys"]],
        "layer": layout["layer"],
        "x": [round(x, 2) for x in layout["x"]],
        "edges": [[a, b, [[round(x, 2), y] for x, y in bends]] for a, b, bends in layout["edges"]],
        "states": list(tracker.state_codes()),
        "names": list(STATES),
        "height": height,
    }
