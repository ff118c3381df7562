"""The notebook's side of the run service: launch or attach to a run in the
Jupyter server, and get back what a notebook already knows.

>>> from symphony_lab.runs.client import RunClient
>>> client = RunClient()                      # the server this kernel runs under
>>> run = client.train("medium", steps=20_000, packs=["test-medium"])
>>> TrainingDashboard.follow(run)             # live curves; Stop cancels the run
>>> run.wait().evaluation().summary()         # the run's Evaluation
>>> conductor = run.conductor()               # the trained Conductor, loaded

The run lives in the server's worker process, not in this kernel: restart
the kernel and ``client.run(run_id)`` attaches to it again.

Apart from the package's ``__init__`` on purpose: it loads PyTorch (for the
Conductor), which the server extension never does.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import fields
from io import StringIO
from pathlib import Path
from typing import Any

import pandas as pd
from jupyter_core.paths import jupyter_runtime_dir

from symphony_lab.conductor import Conductor, Evaluation
from symphony_lab.runs.record import FINISHED, RunError, RunRecord, UnknownRun

#: Seconds between reads of a live run's events.
POLL_S = 0.5


class ServerNotFound(RuntimeError):
    """No Jupyter server to talk to: not in a kernel it started, and no URL given."""


class RunFailed(RuntimeError):
    """The run ended failed, cancelled or interrupted."""


def find_server(runtime_dir: str | os.PathLike[str] | None = None) -> tuple[str, str]:
    """The URL and token of the Jupyter server this kernel runs under: the
    server's info file (``jpserver-<pid>.json``) for the pid in
    ``JPY_PARENT_PID``, which Jupyter sets in every kernel it starts. Else
    ``SYMPHONY_SERVER_URL`` and ``SYMPHONY_SERVER_TOKEN``."""
    url = os.environ.get("SYMPHONY_SERVER_URL")
    if url:
        return url, os.environ.get("SYMPHONY_SERVER_TOKEN", "")
    pid = os.environ.get("JPY_PARENT_PID")
    folder = Path(runtime_dir if runtime_dir is not None else jupyter_runtime_dir())
    if pid:
        info = folder / f"jpserver-{pid}.json"
        try:
            data = json.loads(info.read_text())
        except FileNotFoundError:
            raise ServerNotFound(
                f"this kernel's Jupyter server (pid {pid}) left no {info}:"
                " give RunClient(url=..., token=...)"
            ) from None
        return str(data["url"]), str(data.get("token", ""))
    raise ServerNotFound(
        "not in a kernel a Jupyter server started (no JPY_PARENT_PID), and no"
        " SYMPHONY_SERVER_URL: give RunClient(url=..., token=...)"
    )


class LocalServer:
    """A Jupyter server of its own on loopback, for a script or a notebook
    run outside Jupyter (nbmake, papermill): ``python -m jupyter_server`` in
    ``root_dir`` with a random token, stopped by :meth:`stop` or at exit
    from a ``with`` block. Its runs live in ``root_dir/runs``; ``extra_args``
    go to the server's command line (``--SymphonyRuns.runs_dir=...``)."""

    def __init__(
        self,
        root_dir: str | os.PathLike[str],
        *,
        timeout: float = 60.0,
        extra_args: Sequence[str] = (),
    ) -> None:
        self.root_dir = Path(root_dir)
        self.root_dir.mkdir(parents=True, exist_ok=True)
        self.token = secrets.token_hex(16)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}/"
        self.log_path = self.root_dir / ".jupyter-server.log"
        command = [
            sys.executable,
            "-m",
            "jupyter_server",
            "--no-browser",
            "--ip=127.0.0.1",
            f"--port={port}",
            "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={self.token}",
            f"--ServerApp.root_dir={self.root_dir}",
            *extra_args,
        ]
        if os.geteuid() == 0:
            command.append("--allow-root")
        with self.log_path.open("wb") as log:
            # Its info and connection files stay in root_dir, not in the home folder.
            env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(self.root_dir / ".jupyter-runtime")}
            self.process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env
            )
        try:
            self._wait(timeout)
        except BaseException:
            self.stop()
            raise

    def _wait(self, timeout: float) -> None:
        client = RunClient(self.url, token=self.token, timeout=5.0)
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise ServerNotFound(f"the Jupyter server exited: {self.log_tail()}")
            try:
                client.runs()
                return
            except (ServerNotFound, RuntimeError):
                if time.monotonic() > deadline:
                    raise ServerNotFound(
                        f"the Jupyter server did not answer in {timeout} s: {self.log_tail()}"
                    ) from None
                time.sleep(0.2)

    def log_tail(self, chars: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:]

    def client(self) -> RunClient:
        return RunClient(self.url, token=self.token)

    def stop(self) -> None:
        """Stops the server; runs it started go on in their own workers,
        on disk, for the next server on ``root_dir`` to list."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self) -> LocalServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class RunClient:
    """Talks to the run service of one Jupyter server (``/symphony/api/runs``).

    ``url`` and ``token`` default to the server this kernel runs under
    (:func:`find_server`)."""

    def __init__(
        self, url: str | None = None, *, token: str | None = None, timeout: float = 30.0
    ) -> None:
        if url is None:
            url, found = find_server()
            token = found if token is None else token
        self.url = url.rstrip("/") + "/"
        self.token = token or ""
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"RunClient({self.url!r})"

    @classmethod
    def connect(
        cls, root_dir: str | os.PathLike[str] = "."
    ) -> tuple[RunClient, LocalServer | None]:
        """The server this kernel runs under, else a :class:`LocalServer`
        started on ``root_dir`` (returned too, to stop when done)."""
        with contextlib.suppress(ServerNotFound):
            return cls(), None
        local = LocalServer(root_dir)
        return local.client(), local

    # ---- HTTP ----

    def request(self, method: str, path: str, body: Any = None) -> Any:
        """One call to ``/symphony/api/<path>``: the decoded JSON. A 400 is a
        ``RunError``, a 404 an ``UnknownRun``, each with the server's message."""
        return json.loads(self._raw(method, path, body) or b"null")

    def _raw(self, method: str, path: str, body: Any = None) -> bytes:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            urllib.parse.urljoin(self.url, f"symphony/api/{path}"),
            data=data,
            method=method,
            headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as response:
                raw: bytes = response.read()
                return raw
        except urllib.error.HTTPError as e:
            try:
                message = json.loads(e.read()).get("message", "")
            except ValueError:
                message = ""
            message = message or f"{e.code} {e.reason}"
            if e.code == 404:
                raise UnknownRun(message) from None
            if e.code == 400:
                raise RunError(message) from None
            raise RuntimeError(f"{method} {path}: {e.code}: {message}") from None
        except urllib.error.URLError as e:
            raise ServerNotFound(
                f"the Jupyter server at {self.url} does not answer: {e.reason}"
            ) from None

    # ---- runs ----

    def runs(self) -> list[RunRecord]:
        """Every run the server knows, newest first."""
        listed = self.request("GET", "runs")["runs"]
        # The listing adds what the Runs panel shows (progress, checkpoints).
        known = {f.name for f in fields(RunRecord)}
        return [RunRecord.from_dict({k: v for k, v in r.items() if k in known}) for r in listed]

    def run(self, run_id: str) -> RemoteRun:
        """Attaches to a run (started here, in another kernel, in the Lab UI or a terminal)."""
        run = RemoteRun(self, run_id)
        run.record()  # an UnknownRun now rather than later
        return run

    def train(
        self,
        env: str = "medium",
        *,
        steps: int = 30_000,
        seed: int = 0,
        pretrain: bool = True,
        checkpoint_every: int = 5_000,
        packs: Sequence[str] = (),
        **params: Any,
    ) -> RemoteRun:
        """Starts a training run in the server (other parameters: those of
        ``symphony_lab.runs.params.TRAIN``)."""
        params = {
            "env": env,
            "steps": steps,
            "seed": seed,
            "pretrain": pretrain,
            "checkpoint_every": checkpoint_every,
            "packs": list(packs),
            **params,
        }
        rec = self.request("POST", "runs", {"kind": "train", "params": params})
        return RemoteRun(self, rec["id"])

    def evaluate(
        self,
        checkpoint: str,
        packs: Sequence[str] = ("test-medium",),
        *,
        episodes: int | None = None,
        seed: int = 0,
    ) -> RemoteRun:
        """Starts an evaluation of ``checkpoint`` (a path inside the server's
        runs folder, such as ``<run id>/conductor.pt``) on ``packs``."""
        params = {
            "checkpoint": checkpoint,
            "packs": list(packs),
            "episodes": episodes,
            "seed": seed,
        }
        rec = self.request("POST", "runs", {"kind": "eval", "params": params})
        return RemoteRun(self, rec["id"])


