"""The widgets in a real JupyterLab in Chromium: the DagView of a 10,000-task
DAG (tasks drawn, a click's details, live state changes, replay) and a
virtual DOM event reaching its Python handler."""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

NOTEBOOK = [
    # A 10,000-task DAG, each task after two earlier ones; task t0 names an
    # artifact and carries the Conductor's action probabilities.
    "import json, random\n"
    "from symphony_lab.pit import ArtifactStore, DagTracker\n"
    "from symphony_lab.widgets import DagView, VdomWidget\n"
    "from symphony_lab.pit import h\n"
    "store = ArtifactStore('artifacts')\n"
    "report = store.put_blob(b'the report t0 wrote', kind='text', producer='writer')\n"
    "random.seed(7)\n"
    "tracker = DagTracker()\n"
    "tracker.add_task('t0', payload=json.dumps({'function': 'write_report', 'outputs': [report],"
    " 'probabilities': {'write_report': 0.8, 'summarise': 0.2}}).encode())\n"
    "tracker.add_tasks([f't{i}' for i in range(1, 10_000)])\n"
    "src = [f't{random.randrange(max(0, v - 200), v)}'\n"
    "       for v in range(1, 10_000) for _ in range(2)]\n"
    "dst = [f't{v}' for v in range(1, 10_000) for _ in range(2)]\n"
    "tracker.add_edges(src, dst)\n"
    "view = DagView(tracker, store=store)\n"
    "view",
    # A virtual DOM whose button's handler re-renders it.
    "clicks = []\n"
    "def ui():\n"
    "    return h('div', {'class': 'demo'}, h('button', {'label': f'clicked {len(clicks)}'},"
    " on={'click': on_click}))\n"
    "def on_click(event):\n"
    "    clicks.append(event)\n"
    "    widget.update(ui())\n"
    "widget = VdomWidget(ui())\n"
    "widget",
]


def kernel_execute(page: Any, code: str) -> None:
    """Runs ``code`` in the notebook's kernel, as a cell would, and waits."""
    page.evaluate(
        """async (code) => {
            const panel = window.jupyterapp.shell.currentWidget;
            const kernel = panel.sessionContext.session.kernel;
            const reply = await kernel.requestExecute({ code, store_history: false }).done;
            if (reply.content.status !== 'ok') throw new Error(JSON.stringify(reply.content));
        }""",
        code,
    )


def test_dag_view_and_vdom_events_in_lab(
    jupyter_server: Any,
    page: Any,
    run_notebook_in_lab: Any,
    browser_artifacts: Path,
) -> None:
    from playwright.sync_api import expect

    jupyter_server.write_notebook("widgets.ipynb", NOTEBOOK)
    run = run_notebook_in_lab(page, jupyter_server, "widgets.ipynb", timeout=120.0)
    assert run.errors() == []

    dag = page.locator(".symphony-dag")
    expect(dag).to_have_count(1)
    expect(dag).to_have_attribute("data-tasks", "10000", timeout=30_000)
    # Fitted to the view, every task is drawn.
    page.wait_for_function(
        "() => document.querySelector('.symphony-dag').dataset.drawn === '10000'", timeout=30_000
    )
    first_render_ms = float(dag.get_attribute("data-first-render-ms") or "nan")
    page.screenshot(path=str(browser_artifacts / "dag-fitted.png"))

    # An idle view does nothing per frame: nothing on it changes for a second.
    writes = page.evaluate(
        """() => new Promise((done) => {
            const el = document.querySelector('.symphony-dag');
            let n = 0;
            const seen = new MutationObserver((records) => (n += records.length));
            seen.observe(el, { attributes: true });
            setTimeout(() => { seen.disconnect(); done(n); }, 1000);
        })"""
    )
    assert writes == 0, f"an idle DagView wrote its element {writes} times in a second"

    # Search zooms to t0; a click on it shows its details, from Python.
    search = page.locator(".symphony-dag-search")
    search.fill("t0")
    search.press("Enter")
    where = page.evaluate(
        """() => {
            const el = document.querySelector('.symphony-dag');
            const canvas = el.querySelector('canvas').getBoundingClientRect();
            const p = el.dagView().screenOf(0);
            return { x: canvas.left + p.x, y: canvas.top + p.y };
        }"""
    )
    page.mouse.click(where["x"], where["y"])
    details = page.locator(".symphony-dag-details")
    expect(details.locator("h4")).to_have_text("t0")
    expect(details).to_contain_text("write_report")
    expect(details.locator(".symphony-prob").first).to_contain_text("write_report 80.0%")
    expect(details.locator(".symphony-artifact pre")).to_have_text("the report t0 wrote")
    page.screenshot(path=str(browser_artifacts / "dag-details.png"))

    # Live: tasks started in Python change colour in the page; only changes go.
    state_of = "(i) => document.querySelector('.symphony-dag').dagView().stateOf(i)"
    assert page.evaluate(state_of, 0) == "ready"
    kernel_execute(page, "tracker.start('t0'); view.refresh()")
    page.wait_for_function(f"() => ({state_of})(0) === 'running'", timeout=10_000)
    kernel_execute(page, "tracker.done('t0'); view.refresh()")
    page.wait_for_function(f"() => ({state_of})(0) === 'done'", timeout=10_000)
    for _ in range(20):
        kernel_execute(
            page, "k = tracker.ready()[0]; tracker.start(k); tracker.done(k); view.refresh()"
        )
    page.wait_for_function(
        "() => (document.querySelector('.symphony-dag').dataset.latencies || '')"
        ".split(',').length >= 22",
        timeout=20_000,
    )
    latencies = [float(x) for x in dag.get_attribute("data-latencies").split(",")]
    done = page.evaluate(
        "() => { const v = document.querySelector('.symphony-dag').dagView();"
        " let n = 0; for (let i = 0; i < 10000; i++) if (v.stateOf(i) === 'done') n++;"
        " return n; }"
    )
    assert done == 21
    page.screenshot(path=str(browser_artifacts / "dag-live.png"))

    # A virtual DOM event reaches its Python handler, whose re-render shows.
    button = page.locator(".symphony-vdom button")
    expect(button).to_have_text("clicked 0")
    button.click()
    expect(button).to_have_text("clicked 1")
    button.click()
    expect(button).to_have_text("clicked 2")
    page.screenshot(path=str(browser_artifacts / "vdom-clicked.png"))

    figures = {
        "dag_first_render_ms_10k": first_render_ms,
        "state_change_to_colour_ms_median": statistics.median(latencies),
        "state_change_to_colour_ms": latencies,
    }
    (browser_artifacts / "figures.json").write_text(json.dumps(figures, indent=1))
    print(
        f"DagView, 10,000 tasks: first render {first_render_ms:.0f} ms; state change in Python"
        f" to colour in the page: median {statistics.median(latencies):.1f} ms"
    )


