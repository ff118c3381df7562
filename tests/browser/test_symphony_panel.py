"""The Symphony labextension in a real JupyterLab and Chromium: the sidebar
starts a run from its form, the run's view draws its curve as rows arrive,
Cancel stops it; the Artifacts section pages, searches, previews and pins;
a saved VDOM output draws with no kernel."""

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
    page.locator('.jp-SideBar [data-id="symphony-sidebar"]').click()
    panel = page.locator("#symphony-sidebar")
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


def _png() -> bytes:
    import io

    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(2, 1.5))
    fig.add_subplot().plot([0, 1, 2], [2, 0, 1])
    out = io.BytesIO()
    fig.savefig(out, format="png")
    return out.getvalue()


def test_artifacts_page_search_preview_lineage_and_pin(
    jupyter_server: Any, page: Any, browser_artifacts: Path
) -> None:
    from playwright.sync_api import expect

    from symphony_lab.pit import ArtifactStore

    store = ArtifactStore(jupyter_server.root_dir / "artifacts")
    store.put_many(
        [(f"scratch-{i}", f"scratch note {i}".encode()) for i in range(120)],
        kind="scratch",
        media_type="text/plain",
    )
    table, _ = store.put(
        "results",
        b'pack,solved,note\ntest-medium,1.0,"plain, quoted"\ntest-hard,0.98,x\n',
        kind="table",
        media_type="text/csv",
    )
    plot, _ = store.put("curve", _png(), kind="figure", media_type="image/png", inputs=[table])
    config, _ = store.put(
        "config", b'{"tier": "medium", "steps": 30000}', media_type="application/json"
    )
    notes, _ = store.put(
        "notes", b"the quarterly orchestration review", kind="note", media_type="text/plain"
    )

    open_lab(page, jupyter_server, "symphony-artifacts")
    panel = show_sidebar(page)
    section = panel.locator("#symphony-artifacts")
    section.locator(".symphony-artifact").first.wait_for()
    expect(section.locator(".symphony-message")).to_contain_text("124 artifacts")
    expect(section.locator(".symphony-artifact")).to_have_count(50)
    expect(section.locator(".symphony-artifact").first).to_have_attribute("data-hash", notes)
    section.locator('[data-action="older"]').click()
    expect(section.locator(".symphony-message")).to_contain_text("51\u2013100")
    section.locator('[data-action="newer"]').click()

    search = section.locator(".symphony-search")
    search.fill("quarterly")
    search.press("Enter")
    expect(section.locator(".symphony-artifact")).to_have_count(1)
    section.locator(f'[data-hash="{notes}"]').click()
    view = page.locator(f"#symphony-artifact-{notes[:16]}")
    expect(view.locator(".symphony-preview")).to_contain_text("quarterly orchestration")

    page.evaluate(
        "h => window.jupyterapp.commands.execute('symphony:open-artifact', {hash: h})", plot
    )
    image_view = page.locator(f"#symphony-artifact-{plot[:16]}")
    image = image_view.locator(".symphony-preview img")
    expect(image).to_have_count(1)
    page.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=image.element_handle()
    )
    # Its lineage names the table it was made from; a click opens that.
    image_view.locator(f'.symphony-lineage [data-hash="{table}"]').click()
    table_view = page.locator(f"#symphony-artifact-{table[:16]}")
    csv = table_view.locator('[data-table="csv"]')
    expect(csv.locator("tr")).to_have_count(3)
    expect(csv).to_contain_text("plain, quoted")
    table_view.screenshot(path=str(browser_artifacts / "artifact-table.png"))

    page.evaluate(
        "h => window.jupyterapp.commands.execute('symphony:open-artifact', {hash: h})", config
    )
    json_view = page.locator(f"#symphony-artifact-{config[:16]}")
    expect(json_view.locator('.symphony-preview[data-preview="json"]')).to_contain_text(
        '"steps": 30000'
    )
    json_view.locator('[data-action="pin"]').click()
    expect(json_view.locator('[data-action="unpin"]')).to_have_count(1)
    assert config in [h for h, _, _ in ArtifactStore(jupyter_server.root_dir / "artifacts").pins()]
    json_view.locator('[data-action="unpin"]').click()
    expect(json_view.locator('[data-action="pin"]')).to_have_count(1)
    assert ArtifactStore(jupyter_server.root_dir / "artifacts").pins() == []
    page.screenshot(path=str(browser_artifacts / "artifacts.png"))


