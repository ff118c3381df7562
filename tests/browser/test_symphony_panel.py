"""The Symphony labextension in a real JupyterLab and Chromium: the sidebar
starts a run from its form, the run's view draws its curve as rows arrive,
Cancel stops it; a saved VDOM output draws with no kernel; a run goes on
while the notebook's kernel restarts."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import nbformat

from symphony_lab.pit import h
from symphony_lab.pit.vdom import MIME


def open_lab(page: Any, server: Any, workspace: str) -> None:
    page.goto(f"{server.url}/lab/workspaces/{workspace}?token={server.token}")
    page.wait_for_selector("#jp-main-dock-panel", timeout=60_000)


def show_sidebar(page: Any) -> Any:
    page.locator('.jp-SideBar [data-id="symphony-runs"]').click()
    panel = page.locator("#symphony-runs")
    panel.wait_for(state="visible")
    return panel


def wait_status(server: Any, run_id: str, wanted: set[str], timeout: float = 120.0) -> str:
    deadline = time.monotonic() + timeout
    status = ""
    while time.monotonic() < deadline:
        status = server.api("GET", f"symphony/api/runs/{run_id}")["status"]
        if status in wanted:
            return status
        time.sleep(0.5)
    raise AssertionError(f"run {run_id} stayed {status}, not {wanted}")


def test_start_a_run_from_the_sidebar_watch_its_curve_and_cancel_it(
    jupyter_server: Any, page: Any, browser_artifacts: Path
) -> None:
    from playwright.sync_api import expect

    open_lab(page, jupyter_server, "symphony-start")
    panel = show_sidebar(page)
    form = panel.locator('form[data-form="train"]')
    form.locator('input[name="env"]').fill("easy")
    form.locator('input[name="steps"]').fill("400000")
    form.locator('input[name="checkpoint_every"]').fill("2048")
    form.locator('input[name="pretrain"]').uncheck()
    form.locator('[data-action="start"]').click()

    # The form opens the new run's view; its id is the view's.
    view = page.locator(".symphony-run-view")
    expect(view).to_have_count(1)
    run_id = view.locator("h1").inner_text()
    assert panel.locator(f'[data-run="{run_id}"]').count() <= 1
    expect(view).to_have_attribute("data-status", "running", timeout=60_000)

    # The curve grows: two rows, then more, drawn as they come.
    curve = view.locator('[data-curve="solve_rate"] canvas')
    expect(view).to_have_attribute("data-rows", "2", timeout=120_000)
    first = int(curve.get_attribute("data-points") or 0)
    assert first >= 2
    page.wait_for_function(
        "([el, n]) => Number(el.dataset.points) > n",
        arg=[curve.element_handle(), first],
        timeout=120_000,
    )
    # The values under the pointer.
    box = curve.bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] * 0.7, box["y"] + box["height"] / 2)
    page.wait_for_function(
        "el => (el.dataset.hover || '').includes('train')", arg=curve.element_handle()
    )
    page.screenshot(path=str(browser_artifacts / "run-view.png"))

    # The sidebar lists it, running, with its progress.
    row = panel.locator(f'[data-run="{run_id}"]')
    expect(row).to_have_attribute("data-status", "running")
    expect(row.locator('[data-field="solve"]')).not_to_have_text("solved \u2013")
    panel.screenshot(path=str(browser_artifacts / "runs-panel.png"))

    row.locator('[data-action="cancel"]').click()
    assert wait_status(jupyter_server, run_id, {"cancelled", "failed", "done"}) == "cancelled"
    expect(view).to_have_attribute("data-status", "cancelled", timeout=30_000)
    expect(row).to_have_attribute("data-status", "cancelled", timeout=30_000)
    # A cancelled training run with a checkpoint offers to resume.
    expect(row.locator('[data-action="resume"]')).to_have_count(1)


def test_a_saved_vdom_output_draws_without_a_kernel(
    jupyter_server: Any, page: Any, browser_artifacts: Path
) -> None:
    from playwright.sync_api import expect

    tree = h(
        "div",
        {"class": "report"},
        h("button", {"label": "Stop"}),
        h("data_table", {"columns": ["pack", "solved"], "rows": [["test-medium", "100%"]]}),
        "no kernel needed",
    )
    bundle = tree._repr_mimebundle_()
    cell = nbformat.v4.new_code_cell("tree")
    cell.outputs = [nbformat.v4.new_output("display_data", data=bundle)]
    path = jupyter_server.write_notebook("vdom-saved.ipynb", [cell])
    nb = nbformat.read(path, as_version=4)
    assert MIME in nb.cells[0].outputs[0]["data"]
    # Trusted or not: the renderer is safe (no script, URLs checked).
    page.goto(jupyter_server.lab_url("vdom-saved.ipynb", workspace="symphony-vdom"))
    out = page.locator(".jp-Notebook .symphony-vdom-static")
    expect(out).to_have_count(1, timeout=60_000)
    expect(out.locator("button")).to_have_text("Stop")
    expect(out.locator("table")).to_contain_text("test-medium")
    expect(out).to_contain_text("no kernel needed")
    # The static HTML fallback is not drawn beside it.
    expect(page.locator(".jp-Notebook .jp-RenderedHTMLCommon .report")).to_have_count(0)
    assert json.loads(out.get_attribute("data-nodes") or "0") >= 4
    out.screenshot(path=str(browser_artifacts / "vdom-output.png"))
