"""The widgets' front end is a package other front ends import from one
source: a consumer outside js/ that imports ``@symphony-lab/widgets`` by
name is bundled by esbuild and runs, with the registry Python reads."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

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


def test_a_consumer_imports_the_package_by_name(tmp_path: Path) -> None:
    assert (JS / "lib" / "index.d.ts").exists(), "npm run build in js/ writes lib/ (./lab does)"
    (tmp_path / "node_modules" / "@symphony-lab").mkdir(parents=True)
    (tmp_path / "node_modules" / "@symphony-lab" / "widgets").symlink_to(JS)
    (tmp_path / "entry.js").write_text(CONSUMER)
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
    got = json.loads(done.stdout)
    assert set(got["names"]) == set(COMPONENTS)
    assert got["same"] is True
    assert got["kinds"] == ["function"] * 5
    assert got["colours"] == 7