def test_extensions_show_their_manifest_and_start_and_stop_from_the_sidebar(
    jupyter_server: Any, page: Any, browser_artifacts: Path
) -> None:
    from playwright.sync_api import expect

    open_lab(page, jupyter_server, "symphony-extensions")
    panel = show_sidebar(page)
    section = panel.locator("#symphony-extensions")
    text = section.locator('[data-extension="text"]')
    expect(text).to_have_attribute("data-state", "not started")
    text.locator("summary .symphony-run-id").click()  # opens the details
    expect(text.locator(".symphony-table tr").nth(1)).to_be_visible()
    expect(text.locator('[data-field="permissions"]')).to_be_visible()
    text.locator('[data-action="start"]').click()
    expect(text).to_have_attribute("data-state", "healthy", timeout=60_000)
    expect(text.locator("summary")).to_contain_text("0 restarts")
    section.screenshot(path=str(browser_artifacts / "extensions.png"))
    text.locator('[data-action="stop"]').click()
    expect(text).to_have_attribute("data-state", "not started", timeout=30_000)


def test_two_runs_compare_side_by_side(
    jupyter_server: Any, page: Any, browser_artifacts: Path
) -> None:
    from playwright.sync_api import expect

    from symphony_lab.runs.record import RunRecord, append_event, write

    ids = []
    for seed, rows in ((1, 6), (2, 9)):
        rec = RunRecord(
            id=f"compare-seed-{seed}", kind="train", params={"env": "medium", "seed": seed}
        )
        rec.status = "done"
        folder = jupyter_server.root_dir / "runs" / rec.id
        write(folder, rec)
        for i in range(rows):
            append_event(
                folder,
                {"type": "train", "steps": 1024.0 * (i + 1), "solve_rate": 0.1 * i * seed,
                 "cost_ratio": 1 + 1 / (i + 1), "mean_return": float(i), "wall_s": 2.0 * i},
            )  # fmt: skip
        summary = [{"agent": "conductor", "solve_rate": 0.5 * seed, "cost_ratio": 1.1}]
        append_event(folder, {"type": "eval", "pack": "test-medium", "summary": summary})
        ids.append(rec.id)

    open_lab(page, jupyter_server, "symphony-compare")
    panel = show_sidebar(page)
    for run_id in ids:
        panel.locator(f'[data-run="{run_id}"] [data-action="pick"]').check()
    panel.locator('[data-action="compare"]').click()
    view = page.locator(".symphony-compare-view")
    table = view.locator('[data-table="compare"]')
    expect(table.locator("tr").first.locator("th")).to_have_count(3)
    expect(table.locator('[data-row="seed"] td')).to_have_text(["1", "2"])
    expect(table.locator('[data-row="test-medium: solved"] td')).to_have_text(["50.0%", "100.0%"])
    expect(table.locator('[data-row="steps"] td')).to_have_text(["6,144", "9,216"])
    expect(table.locator('[data-row="env"]')).to_have_count(0)  # the same in both: not shown
    curve = view.locator('[data-curve="solve_rate"] canvas')
    expect(curve).to_have_attribute("data-points", "15")
    view.screenshot(path=str(browser_artifacts / "compare.png"))