def test_dag_view_replay_shows_each_checkpoint(
    jupyter_server: Any,
    page: Any,
    run_notebook_in_lab: Any,
    browser_artifacts: Path,
) -> None:
    from playwright.sync_api import expect

    jupyter_server.write_notebook(
        "replay.ipynb",
        [
            "from symphony_lab.pit import DagTracker\n"
            "from symphony_lab.widgets import DagView\n"
            "t = DagTracker()\n"
            "for k in 'abcdef': t.add_task(k)\n"
            "t.add_edges(['a', 'a', 'b', 'c', 'd'], ['b', 'c', 'd', 'd', 'e'])\n"
            "checkpoints = [t.to_bytes()]\n"
            "for k in ['a', 'b', 'c', 'd']:\n"
            "    t.start(k); checkpoints.append(t.to_bytes())\n"
            "    t.done(k); checkpoints.append(t.to_bytes())\n"
            "t.start('f'); t.fail('f'); checkpoints.append(t.to_bytes())\n"
            "expected = [DagTracker.from_bytes(c) for c in checkpoints]\n"
            "expected = [[x.state(k) for k in x.keys()] for x in expected]\n"
            "replay = DagView(checkpoints=checkpoints)\n"
            "replay.step = 3  # before it is shown: the view must still see step 3\n"
            "replay",
            "import json; print('EXPECTED=' + json.dumps(expected))",
        ],
    )
    run = run_notebook_in_lab(page, jupyter_server, "replay.ipynb", timeout=60.0)
    assert run.errors() == []
    text = run.text()
    assert "EXPECTED=" in text, f"no EXPECTED= in the outputs: {text!r}"
    expected = json.loads(text.split("EXPECTED=", 1)[1].splitlines()[0])
    slider = page.locator(".symphony-dag-step")
    expect(slider).to_have_attribute("max", str(len(expected) - 1))
    states = (
        "() => { const v = document.querySelector('.symphony-dag').dagView();"
        " return [0, 1, 2, 3, 4, 5].map((i) => v.stateOf(i)); }"
    )
    page.wait_for_function(
        f"(want) => JSON.stringify(({states})()) === JSON.stringify(want)",
        arg=expected[3],
        timeout=10_000,
    )
    for k in [0, 3, 8, len(expected) - 1, 1]:
        slider.fill(str(k))
        page.wait_for_function(
            f"(want) => JSON.stringify(({states})()) === JSON.stringify(want)",
            arg=expected[k],
            timeout=10_000,
        )
    page.screenshot(path=str(browser_artifacts / "replay.png"))


def test_training_dashboard_curves_and_stop(
    jupyter_server: Any,
    page: Any,
    run_notebook_in_lab: Any,
    browser_artifacts: Path,
) -> None:
    from playwright.sync_api import expect

    jupyter_server.write_notebook(
        "train.ipynb",
        [
            "from symphony_lab.conductor import Conductor\n"
            "from symphony_lab.widgets import TrainingDashboard\n"
            "conductor = Conductor(seed=0)\n"
            "dash = TrainingDashboard(best_path='best.pt')\n"
            "dash.launch(conductor, env='easy', total_steps=1_000_000, n_envs=2)\n"
            "dash",
        ],
    )
    run_notebook_in_lab(page, jupyter_server, "train.ipynb", timeout=60.0)
    board = page.locator(".symphony-dashboard")
    expect(board).to_have_count(1)
    # The return curve grows while training runs on its thread.
    page.wait_for_function(
        "() => Number(document.querySelector('.symphony-dashboard canvas')?.dataset.points) >= 3",
        timeout=60_000,
    )
    expect(board.locator(".status")).to_contain_text("/ 1,000,000 steps")
    page.screenshot(path=str(browser_artifacts / "dashboard-live.png"))
    stop = board.locator("button")
    expect(stop).to_be_enabled()
    stop.click()
    expect(board.locator(".status")).to_contain_text("stopped at", timeout=30_000)
    expect(stop).to_be_disabled()
    kernel_execute(
        page,
        "dash.wait(30)\n"
        "assert dash.stopped and not dash.running\n"
        "assert 0 < conductor.num_timesteps < 1_000_000, conductor.num_timesteps\n"
        "assert dash.best_state is not None\n"
        "import os; assert os.path.getsize('best.pt') > 0\n"
        "best = Conductor.load('best.pt')\n"
        "assert best.num_timesteps <= conductor.num_timesteps",
    )
    page.screenshot(path=str(browser_artifacts / "dashboard-stopped.png"))
