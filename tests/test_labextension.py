"""The JupyterLab extension as a user gets it: the prebuilt labextension
installed and enabled with no Lab rebuild, built from this tree's sources,
drawing with the widgets' own modules from js/ (one source, no copy)."""

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