def test_an_episode_replays_call_by_call_with_the_conductors_reasons(
    jupyter_server: Any, page: Any, browser_artifacts: Path
) -> None:
    from playwright.sync_api import expect

    from symphony_lab.conductor import Conductor
    from symphony_lab.conductor.episode import record_episode
    from symphony_lab.runs.record import RunRecord, append_event, write

    episode = record_episode(Conductor(seed=3), "test-medium", scenario=1)
    assert len(episode["steps"]) >= 4
    rec = RunRecord(id="replay-run", kind="eval", params={"packs": ["test-medium"]})
    rec.status = "done"
    folder = jupyter_server.root_dir / "runs" / rec.id
    write(folder, rec)
    append_event(folder, {"type": "episode", "pack": "test-medium", **episode})

    open_lab(page, jupyter_server, "symphony-replay")
    page.evaluate(
        "() => window.jupyterapp.commands.execute('symphony:open-run', {id: 'replay-run'})"
    )
    replay = page.locator(".symphony-run-view .symphony-episodes")
    expect(replay).to_have_attribute("data-step", "0")
    reason = replay.locator(".symphony-reason")
    expect(reason.locator('[data-field="call"]')).to_have_text(episode["steps"][0]["call"])
    slider = replay.locator(".symphony-episode-step")
    slider.fill("3")
    expect(replay).to_have_attribute("data-step", "3")
    step = episode["steps"][3]
    expect(reason.locator('[data-field="call"]')).to_have_text(step["call"])
    expect(reason.locator(".symphony-bar-row")).to_have_count(len(step["probabilities"]))
    expect(reason.locator(f'[data-option="{step["probabilities"][0][0]}"]')).to_be_visible()
    expert = reason.locator('[data-field="expert"]')
    if step["expert"] == step["call"]:
        expect(expert).to_have_text("the expert agrees")
    else:
        expect(expert).to_contain_text(str(step["expert"]))
    # On the canvas: calls up to the step in their end state, later ones pending.
    states = page.evaluate(
        """() => { const c = document.querySelector('.symphony-episode-canvas');
             return c ? true : false; }"""
    )
    assert states
    replay.screenshot(path=str(browser_artifacts / "episode-replay.png"))


def test_a_run_started_from_a_notebook_outlives_a_kernel_restart(
    jupyter_server: Any, page: Any, run_notebook_in_lab: Any, browser_artifacts: Path
) -> None:

    jupyter_server.write_notebook(
        "server-run.ipynb",
        [
            "from symphony_lab.runs.client import RunClient\n"
            "client = RunClient()  # this kernel's server, found by itself\n"
            "run = client.train('easy', steps=400_000, pretrain=False, checkpoint_every=2048)\n"
            "print('RUN=' + run.id)",
        ],
    )
    ran = run_notebook_in_lab(page, jupyter_server, "server-run.ipynb", timeout=120.0)
    assert ran.errors() == []
    run_id = next(x for x in ran.text().split() if x.startswith("RUN=")).removeprefix("RUN=")
    wait_status(jupyter_server, run_id, {"running"})

    def rows() -> int:
        events = jupyter_server.api("GET", f"symphony/api/runs/{run_id}/events")["events"]
        return sum(e["type"] == "train" for e in events)

    deadline = time.monotonic() + 120
    while rows() < 1:
        assert time.monotonic() < deadline, "no training row"
        time.sleep(0.5)
    (session,) = [
        s for s in jupyter_server.api("GET", "api/sessions") if s["path"] == "server-run.ipynb"
    ]
    kernel = session["kernel"]["id"]
    # Restart the notebook's kernel from Lab's own command, as a user does.
    # Not awaited: the command's promise waits for the dialog this test answers.
    page.evaluate("() => { window.jupyterapp.commands.execute('notebook:restart-kernel'); }")
    page.locator(".jp-Dialog .jp-mod-accept").click()
    # The new kernel knows nothing of the old one's `run`, and attaches to it by id.
    attached = page.evaluate(
        """async (id) => {
             const kernel = window.jupyterapp.shell.currentWidget.sessionContext.session.kernel;
             const code = "from symphony_lab.runs.client import RunClient\\n" +
               "print('run' in globals(), RunClient().run('" + id + "').status)";
             let text = "";
             for (let i = 0; i < 120 && kernel.status !== "idle"; i++)
               await new Promise((r) => setTimeout(r, 500));
             const future = kernel.requestExecute({ code });
             future.onIOPub = (msg) => { if (msg.content.text) text += msg.content.text; };
             await future.done;
             return text.trim();
           }""",
        run_id,
    )
    assert attached == "False running", attached
    before = rows()
    deadline = time.monotonic() + 120
    while rows() <= before:
        assert time.monotonic() < deadline, "the run stopped with the kernel"
        time.sleep(0.5)
    assert jupyter_server.api("GET", f"symphony/api/runs/{run_id}")["status"] == "running"
    (session,) = [
        s for s in jupyter_server.api("GET", "api/sessions") if s["path"] == "server-run.ipynb"
    ]
    assert session["kernel"]["id"] == kernel  # the same kernel, restarted
    page.screenshot(path=str(browser_artifacts / "after-restart.png"))
    jupyter_server.api("POST", f"symphony/api/runs/{run_id}/cancel")
    assert wait_status(jupyter_server, run_id, {"cancelled", "failed"}) == "cancelled"


