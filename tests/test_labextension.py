"""The JupyterLab extension as a user gets it: the prebuilt labextension
installed and enabled with no Lab rebuild, built from this tree's sources,
drawing with the widgets' own modules from js/ (one source, no copy); and
the plot's arithmetic (ticks, smoothing, the point under the pointer)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXT = ROOT / "jupyter_extension"
BUILT = EXT / "symphony_jupyter" / "labextension"
INSTALLED = (
    Path(sys.prefix) / "share" / "jupyter" / "labextensions" / "@symphony-lab" / "jupyterlab"
)
JUPYTER = Path(sys.executable).with_name("jupyter")


def test_the_labextension_is_installed_enabled_and_ok() -> None:
    listed = subprocess.run(
        [str(JUPYTER), "labextension", "list"], capture_output=True, text=True, timeout=120
    )
    line = next(
        (
            x
            for x in (listed.stdout + listed.stderr).splitlines()
            if "@symphony-lab/jupyterlab" in x
        ),
        "",
    )
    assert "enabled" in line, listed.stdout + listed.stderr
    assert "OK" in line, line
    assert "symphony-jupyter" in line  # installed by pip, as a prebuilt extension


def test_the_installed_labextension_is_this_trees_build() -> None:
    built = json.loads((BUILT / "package.json").read_text())
    installed = json.loads((INSTALLED / "package.json").read_text())
    entry = built["jupyterlab"]["_build"]["load"]
    assert installed["jupyterlab"]["_build"]["load"] == entry, "run ./lab: pip install is stale"
    assert (INSTALLED / entry).is_file()
    newest_source = max(p.stat().st_mtime for p in (EXT / "src").rglob("*.ts"))
    assert (BUILT / entry).stat().st_mtime >= newest_source, "the labextension is older than src/"
    schema = INSTALLED / "schemas" / "@symphony-lab" / "jupyterlab" / "plugin.json"
    assert json.loads(schema.read_text())["properties"]["refreshSeconds"]["default"] == 2


def test_the_bundle_draws_with_the_widgets_modules_from_js() -> None:
    bundle = "".join(p.read_text() for p in (BUILT / "static").glob("*.js"))
    # Strings found only in js/src (the plot and the component registry).
    assert "no values yet" in bundle
    assert "is not a registered component type" in bundle
    for source in (EXT / "src").rglob("*.ts"):
        text = source.read_text()
        assert "no values yet" not in text
        assert "class Plot" not in text  # imported from @symphony-lab/widgets, not copied
    link = EXT / "node_modules" / "@symphony-lab" / "widgets"
    assert link.is_symlink()
    assert link.resolve() == (ROOT / "js").resolve()


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
    (tmp_path / "node_modules" / "@symphony-lab").mkdir(parents=True)
    (tmp_path / "node_modules" / "@symphony-lab" / "widgets").symlink_to(ROOT / "js")
    (tmp_path / "entry.js").write_text(PLOT_CHECK)
    subprocess.run(
        [
            str(ROOT / "js" / "node_modules" / ".bin" / "esbuild"),
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
    done = subprocess.run(["node", "out.mjs"], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout)
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
