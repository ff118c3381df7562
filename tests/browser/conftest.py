"""Real-browser fixtures: a JupyterLab server on loopback, driven by Chromium.

* ``jupyter_server`` (session): ``python -m jupyterlab`` from this venv on
  127.0.0.1, a random token, a temporary root folder and its own Jupyter
  config/data/runtime folders, so nothing from the user's ``~/.jupyter``
  leaks in and the ``python3`` kernel is this venv's Python.
* ``browser`` (session) and ``page`` (function): Playwright's sync API over
  Debian's ``/usr/bin/chromium`` (Playwright's own browser download cannot
  work here).  Every ``page`` gets a fresh browser context; at the end of the
  test a screenshot is always saved under the test's output folder
  (``browser_artifacts``), and another one at the moment a test fails.
* ``run_notebook_in_lab`` (a fixture that returns the helper
  ``run_notebook_in_lab(page, server, notebook_name, timeout=60.0, *,
  raise_on_error=True, kernel_name="python3") -> LabRun``): opens the
  notebook in Lab, answers a "Select Kernel" dialog, runs every cell and
  waits until each has executed and the kernel is idle.  A fixture, so tests
  need not import from conftest.  Sessions (kernels) a test opened are shut
  down when its ``page`` ends.

Nothing here skips: a part that cannot be set up (no chromium, no
playwright, a server that does not answer) fails the test with a message
that says what to do.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, Playwright

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SERVER_START_TIMEOUT_S = 60.0
SERVER_STOP_TIMEOUT_S = 15.0
# Where to keep the screenshots instead of the test's tmp_path, if set.
ARTIFACTS_ENV = "SYMPHONY_BROWSER_ARTIFACTS"

# Lab user settings written before the server starts: no news or update
# checks (offline, and no toast over the page), and every notebook cell
# attached to the DOM (the default windowing mode leaves off-screen cells
# out of the page, which hides their outputs from page queries).
LAB_USER_SETTINGS: dict[str, dict[str, Any]] = {
    "@jupyterlab/apputils-extension/notification": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
    "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
    # Widget models saved in the notebook on save, as a user turns on to keep
    # widgets' last views (the Symphony widgets' snapshot lives there).
    "@jupyter-widgets/jupyterlab-manager/plugin": {"saveState": True},
}


# --------------------------------------------------------------------------
# The JupyterLab server
# --------------------------------------------------------------------------


@dataclass
class LabServer:
    """A running ``jupyter lab``: where it answers and where its files live."""

    url: str
    token: str
    root_dir: Path
    log_path: Path
    process: subprocess.Popen[bytes]
    #: Orchestra Kit's home for the server (SYMPHONY_HOME): what its marketplace installs.
    symphony_home: Path
    kernel_python: str = sys.executable

    def log_tail(self, chars: int = 6000) -> str:
        """The end of the server's log, for failure messages."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError as exc:
            return f"(could not read {self.log_path}: {exc})"
        return text[-chars:]

    def api(self, method: str, path: str, body: Any = None, timeout: float = 10.0) -> Any:
        """Call the server's REST API with the token; returns the decoded JSON (or None)."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"{self.url}/{path.lstrip('/')}",
            data=data,
            method=method,
            headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=timeout) as response:
            raw = response.read()
        return json.loads(raw) if raw else None

    def write_notebook(
        self,
        name: str,
        cells: Sequence[str | Any],
        *,
        kernel_name: str = "python3",
        display_name: str = "Python 3 (ipykernel)",
    ) -> Path:
        """Write a notebook under ``root_dir`` and return its path.

        ``cells``: a string is a code cell's source; anything else must be an
        nbformat cell (``nbformat.v4.new_markdown_cell(...)``, ...).  The
        kernelspec is in the metadata, so Lab starts that kernel by itself.
        """
        import nbformat

        nb = nbformat.v4.new_notebook()
        nb.metadata["kernelspec"] = {
            "name": kernel_name,
            "display_name": display_name,
            "language": "python",
        }
        nb.metadata["language_info"] = {"name": "python"}
        nb.cells = [
            nbformat.v4.new_code_cell(cell) if isinstance(cell, str) else cell for cell in cells
        ]
        nbformat.validate(nb)
        path = self.root_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, path)
        return path

    def lab_url(self, notebook_name: str, workspace: str | None = None) -> str:
        """The page that opens ``notebook_name`` in Lab, logged in with the token.

        With ``workspace``, Lab uses a workspace of that name: a fresh name
        means no tab of an earlier test is restored next to this notebook.
        """
        quoted = urllib.parse.quote(notebook_name)
        where = f"workspaces/{urllib.parse.quote(workspace)}/tree" if workspace else "tree"
        return f"{self.url}/lab/{where}/{quoted}?token={self.token}"

    def shutdown_sessions(self) -> None:
        """Shut down every notebook session (and its kernel) on the server."""
        for session in self.api("GET", "api/sessions"):
            try:
                self.api("DELETE", f"api/sessions/{session['id']}")
            except urllib.error.HTTPError as exc:
                if exc.code != 404:
                    raise


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _write_user_settings(settings_dir: Path) -> None:
    for plugin, values in LAB_USER_SETTINGS.items():
        path = settings_dir / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values, indent=2))


def _lab_env(state_dir: Path) -> dict[str, str]:
    """The server's environment: this venv first, and Jupyter folders of its own."""
    env = {k: v for k, v in os.environ.items() if k not in {"JUPYTER_PATH", "JUPYTER_CONFIG_PATH"}}
    for var, sub in [
        ("JUPYTER_CONFIG_DIR", "config"),
        ("JUPYTER_DATA_DIR", "data"),
        ("JUPYTER_RUNTIME_DIR", "runtime"),
        ("IPYTHONDIR", "ipython"),
    ]:
        path = state_dir / sub
        path.mkdir(parents=True, exist_ok=True)
        env[var] = str(path)
    env["JUPYTER_PREFER_ENV_PATH"] = "1"
    env["JUPYTER_PLATFORM_DIRS"] = "1"
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["PYTHONUNBUFFERED"] = "1"
    # The marketplace installs here, never into the user's own home.
    env["SYMPHONY_HOME"] = str(state_dir / "symphony-home")
    return env


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM it when pytest dies, even by SIGKILL (Linux)."""
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, int(signal.SIGTERM))


def _stop_process_group(process: subprocess.Popen[bytes], timeout: float) -> None:
    if process.poll() is not None:
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=timeout)
            return
        except subprocess.TimeoutExpired:
            continue


def _start_lab(root_dir: Path, state_dir: Path) -> LabServer:
    token = secrets.token_hex(24)
    settings_dir = state_dir / "user-settings"
    workspaces_dir = state_dir / "workspaces"
    _write_user_settings(settings_dir)
    workspaces_dir.mkdir(parents=True, exist_ok=True)
    env = _lab_env(state_dir)
    attempts = 3
    for attempt in range(1, attempts + 1):
        port = _free_port()
        log_path = state_dir / f"jupyter-lab-{attempt}.log"
        cmd = [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            "--ip=127.0.0.1",
            f"--port={port}",
            "--ServerApp.port_retries=0",
            # ServerApp.token is deprecated since jupyter_server 2.0.
            f"--IdentityProvider.token={token}",
            f"--ServerApp.root_dir={root_dir}",
            "--ServerApp.allow_remote_access=False",
            "--LabApp.news_url=None",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            "--LabApp.extension_manager=readonly",
            "--LabApp.expose_app_in_browser=True",
            f"--LabApp.user_settings_dir={settings_dir}",
            f"--LabApp.workspaces_dir={workspaces_dir}",
        ]
        if os.geteuid() == 0:
            cmd.append("--allow-root")  # containers and CI run as root
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=root_dir,
                env=env,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        server = LabServer(
            url=f"http://127.0.0.1:{port}",
            token=token,
            root_dir=root_dir,
            log_path=log_path,
            process=process,
            symphony_home=Path(env["SYMPHONY_HOME"]),
        )
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        last_error = "no answer yet"
        while time.monotonic() < deadline:
            if process.poll() is not None:
                break
            try:
                status = server.api("GET", "api/status", timeout=2.0)
            except (OSError, ValueError) as exc:
                last_error = repr(exc)
                time.sleep(0.25)
                continue
            if isinstance(status, dict) and "started" in status:
                return server
            last_error = f"unexpected /api/status answer: {status!r}"
            time.sleep(0.25)
        _stop_process_group(process, SERVER_STOP_TIMEOUT_S)
        log = server.log_tail()
        port_taken = "already in use" in log or "Address already in use" in log
        if port_taken and attempt < attempts:
            continue  # lost the race for the free port: try another one
        how = (
            f"exited with code {process.returncode}"
            if process.returncode is not None and time.monotonic() < deadline
            else f"did not answer /api/status within {SERVER_START_TIMEOUT_S:.0f} s ({last_error})"
        )
        pytest.fail(
            f"JupyterLab server {how}.\ncommand: {' '.join(cmd)}\n"
            f"--- server log ({log_path}) ---\n{log}",
            pytrace=False,
        )
    raise AssertionError("unreachable")  # pragma: no cover


def _stop_lab(server: LabServer) -> None:
    """Shut the kernels and the server down cleanly, then the process group."""
    if server.process.poll() is None:
        # The server may close the connection as it stops.
        with contextlib.suppress(OSError, ValueError):
            server.api("POST", "api/shutdown", timeout=SERVER_STOP_TIMEOUT_S)
        with contextlib.suppress(subprocess.TimeoutExpired):
            server.process.wait(timeout=SERVER_STOP_TIMEOUT_S)
    _stop_process_group(server.process, SERVER_STOP_TIMEOUT_S)


@pytest.fixture(scope="session")
def jupyter_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    """A JupyterLab server on loopback; stopped (kernels included) after the session."""
    root_dir = tmp_path_factory.mktemp("lab-root")
    state_dir = tmp_path_factory.mktemp("lab-state")
    server = _start_lab(root_dir, state_dir)
    try:
        yield server
    finally:
        _stop_lab(server)
        _cancel_runs(root_dir / "runs")


def _cancel_runs(runs: Path) -> None:
    """Runs live in worker processes of their own, past the server: cancel
    any a test left going."""
    if not runs.is_dir():
        return
    from symphony_lab.runs import FINISHED, RunManager

    manager = RunManager(runs)
    for rec in manager.runs():
        if rec.status not in FINISHED:
            with contextlib.suppress(Exception):
                manager.cancel(rec.id)
    manager.close()


# --------------------------------------------------------------------------
# The browser
# --------------------------------------------------------------------------


def _import_playwright() -> Any:
    try:
        from playwright import sync_api
    except ImportError as exc:
        pytest.fail(
            f"playwright is not installed ({exc}): run ./lab, or pip install -e '.[dev]'",
            pytrace=False,
        )
    return sync_api


# Per module, not per session: Playwright's sync API keeps an asyncio loop
# running in the main thread while it is open, and tests after the browser
# tests (asyncio.run in the pool's tests) must not find one.
@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    sync_api = _import_playwright()
    with sync_api.sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    """Debian's Chromium, headless, launched by Playwright."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(
            f"{CHROMIUM} not found: the browser tests drive Debian's chromium "
            "(./lab installs it; or apt-get install -y chromium)",
            pytrace=False,
        )
    try:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            timeout=60_000,
        )
    except Exception as exc:
        pytest.fail(f"could not launch {CHROMIUM} through Playwright: {exc}", pytrace=False)
    try:
        yield browser
    finally:
        browser.close()


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_")[:120] or "test"