def test_quest_view_plays_a_level_by_clicking_beside_the_solver_and_the_conductor(
    jupyter_server: Any, page: Any, browser_artifacts: Path
) -> None:
    from playwright.sync_api import expect

    from symphony_lab.conductor import Conductor
    from symphony_lab.runs.record import RunRecord, write

    # A trained Conductor to play the level (the Conductors listed are the
    # finished training runs' conductor.pt).
    rec = RunRecord(id="quest-conductor", kind="train", params={"env": "easy", "steps": 0})
    rec.status = "done"
    folder = jupyter_server.root_dir / "runs" / rec.id
    write(folder, rec)
    Conductor(seed=0).save(folder / "conductor.pt")
    level = jupyter_server.api("GET", "symphony/api/quest/packs/test-easy/2")
    plan = level["plan"]["calls"]

    open_lab(page, jupyter_server, "symphony-quest")
    page.evaluate("() => { window.jupyterapp.commands.execute('symphony:open-quest'); }")
    view = page.locator(".symphony-quest-view")
    view.locator('.symphony-quest-row[data-level="2"]').click()
    expect(view).to_have_attribute("data-level", level["level"]["id"])
    expect(view.locator('[data-plan="solver"] li')).to_have_count(len(plan))
    expect(view).to_have_attribute("data-calls", "0")
    # Play the solver's plan by clicking each function on the graph.
    for n, name in enumerate(plan, start=1):
        point = page.evaluate(
            """(name) => { const v = document.querySelector('.symphony-quest-view');
                 const c = v.questCanvas(); const keys = c.g.keys;
                 const p = c.screenOf(keys.indexOf(name));
                 const r = v.querySelector('.symphony-quest-canvas').getBoundingClientRect();
                 return { x: r.left + p.x, y: r.top + p.y }; }""",
            name,
        )
        page.mouse.click(point["x"], point["y"])
        expect(view).to_have_attribute("data-calls", str(n))
    expect(view).to_have_attribute("data-won", "true")
    expect(view.locator('[data-plan="you"] li')).to_have_text(plan)
    view.locator(".symphony-quest-checkpoint").select_option("quest-conductor/conductor.pt")
    view.locator('[data-action="conductor"]').click()
    expect(view.locator('[data-plan="conductor"] li').first).to_be_visible(timeout=120_000)
    view.screenshot(path=str(browser_artifacts / "quest.png"))


def test_a_saved_notebook_shows_a_widgets_last_view_with_no_kernel_that_knows_it(
    jupyter_server: Any, page: Any, run_notebook_in_lab: Any, browser_artifacts: Path
) -> None:
    from playwright.sync_api import expect

    path = jupyter_server.write_notebook(
        "widget-saved.ipynb",
        [
            "from symphony_lab.pit import h\n"
            "from symphony_lab.widgets import VdomWidget\n"
            "w = VdomWidget(h('div', {'class': 'first'}, 'first view'))\n"
            "w",
            "w.update(h('div', {'class': 'final'}, 'last view 42'))\nw.save_snapshot()",
        ],
    )
    ran = run_notebook_in_lab(page, jupyter_server, "widget-saved.ipynb", timeout=120.0)
    assert ran.errors() == []
    expect(page.locator(".symphony-vdom .final")).to_have_text("last view 42")
    page.evaluate("() => window.jupyterapp.commands.execute('docmanager:save')")
    deadline = time.monotonic() + 30
    while "last view 42" not in path.read_text():
        assert time.monotonic() < deadline, "the widget state was not saved"
        time.sleep(0.3)
    saved = nbformat.read(path, as_version=4)
    # Viewers without widgets get the tree as HTML in the output itself.
    assert "first view" in saved.cells[0].outputs[0]["data"]["text/html"]
    jupyter_server.shutdown_sessions()  # the kernel that made the widget is gone

    page.goto(jupyter_server.lab_url("widget-saved.ipynb", workspace="symphony-reopened"))
    shown = page.locator(".jp-Notebook .symphony-vdom")
    expect(shown).to_have_attribute("data-snapshot", "shown", timeout=60_000)
    expect(shown.locator(".final")).to_have_text("last view 42")
    shown.screenshot(path=str(browser_artifacts / "widget-reopened.png"))


