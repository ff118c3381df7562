"""A motif rendered by a real extension process, clicked in a real JupyterLab."""

from __future__ import annotations

from pathlib import Path
from typing import Any

MOTIF = """
from symphony_lab.sdk import motif
from symphony_lab.sdk.ui import h

@motif
def render(state):
    return h("div", {"class": "counter"},
             h("span", {"class": "count"}, str(state["count"])),
             h("button", {"label": "+1"}, on={"click": "increment"}))

@motif
def increment(state, event):
    return {"count": state["count"] + 1}
"""

NOTEBOOK = [
    "from pathlib import Path\n"
    "ext = Path('counter')\n"
    "ext.mkdir(exist_ok=True)\n"
    f"(ext / 'counter_ext.py').write_text({MOTIF!r})\n"
    "(ext / 'symphony.toml').write_text('name = \"counter\"\\nversion = \"0.1.0\"\\n'\n"
    '    \'kind = "motif"\\nentry = "counter_ext"\\n\'\n'
    '    \'[[functions]]\\nname = "render"\\n[[functions]]\\nname = "increment"\\n\')\n'
    "from symphony_lab.stage import Stage\n"
    "from symphony_lab.widgets import MotifView\n"
    "stage = Stage([ext]).start()\n"
    "view = MotifView(stage, 'counter.render', state={'count': 0})\n"
    "view",
]


def test_motif_click_reaches_the_extension_and_the_page_follows(
    jupyter_server: Any, page: Any, run_notebook_in_lab: Any, browser_artifacts: Path
) -> None:
    from playwright.sync_api import expect

    jupyter_server.write_notebook("motif.ipynb", NOTEBOOK)
    run = run_notebook_in_lab(page, jupyter_server, "motif.ipynb", timeout=120.0)
    assert run.errors() == []
    count = page.locator(".symphony-vdom .counter span.count")
    expect(count).to_have_text("0", timeout=30_000)
    button = page.locator(".symphony-vdom .counter button")
    button.click()
    expect(count).to_have_text("1")
    button.click()
    expect(count).to_have_text("2")
    page.screenshot(path=str(browser_artifacts / "motif-clicked.png"))