@pytest.fixture
def browser_artifacts(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """The test's output folder for screenshots and browser logs.

    ``tmp_path/browser`` by default; ``$SYMPHONY_BROWSER_ARTIFACTS/<test id>``
    when that variable is set.
    """
    base = os.environ.get(ARTIFACTS_ENV)
    folder = Path(base) / _safe_name(request.node.nodeid) if base else tmp_path / "browser"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@dataclass
class _PageLog:
    lines: list[str] = field(default_factory=list)

    def add(self, line: str) -> None:
        self.lines.append(line)


_PAGE_LOG = pytest.StashKey[_PageLog]()
_ARTIFACTS = pytest.StashKey[Path]()


@pytest.fixture
def page(
    browser: Browser, request: pytest.FixtureRequest, browser_artifacts: Path
) -> Iterator[Page]:
    """A page in a fresh browser context; a screenshot is saved when it ends."""
    server: LabServer | None = (
        request.getfixturevalue("jupyter_server")
        if "jupyter_server" in request.fixturenames
        else None
    )
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(30_000)
    pg = context.new_page()
    log = _PageLog()
    pg.on("console", lambda msg: log.add(f"console.{msg.type}: {msg.text}"))
    pg.on("pageerror", lambda exc: log.add(f"pageerror: {exc}"))
    request.node.stash[_PAGE_LOG] = log
    request.node.stash[_ARTIFACTS] = browser_artifacts
    try:
        yield pg
    finally:
        try:
            pg.screenshot(path=str(browser_artifacts / "final.png"), full_page=True)
        except Exception as exc:
            log.add(f"(final screenshot failed: {exc})")
        (browser_artifacts / "console.log").write_text("\n".join(log.lines) + "\n")
        context.close()
        if server is not None and server.process.poll() is None:
            server.shutdown_sessions()  # no kernel of this test outlives it


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """On a failure, screenshot the page as it is then, and say where it went."""
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if report.when != "call" or not report.failed:
        return
    folder = item.stash.get(_ARTIFACTS, None)
    pg = getattr(item, "funcargs", {}).get("page")
    if folder is None:
        return
    lines = [f"artifacts: {folder}"]
    if pg is not None:
        shot = folder / "failure.png"
        try:
            pg.screenshot(path=str(shot), full_page=True)
            lines.append(f"failure screenshot: {shot}")
        except Exception as exc:
            lines.append(f"failure screenshot could not be taken: {exc}")
    page_log = item.stash.get(_PAGE_LOG, None)
    if page_log is not None and page_log.lines:
        lines.append("last browser console lines:")
        lines.extend(page_log.lines[-30:])
    report.sections.append(("browser", "\n".join(lines)))


# --------------------------------------------------------------------------
# Running a notebook in Lab
# --------------------------------------------------------------------------

# What the page knows about the notebook at `path`: the app, the panel, its
# kernel, its cells (from the model, not the DOM), open dialogs and the state
# of our run-all request.  Needs LabApp.expose_app_in_browser.
_STATE_JS = """
(path) => {
  const dialogs = Array.from(document.querySelectorAll('.jp-Dialog')).map((d) => ({
    text: (d.innerText || '').slice(0, 500),
    kernelSelect: !!d.querySelector('select'),
  }));
  const state = { app: false, panel: false, dialogs, run: window.__symphonyRunAll || null };
  const app = window.jupyterapp;
  if (!app) return state;
  state.app = true;
  let panel = null;
  for (const w of app.shell.widgets('main')) {
    if (w.context && w.context.path === path && w.content && w.sessionContext) { panel = w; break; }
  }
  if (!panel) return state;
  state.panel = true;
  state.current = app.shell.currentWidget === panel;
  state.contextReady = panel.context.isReady;
  const sc = panel.sessionContext;
  state.sessionReady = sc.isReady;
  state.hasNoKernel = sc.hasNoKernel;
  const kernel = sc.session ? sc.session.kernel : null;
  state.kernelName = kernel ? kernel.name : null;
  state.kernelStatus = kernel ? kernel.status : null;
  state.connectionStatus = kernel ? kernel.connectionStatus : null;
  state.cells = [];
  const model = panel.content.model;
  if (model) {
    for (const c of model.cells) {
      const code = c.type === 'code';
      state.cells.push({
        type: c.type,
        source: c.sharedModel.getSource(),
        executionCount: code ? c.executionCount : null,
        outputs: code ? c.outputs.toJSON() : [],
      });
    }
  }
  return state;
}
"""

_RUN_ALL_JS = """
async (path) => {
  const app = window.jupyterapp;
  let panel = null;
  for (const w of app.shell.widgets('main')) {
    if (w.context && w.context.path === path && w.content && w.sessionContext) { panel = w; break; }
  }
  if (!panel) throw new Error('no notebook panel for ' + path);
  app.shell.activateById(panel.id);
  if (app.shell.currentWidget !== panel) throw new Error('could not make ' + path + ' current');
  const run = { done: false, result: null, error: null, started: Date.now() };
  window.__symphonyRunAll = run;
  await app.commands.execute('notebook:clear-all-cell-outputs');
  app.commands.execute('notebook:run-all-cells').then(
    (result) => { run.done = true; run.result = result === undefined ? null : result; },
    (error) => { run.done = true; run.error = String(error && error.stack || error); },
  );
}
"""

_CHOOSE_KERNEL_JS = """
(name) => {
  for (const select of document.querySelectorAll('.jp-Dialog select')) {
    for (const option of select.options) {
      let value = null;
      try { value = JSON.parse(option.value); } catch (e) { continue; }
      if (value && value.name === name) {
        select.value = option.value;
        select.dispatchEvent(new Event('change', { bubbles: true }));
        return true;
      }
    }
  }
  return false;
}
"""

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


@dataclass
class LabRun:
    """What a run in Lab left in the notebook model, cell by cell."""

    notebook: str
    kernel_name: str
    cells: list[dict[str, Any]]
    seconds: float
    # The text of each "Select Kernel" dialog that was accepted on the way.
    kernel_dialogs: list[str] = field(default_factory=list)

    def text(self) -> str:
        """Every stream and text/plain output of the notebook, joined."""
        parts: list[str] = []
        for cell in self.cells:
            for out in cell["outputs"]:
                if out.get("output_type") == "stream":
                    text = out.get("text", "")
                    parts.append(text if isinstance(text, str) else "".join(text))
                else:
                    plain = out.get("data", {}).get("text/plain")
                    if plain:
                        parts.append(plain if isinstance(plain, str) else "".join(plain))
        return "".join(parts)

    def errors(self) -> list[str]:
        return _errors(self.cells)


def _errors(cells: list[dict[str, Any]]) -> list[str]:
    found = []
    for i, cell in enumerate(cells):
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                trace = _ANSI.sub("", "\n".join(out.get("traceback", [])))
                found.append(f"cell {i}: {out.get('ename')}: {out.get('evalue')}\n{trace}")
    return found


def _pending(cells: list[dict[str, Any]]) -> list[int]:
    return [
        i
        for i, cell in enumerate(cells)
        if cell["type"] == "code" and cell["source"].strip() and cell["executionCount"] is None
    ]


def _describe(state: dict[str, Any] | None) -> str:
    if state is None:
        return "(no state read from the page)"
    short = {k: v for k, v in state.items() if k != "cells"}
    cells = state.get("cells") or []
    short["cells"] = [
        {"type": c["type"], "executionCount": c["executionCount"], "source": c["source"][:80]}
        for c in cells
    ]
    return json.dumps(short, indent=1, default=str)


def _run_notebook_in_lab(
    page: Page,
    server: LabServer,
    notebook_name: str,
    timeout: float = 60.0,
    *,
    raise_on_error: bool = True,
    kernel_name: str = "python3",
) -> LabRun:
    """Open ``notebook_name`` (relative to ``server.root_dir``) in Lab and run all of it.

    Opens it in a fresh workspace (no tab of an earlier test comes back),
    waits for the kernel to be idle (answering a "Select Kernel" dialog, if
    one appears, with ``kernel_name``, else its default), clears the
    outputs, runs every cell, and waits until every non-empty code cell has
    an execution count and the kernel is idle again.  Fails the test with
    the page's state and the server's log on a timeout, and (unless
    ``raise_on_error=False``) with the traceback when a cell raised.
    """
    started = time.monotonic()
    deadline = started + timeout
    workspace = f"t-{uuid.uuid4().hex[:12]}"
    page.goto(server.lab_url(notebook_name, workspace), wait_until="domcontentloaded")

    def fail(why: str, state: dict[str, Any] | None) -> None:
        pytest.fail(
            f"run_notebook_in_lab({notebook_name!r}) failed after "
            f"{time.monotonic() - started:.1f} s: {why}\n"
            f"--- page state ---\n{_describe(state)}\n"
            f"--- server log ---\n{server.log_tail(3000)}",
            pytrace=False,
        )

    def state_now() -> dict[str, Any]:
        return page.evaluate(_STATE_JS, notebook_name)

    kernel_dialogs: list[str] = []

    def accept_kernel_dialog(state: dict[str, Any]) -> bool:
        texts = [d["text"] for d in state["dialogs"] if d["kernelSelect"]]
        if not texts:
            return False
        kernel_dialogs.append(texts[0])
        if len(kernel_dialogs) > 5:
            fail("the kernel selection dialog keeps coming back", state)
        # Choose `kernel_name` (Python 3) when offered, else keep the default.
        page.evaluate(_CHOOSE_KERNEL_JS, kernel_name)
        page.locator(".jp-Dialog .jp-Dialog-button.jp-mod-accept").first.click()
        page.wait_for_timeout(200)
        return True

    # 1. The notebook is open and its kernel is idle.
    state: dict[str, Any] | None = None
    while True:
        if time.monotonic() > deadline:
            fail("the notebook's kernel was not idle", state)
        state = state_now()
        if accept_kernel_dialog(state):
            continue
        if (
            state["panel"]
            and state.get("contextReady")
            and state.get("sessionReady")
            and state.get("kernelStatus") == "idle"
            and state.get("connectionStatus") == "connected"
        ):
            break
        if state["panel"] and state.get("sessionReady") and state.get("hasNoKernel"):
            fail("the notebook has no kernel (kernel selection declined?)", state)
        page.wait_for_timeout(100)

    # 2. Run all cells, then wait for every cell to have run.
    page.evaluate(_RUN_ALL_JS, notebook_name)
    idle_since: float | None = None
    while True:
        if time.monotonic() > deadline:
            fail(f"cells {_pending(state.get('cells') or [])} had not run", state)
        state = state_now()
        if accept_kernel_dialog(state):
            continue
        cells = state.get("cells") or []
        run = state.get("run") or {}
        errors = _errors(cells)
        if errors and raise_on_error and run.get("done"):
            fail("a cell raised:\n" + "\n".join(errors), state)
        if run.get("error"):
            fail(f"Run All Cells failed: {run['error']}", state)
        finished = run.get("done") and (not _pending(cells) or (errors and not raise_on_error))
        if finished and state.get("kernelStatus") == "idle":
            # Idle twice in a row, 200 ms apart: outputs sent just before the
            # idle message are in the model by then.
            if idle_since is not None and time.monotonic() - idle_since >= 0.2:
                break
            idle_since = idle_since or time.monotonic()
        else:
            idle_since = None
        page.wait_for_timeout(100)

    return LabRun(
        notebook=notebook_name,
        kernel_name=state.get("kernelName") or "",
        cells=state["cells"],
        seconds=time.monotonic() - started,
        kernel_dialogs=kernel_dialogs,
    )


RunNotebookInLab = Callable[..., LabRun]


@pytest.fixture
def run_notebook_in_lab() -> RunNotebookInLab:
    """The helper ``run_notebook_in_lab(page, server, notebook_name, timeout=60.0)``."""
    return _run_notebook_in_lab