def test_the_panels_follow_labs_dark_theme(
    jupyter_server: Any, page: Any, browser_artifacts: Path
) -> None:
    from playwright.sync_api import expect

    open_lab(page, jupyter_server, "symphony-dark")
    panel = show_sidebar(page)
    expect(panel.locator('[data-field="runs-dir"]')).to_contain_text(
        str(jupyter_server.root_dir / "runs")
    )
    page.evaluate(
        "() => window.jupyterapp.commands.execute('apputils:change-theme', "
        "{theme: 'JupyterLab Dark'})"
    )
    page.wait_for_function("() => document.body.dataset.jpThemeLight === 'false'")

    def luminance(selector: str) -> float:
        rgb = page.evaluate(
            "(s) => getComputedStyle(document.querySelector(s)).backgroundColor", selector
        )
        r, g, b = (int(v) for v in rgb[rgb.index("(") + 1 : rgb.index(")")].split(",")[:3])
        return (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255

    page.wait_for_function(
        "() => getComputedStyle(document.querySelector('#symphony-sidebar')).backgroundColor"
        " !== 'rgb(255, 255, 255)'"
    )
    assert luminance("#symphony-sidebar") < 0.3
    text = page.evaluate("() => getComputedStyle(document.querySelector('#symphony-runs')).color")
    assert text != "rgb(0, 0, 0)"
    panel.screenshot(path=str(browser_artifacts / "dark-sidebar.png"))
    page.evaluate(
        "() => window.jupyterapp.commands.execute('apputils:change-theme', "
        "{theme: 'JupyterLab Light'})"
    )


def test_a_conductors_checkpoint_is_evaluated_from_the_sidebar(
    jupyter_server: Any, page: Any, browser_artifacts: Path
) -> None:
    from playwright.sync_api import expect

    from symphony_lab.conductor import Conductor
    from symphony_lab.runs.record import RunRecord, append_event, write

    rec = RunRecord(id="trained-for-eval", kind="train", params={"env": "easy", "steps": 256})
    rec.status = "done"
    folder = jupyter_server.root_dir / "runs" / rec.id
    write(folder, rec)
    conductor = Conductor(seed=1)
    conductor.save(folder / "conductor.pt")
    conductor.save(folder / "checkpoints" / "conductor-128.pt")
    summary = [{"agent": "conductor", "solve_rate": 1.0, "cost_ratio": 1.02}]
    append_event(folder, {"type": "eval", "pack": "test-easy", "summary": summary})

    open_lab(page, jupyter_server, "symphony-conductors")
    panel = show_sidebar(page)
    card = panel.locator('#symphony-conductors [data-conductor="trained-for-eval"]')
    expect(card.locator("table")).to_contain_text("test-easy")
    card.locator('[data-field="checkpoint"]').select_option("checkpoints/conductor-128.pt")
    card.locator('input[aria-label="pack"]').fill("test-tutorial")
    card.locator('[data-action="evaluate"]').click()
    deadline = time.monotonic() + 120
    while True:
        runs = jupyter_server.api("GET", "symphony/api/runs")["runs"]
        evals = [
            r
            for r in runs
            if r["kind"] == "eval" and "trained-for-eval" in r["params"].get("checkpoint", "")
        ]
        if evals and evals[0]["status"] in ("done", "failed"):
            break
        assert time.monotonic() < deadline, "the evaluation did not end"
        time.sleep(0.5)
    assert evals[0]["status"] == "done", evals[0]["error"]
    assert evals[0]["params"]["checkpoint"].endswith(
        "trained-for-eval/checkpoints/conductor-128.pt"
    )
    row = card.locator("tr", has_text="checkpoints/conductor-128.pt")
    expect(row).to_contain_text("test-tutorial", timeout=30_000)
    card.screenshot(path=str(browser_artifacts / "conductors.png"))