class RemoteRun:
    """A run in the server: its record, events, files, and the objects they make."""

    def __init__(self, client: RunClient, run_id: str) -> None:
        self.client = client
        self.id = run_id

    def __repr__(self) -> str:
        return f"RemoteRun({self.id!r})"

    def _path(self, tail: str = "") -> str:
        return f"runs/{urllib.parse.quote(self.id, safe='')}{tail}"

    def record(self) -> RunRecord:
        return RunRecord.from_dict(self.client.request("GET", self._path()))

    @property
    def status(self) -> str:
        return self.record().status

    def events(self, start: int = 0) -> tuple[list[dict[str, Any]], int]:
        """Events from line ``start`` on, and the line to read next."""
        got = self.client.request("GET", self._path(f"/events?start={start}"))
        return got["events"], got["next"]

    def follow(self, start: int = 0, *, poll_s: float = POLL_S) -> Iterator[dict[str, Any]]:
        """Every event from line ``start`` until the run ends, each once and
        in order, as the run writes them."""
        line = start
        while True:
            ended = self.record().status in FINISHED  # read before the events: none missed
            events, line = self.events(line)
            yield from events
            if ended:
                return
            time.sleep(poll_s)

    def wait(self, timeout: float | None = None, *, poll_s: float = POLL_S) -> RemoteRun:
        """Waits for the run to end; ``RunFailed`` when it did not end done."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while (rec := self.record()).status not in FINISHED:
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"run {self.id} is still {rec.status} after {timeout} s")
            time.sleep(poll_s)
        if rec.status != "done":
            raise RunFailed(
                f"run {self.id} ended {rec.status}" + (f": {rec.error}" if rec.error else "")
            )
        return self

    def cancel(self) -> RunRecord:
        return RunRecord.from_dict(self.client.request("POST", self._path("/cancel")))

    def resume(self) -> RunRecord:
        return RunRecord.from_dict(self.client.request("POST", self._path("/resume")))

    def logs(self, tail: int = 20_000) -> str:
        text: str = self.client.request("GET", self._path(f"/logs?tail={tail}"))["log"]
        return text

    def file(self, name: str) -> bytes:
        """A file of the run's folder (``conductor.pt``, ``<pack>.csv``, ...)."""
        return self.client._raw("GET", self._path("/files/" + urllib.parse.quote(name)))

    def evaluation(self, packs: Sequence[str] | None = None) -> Evaluation:
        """The run's evaluations as one ``Evaluation`` (every pack it
        evaluated, or ``packs``), one row per (agent, level) episode."""
        if packs is None:
            events, _ = self.events()
            packs = [e["pack"] for e in events if e.get("type") == "eval"]
        if not packs:
            raise RunError(f"run {self.id} has no evaluation (yet)")
        frames = [pd.read_csv(StringIO(self.file(f"{pack}.csv").decode())) for pack in packs]
        return Evaluation(pd.concat(frames, ignore_index=True))

    def conductor(self, checkpoint: str = "conductor.pt") -> Conductor:
        """The run's trained Conductor (or a checkpoint, ``checkpoints/conductor-<steps>.pt``)."""
        data = self.file(checkpoint)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / Path(checkpoint).name
            path.write_bytes(data)
            return Conductor.load(path)


__all__ = ["LocalServer", "RemoteRun", "RunClient", "RunFailed", "ServerNotFound", "find_server"]
