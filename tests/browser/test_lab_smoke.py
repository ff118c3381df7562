"""Smoke test of the real-browser set-up: a notebook run in JupyterLab in Chromium."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

MARKER = "symphony-lab-smoke-marker-7f3a"
HTML_ID = "symphony-smoke-html"


def test_notebook_runs_in_lab_and_renders_html(
    jupyter_server: Any,
    page: Any,
    run_notebook_in_lab: Any,
    browser_artifacts: Path,
) -> None:
    from playwright.sync_api import expect

    name = "smoke.ipynb"
    jupyter_server.write_notebook(
        name,
        [
            f"print({MARKER!r})",
            "import sys\n"
            "print('KERNEL-PREFIX=' + sys.prefix)\n"
            "print('KERNEL-EXE=' + sys.executable)",
            "from IPython.display import HTML, display\n"
            f"display(HTML('<div id=\"{HTML_ID}\"><b>rendered by the kernel</b></div>'))",
        ],
    )

    run = run_notebook_in_lab(page, jupyter_server, name, timeout=60.0)

    # Every cell ran, in order, in the python3 kernel.
    assert run.kernel_name == "python3"
    assert [c["executionCount"] for c in run.cells] == [1, 2, 3]
    assert run.errors() == []

    # The kernel is this venv's Python.
    lines = dict(
        line.split("=", 1) for line in run.text().splitlines() if line.startswith("KERNEL-")
    )
    assert os.path.realpath(lines["KERNEL-PREFIX"]) == os.path.realpath(sys.prefix)
    assert os.path.realpath(lines["KERNEL-EXE"]) == os.path.realpath(sys.executable)
    assert Path(lines["KERNEL-EXE"]).parent == Path(sys.executable).parent

    # What the kernel sent is in the page: the printed marker and the HTML element.
    outputs = page.locator(".jp-Notebook .jp-OutputArea-output")
    expect(outputs.filter(has_text=MARKER)).to_have_count(1)
    html = page.locator(f".jp-Notebook .jp-RenderedHTMLCommon #{HTML_ID}")
    expect(html).to_have_count(1)
    expect(html).to_be_visible()
    expect(html).to_have_text("rendered by the kernel")

    shot = browser_artifacts / "smoke.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 0
