"""The README's generated figures: measured results kept as JSON under
``benches/measured/``, rendered into the README between markers, so that no
figure there is typed by hand.

    python benches/figures.py main-job runs/<id>   read a main job's run folder (its
                                                   per-pack CSVs) into main_job.json,
                                                   then rewrite the README's table
    python benches/figures.py                      rewrite the README from the JSON
    python benches/figures.py --check              exit 1 when the README differs (the suite)

A generated block sits between ``<!-- figures NAME: ... -->`` and
``<!-- /figures NAME -->``; the rest of the README is prose.
"""

from __future__ import annotations

import json
import math
import re
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd

from symphony_lab.conductor import Evaluation
from symphony_lab.runs.record import read

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benches" / "measured"
README = ROOT / "README.md"
BLOCK = re.compile(
    r"(<!-- figures (?P<name>[\w-]+):[^\n]*-->\n)(?P<body>.*?)(<!-- /figures (?P=name) -->)", re.S
)


def _ratio(x: float, y: float) -> float:
    return x / y if y == y and y else math.nan


def _plain(x: float) -> float | None:
    """JSON has no NaN: a figure that does not apply is null."""
    return None if x != x else x


def pack_row(pack: str, frame: pd.DataFrame) -> dict[str, Any]:
    """One held-out pack's line: the Conductor's solve rate, cost ratios on
    deterministic and flaky levels, its flaky ratio over exact replanning's
    and relaxed greedy's on the same levels, and how often it ends with the
    optional goals the optimum ends with."""
    bd = Evaluation(frame).breakdown()
    c = bd.loc["conductor"]

    def flaky(agent: str) -> float:
        return float(bd.loc[agent, "flaky"]) if agent in bd.index else math.nan

    return {
        "pack": pack,
        "levels": int(c["levels"]),
        "solved": float(c["solve_rate"]),
        "deterministic": _plain(float(c["deterministic"])),
        "flaky": _plain(float(c["flaky"])),
        "vs_replanning": _plain(_ratio(float(c["flaky"]), flaky("exact_replanning"))),
        "vs_relaxed_greedy": _plain(_ratio(float(c["flaky"]), flaky("relaxed_greedy"))),
        "bonus_match": _plain(float(c["bonus_match"])),
    }


def main_job(folder: Path) -> dict[str, Any]:
    """The main job's figures from its run folder: a row per evaluated pack
    (from ``<pack>.csv``, one row per episode) and one for the ood packs together."""
    rec = read(folder)
    if rec.status != "done":
        raise SystemExit(f"{folder}: the run is {rec.status}, not done")
    rows, ood = [], []
    for pack in rec.params["packs"]:
        frame = pd.read_csv(folder / f"{pack}.csv")
        rows.append(pack_row(pack, frame))
        if pack.startswith("ood-"):
            ood.append(frame)
    if ood:
        rows.append(pack_row("all ood packs", pd.concat(ood, ignore_index=True)))
    return {
        "run": rec.id,
        "date": time.strftime("%Y-%m-%d", time.localtime(rec.started)),
        "minutes": round((rec.ended - rec.started) / 60, 1),
        "commit": rec.provenance.get("git", {}).get("commit", "")[:7],
        "steps": rec.params["steps"],
        "threads": rec.params["threads"],
        "rows": rows,
    }


DASH, TIMES = "\u2013", "\u00d7"  # the README's "none" and "times"


def _f(x: float | None, spec: str = ".3f", unit: str = "") -> str:
    return DASH if x is None else format(x, spec) + unit


def render_main_job(data: dict[str, Any]) -> str:
    lines = [
        f"`./lab run` of {data['date']} (commit {data['commit']}, {data['steps']:,} PPO steps "
        f"after imitation, {data['threads']} torch thread, {data['minutes']} minutes in all):",
        "",
        "| held-out pack | levels | solved | cost ratio (deterministic / flaky) "
        "| flaky vs exact replanning | flaky vs relaxed greedy | optional goals as the optimum's |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in data["rows"]:
        lines.append(
            f"| {r['pack']} | {r['levels']} | {r['solved']:.1%} "
            f"| {_f(r['deterministic'])} / {_f(r['flaky'])} "
            f"| {_f(r['vs_replanning'], '.2f', TIMES)} "
            f"| {_f(r['vs_relaxed_greedy'], '.2f', TIMES)} "
            f"| {_f(r['bonus_match'], '.1%')} |"
        )
    return "\n".join(lines) + "\n"


RENDER = {"main_job": render_main_job}


def rendered(text: str) -> str:
    """``text`` with every generated block rewritten from its JSON."""

    def one(m: re.Match[str]) -> str:
        name = m["name"]
        if name not in RENDER:
            raise SystemExit(f"README: unknown figures block {name!r}; known: {sorted(RENDER)}")
        data = json.loads((RESULTS / f"{name}.json").read_text())
        return m.group(1) + RENDER[name](data) + m.group(4)

    return BLOCK.sub(one, text)


def main(argv: list[str]) -> int:
    if argv[:1] == ["main-job"] and len(argv) == 2:
        data = main_job(Path(argv[1]))
        (RESULTS / "main_job.json").write_text(json.dumps(data, indent=1, allow_nan=False) + "\n")
        argv = []
    text = README.read_text()
    if argv == ["--check"]:
        if rendered(text) != text:
            print("README.md: figures differ from benches/measured/*.json: run "
                  "python benches/figures.py", file=sys.stderr)  # fmt: skip
            return 1
        return 0
    if argv:
        print(__doc__, file=sys.stderr)
        return 2
    README.write_text(rendered(text))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
