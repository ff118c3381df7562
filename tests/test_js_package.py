"""The widgets' front end is a package other front ends import from one
source: a consumer outside js/ that imports ``@symphony-lab/widgets`` by
name is bundled by esbuild and runs, with the registry Python reads; and
the plot's arithmetic (ticks, smoothing, the point under the pointer)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from symphony_lab.pit import COMPONENTS

JS = Path(__file__).resolve().parent.parent / "js"

CONSUMER = """
import {
  Registry, View, Canvas, COLOURS, drawLineChart, vdomView, dagView,
} from "@symphony-lab/widgets";
import { View as SameView } from "@symphony-lab/widgets/patches";
const registry = new Registry();
console.log(JSON.stringify({
  names: registry.types,
  same: View === SameView,
  kinds: [
    typeof View, typeof Canvas, typeof drawLineChart, typeof vdomView.render,
    typeof dagView.render,
  ],
  colours: COLOURS.length,
}));
"""


def bundle_and_run(tmp_path: Path, source: str) -> Any:
    """``source`` (ES module code that imports ``@symphony-lab/widgets``)
    bundled by esbuild and run by node; what it printed, as JSON."""
    (tmp_path / "node_modules" / "@symphony-lab").mkdir(parents=True)
    (tmp_path / "node_modules" / "@symphony-lab" / "widgets").symlink_to(JS)
    (tmp_path / "entry.js").write_text(source)
    subprocess.run(
        [
            str(JS / "node_modules" / ".bin" / "esbuild"),
            "entry.js",
            "--bundle",
            "--platform=node",
            "--format=esm",
            "--outfile=out.mjs",
            "--log-level=warning",
        ],
        cwd=tmp_path,
        check=True,
        timeout=120,
    )
    done = subprocess.run(
        ["node", "out.mjs"], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_a_consumer_imports_the_package_by_name(tmp_path: Path) -> None:
    assert (JS / "lib" / "index.d.ts").exists(), "npm run build in js/ writes lib/ (./lab does)"
    got = bundle_and_run(tmp_path, CONSUMER)
    assert set(got["names"]) == set(COMPONENTS)
    assert got["same"] is True
    assert got["kinds"] == ["function"] * 5
    assert got["colours"] == 7


PLOT_CHECK = """
import { ticks, smooth, nearest, formatNumber } from "@symphony-lab/widgets/plot";
console.log(JSON.stringify({
  ticks: ticks(0, 1, 5),
  wide: ticks(0, 30000, 4),
  negative: ticks(-0.37, 0.42, 4),
  flat: ticks(3, 3),
  smooth: smooth([1, 1, 1, 5], 0.5),
  raw: smooth([2, 4], 0),
  nearest: [nearest([0, 10, 20, 30], 14), nearest([0, 10, 20, 30], 16), nearest([], 1)],
  format: [formatNumber(30000), formatNumber(0.0001234), formatNumber(0.5), formatNumber(NaN)],
}));
"""


def test_the_plot_picks_round_ticks_smooths_like_tensorboard_and_finds_the_nearest_point(
    tmp_path: Path,
) -> None:
    got = bundle_and_run(tmp_path, PLOT_CHECK)
    assert got["ticks"] == [0, 0.2, 0.4, 0.6, 0.8, 1]
    assert got["wide"] == [0, 10000, 20000, 30000]
    assert got["negative"] == [-0.2, 0, 0.2, 0.4]
    assert got["flat"] == [3]
    # Debiased: a constant stays itself from the first point; then it moves halfway.
    assert got["smooth"][:3] == [1, 1, 1]
    assert 1 < got["smooth"][3] < 5
    assert got["raw"] == [2, 4]
    assert got["nearest"] == [1, 2, -1]
    assert got["format"] == ["30,000", "1.2e-4", "0.5", "NaN"]
