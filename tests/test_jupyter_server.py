"""The workbench's server side: a real Jupyter server with the
symphony_jupyter extension (enabled by its install, as a user gets it), real
worker processes, a real ArtifactStore and real extension processes, real
HTTP; the notebook client; the auth matrix; the RunManager across a server
restart."""

from __future__ import annotations

import asyncio
import contextlib
import http.cookiejar
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from kit_helpers import make_extension, publish, publisher
from tornado.httpclient import HTTPClientError, HTTPRequest
from tornado.websocket import websocket_connect

from symphony_lab.conductor import Conductor, Evaluation
from symphony_lab.kit import Kit
from symphony_lab.kit.home import add_registry, registry_keys
from symphony_lab.kit.registry import HttpRegistry, RegistryStore
from symphony_lab.kit.trust import Keyring, signature_path
from symphony_lab.pit import ArtifactStore
from symphony_lab.runs import RunError, RunManager, UnknownRun
from symphony_lab.runs.client import RunClient, find_server
from symphony_lab.runs.record import append_event, check_id, events, progress, read
from symphony_lab.widgets import TrainingDashboard

#: A training run that ends in seconds: the tutorial tier, a few demos, two checkpoints.
QUICK = {
    "env": "tutorial",
    "steps": 256,
    "n_envs": 2,
    "pretrain_episodes": 20,
    "checkpoint_every": 128,
}
#: One that runs until stopped.
LONG = {**QUICK, "steps": 10_000_000}


@dataclass
class Server:
    url: str
    token: str
    root: Path
    process: subprocess.Popen[bytes]
    #: The server's Orchestra Kit home (SYMPHONY_HOME), where its marketplace installs.
    home: Path
    #: The team registry it serves under /symphony/registry.
    team: Path

    def call(
        self, method: str, path: str, body: Any = None, *, token: str | None = None
    ) -> tuple[int, Any]:
        """(status, decoded JSON) of one request; errors are answers too."""
        headers = {"Content-Type": "application/json"}
        if (token or self.token) != "-":
            headers["Authorization"] = f"token {token or self.token}"
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"{self.url}{path}", data=data, method=method, headers=headers
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as r:
                return r.status, json.loads(r.read() or b"null")
        except urllib.error.HTTPError as e:
            raw = e.read()
            try:
                return e.code, json.loads(raw)
            except json.JSONDecodeError:
                return e.code, raw.decode(errors="replace")

    def wait(self, run_id: str, statuses: set[str], timeout: float = 180.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status, rec = self.call("GET", f"/symphony/api/runs/{run_id}")
            assert status == 200, rec
            if rec["status"] in statuses:
                return rec
            time.sleep(0.5)
        _, log = self.call("GET", f"/symphony/api/runs/{run_id}/logs")
        raise AssertionError(f"run {run_id} is {rec['status']}, not {statuses}:\n{log}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    base = tmp_path_factory.mktemp("jupyter")
    root = base / "root"
    root.mkdir()
    token = secrets.token_hex(16)
    port = _free_port()
    team = base / "team-registry"
    RegistryStore.create(team, "team").close()
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(base / "config"),
        "JUPYTER_DATA_DIR": str(base / "data"),
        "JUPYTER_RUNTIME_DIR": str(base / "runtime"),
        "HOME": str(base),
        "SYMPHONY_HOME": str(base / "symphony-home"),
    }
    log = (base / "server.log").open("wb")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyter_server",
            "--no-browser",
            "--ip=127.0.0.1",
            f"--port={port}",
            "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={token}",
            f"--ServerApp.root_dir={root}",
            "--allow-root",
            # Every route must say it needs a user, or Jupyter refuses it.
            "--ServerApp.allow_unauthenticated_access=False",
            f"--SymphonyKit.registry_dir={team}",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    s = Server(f"http://127.0.0.1:{port}", token, root, process, base / "symphony-home", team)
    deadline = time.monotonic() + 60
    while True:
        try:
            if s.call("GET", "/api/status")[0] == 200:
                break
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"the Jupyter server did not start:\n{(base / 'server.log').read_text()}")
        time.sleep(0.3)
    try:
        yield s
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
        _stop_workers(root / "runs")


def test_a_training_run_then_an_evaluation_over_http(server: Server) -> None:
    status, rec = server.call("POST", "/symphony/api/runs", {"kind": "train", "params": QUICK})
    assert status == 201, rec
    assert rec["status"] in ("queued", "running")
    assert rec["params"]["seed"] == 0
    assert rec["params"]["threads"] == 1
    prov = rec["provenance"]
    assert len(prov["git"]["commit"]) == 40
    assert isinstance(prov["git"]["dirty"], bool)
    assert prov["packages"]["torch"]
    assert prov["packages"]["symphony-lab"]
    done = server.wait(rec["id"], {"done", "failed"})
    assert done["status"] == "done", done["error"]
    folder = server.root / "runs" / rec["id"]
    assert (folder / "conductor.pt").is_file()
    assert sorted(p.name for p in (folder / "checkpoints").iterdir()) == [
        "conductor-128.pt",
        "conductor-256.pt",
    ]
    _, events = server.call("GET", f"/symphony/api/runs/{rec['id']}/events")
    assert (
        b"NaN"
        not in urllib.request.urlopen(  # browsers' JSON.parse refuses NaN
            urllib.request.Request(
                f"{server.url}/symphony/api/runs/{rec['id']}/events",
                headers={"Authorization": f"token {server.token}"},
            )
        ).read()
    )
    kinds = [e["type"] for e in events["events"]]
    assert kinds.count("train") >= 1
    assert kinds[-1] == "saved"
    assert events["next"] == len(kinds)
    _, later = server.call("GET", f"/symphony/api/runs/{rec['id']}/events?start={events['next']}")
    assert later == {"events": [], "next": events["next"]}
    _, listed = server.call("GET", "/symphony/api/runs")
    assert rec["id"] in [r["id"] for r in listed["runs"]]

    params = {"checkpoint": f"{rec['id']}/conductor.pt", "packs": ["test-tutorial"], "episodes": 3}
    status, ev = server.call("POST", "/symphony/api/runs", {"kind": "eval", "params": params})
    assert status == 201, ev
    ended = server.wait(ev["id"], {"done", "failed"})
    assert ended["status"] == "done", ended["error"]
    _, events = server.call("GET", f"/symphony/api/runs/{ev['id']}/events")
    evaluation, episode = events["events"]
    # The Conductor's play of the pack's first level, each call with its reason.
    assert episode["type"] == "episode"
    assert episode["pack"] == "test-tutorial"
    assert episode["steps"]
    first = episode["steps"][0]
    assert first["call"] == first["probabilities"][0][0]  # it called its likeliest
    assert (
        abs(sum(p for _, p in first["probabilities"]) - 1) < 0.05
        or len(first["probabilities"]) == 4
    )  # the top four, or all it could call
    assert len(episode["graph"]["keys"]) == len(episode["steps"])
    assert episode["graph"]["keys"][0].startswith("0: ")
    assert evaluation["pack"] == "test-tutorial"
    assert {row["agent"] for row in evaluation["summary"]} >= {"conductor", "exact_replanning"}
    assert (server.root / "runs" / ev["id"] / "test-tutorial.csv").is_file()


def test_a_killed_worker_fails_alone_and_a_cancelled_one_says_so(server: Server) -> None:
    runs = [
        server.call("POST", "/symphony/api/runs", {"kind": "train", "params": p})[1]
        for p in (LONG, LONG, QUICK)
    ]
    killed, cancelled, other = (r["id"] for r in runs)
    pid = server.wait(killed, {"running"})["pid"]
    os.killpg(pid, signal.SIGKILL)
    rec = server.wait(killed, {"failed"})
    assert "SIGKILL" in rec["error"]
    server.wait(cancelled, {"running"})
    status, rec = server.call("POST", f"/symphony/api/runs/{cancelled}/cancel")
    assert status == 200, rec
    assert rec["status"] == "cancelled", rec
    assert server.wait(other, {"done", "failed"})["status"] == "done"  # the others ran on
    assert server.call("GET", "/api/status")[0] == 200  # and the server never noticed


def test_bad_requests_get_errors_that_name_the_problem_and_change_nothing(
    server: Server,
) -> None:
    _, before = server.call("GET", "/symphony/api/runs")
    outside = server.root / "elsewhere.pt"
    outside.write_bytes(b"not a conductor")
    (server.root / "runs-evil").mkdir(exist_ok=True)
    (server.root / "runs-evil" / "c.pt").write_bytes(b"x")
    bad = [
        ({"kind": "dance"}, "kind must be 'train' or 'eval'"),
        ({"kind": "train", "params": {"steps": -1}}, "steps: must be >= 1"),
        ({"kind": "train", "params": {"steps": "many"}}, "steps: expected int"),
        ({"kind": "train", "params": {"pretrain": 1}}, "pretrain: expected bool"),
        ({"kind": "train", "params": {"speed": 3}}, "unknown train parameters ['speed']"),
        ({"kind": "train", "colour": "red"}, "unknown fields ['colour']"),
        ({"kind": "eval", "params": {"checkpoint": "../elsewhere.pt"}}, "not inside"),
        ({"kind": "eval", "params": {"checkpoint": "../runs-evil/c.pt"}}, "not inside"),
        ({"kind": "eval", "params": {"checkpoint": "nothing.pt"}}, "no file"),
        ({"kind": "eval", "params": {"checkpoint": "x.pt", "packs": []}}, "packs"),
        ({"kind": "eval", "params": {"checkpoint": "a\u0000b"}}, "not a usable path"),
        ({"kind": "train", "params": []}, "params must be an object"),
        ({"kind": "eval", "params": {"checkpoint": "x.pt", "packs": ["a/b"]}}, "packs"),
    ]
    for body, message in bad:
        status, answer = server.call("POST", "/symphony/api/runs", body)
        assert status == 400, (body, answer)
        assert message in answer["message"], (body, answer)
    (server.root / "runs" / "link").symlink_to(outside)
    status, answer = server.call(
        "POST", "/symphony/api/runs", {"kind": "eval", "params": {"checkpoint": "link"}}
    )
    assert status == 400
    assert "not inside" in answer["message"]
    assert server.call("GET", "/symphony/api/runs/nope")[0] == 404
    assert server.call("GET", "/symphony/api/runs/..%2F..%2Fetc")[0] in (400, 404)
    assert server.call("GET", "/symphony/api/runs/x/events?start=-1")[0] == 400
    request = urllib.request.Request(
        f"{server.url}/symphony/api/runs",
        data=b"\xff\xfe not utf-8",
        method="POST",
        headers={"Authorization": f"token {server.token}"},
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=30)
    assert refused.value.code == 400
    assert "not JSON" in json.loads(refused.value.read())["message"]
    assert server.call("GET", "/symphony/api/runs", token="wrong")[0] == 403
    assert server.call("GET", "/symphony/api/runs", token="-")[0] == 403
    status, _ = server.call("POST", "/symphony/api/runs", {"kind": "train"}, token="wrong")
    assert status == 403
    _, after = server.call("GET", "/symphony/api/runs")
    assert after == before


def _stop_workers(runs: Path) -> None:
    """Workers run in sessions of their own: stop any a test left running."""
    for path in runs.glob("*/run.json"):
        rec = json.loads(path.read_text())
        spawned = path.with_name("worker.pid")
        pid = rec["pid"] or (int(spawned.read_text()) if spawned.exists() else None)
        if rec["status"] in ("queued", "running") and pid:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)


def test_after_a_restart_a_run_left_running_is_interrupted_and_resumes(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    runs = tmp_path / "runs"
    request.addfinalizer(lambda: _stop_workers(runs))
    manager = RunManager(runs)
    rec = manager.start("train", {**LONG, "checkpoint_every": 64, "pretrain": False})
    folder = runs / rec.id
    deadline = time.monotonic() + 120
    while not list((folder / "checkpoints").glob("*.pt")) and time.monotonic() < deadline:
        time.sleep(0.3)
    manager.close()  # the server stops following; then its worker dies with the machine
    pid = read(folder).pid
    assert pid is not None
    os.killpg(pid, signal.SIGKILL)
    while Path(f"/proc/{pid}").exists():
        time.sleep(0.1)
    again = RunManager(runs)  # the server starts again
    rec = again.get(rec.id)
    assert rec.status == "interrupted"
    assert "gone" in rec.error
    assert again.resume(rec.id).params["resume"] is True
    with pytest.raises(RunError, match="only an ended, unfinished run resumes"):
        again.resume(rec.id)
    # Resuming it to the end would take its 10M steps: cancel once it is running again.
    deadline = time.monotonic() + 120
    while read(folder).status != "running" and time.monotonic() < deadline:
        time.sleep(0.2)
    while not any(e["type"] == "resumed" for e in again.events(rec.id)[0]):
        assert time.monotonic() < deadline, again.logs(rec.id)
        time.sleep(0.2)
    (event,) = [e for e in again.events(rec.id)[0] if e["type"] == "resumed"]
    assert event["steps"] >= 64  # from its last checkpoint, not from zero
    assert again.cancel(rec.id).status == "cancelled"
    with pytest.raises(RunError, match="not a run id"):
        again.get("../etc")


def test_progress_finds_the_last_training_row_behind_long_episode_lines(tmp_path: Path) -> None:
    append_event(tmp_path, {"steps": 5.0, "type": "train"})  # the type goes first all the same
    for pack in ("a", "b"):
        append_event(tmp_path, {"type": "eval", "pack": pack, "summary": [{"agent": "c"}]})
        append_event(tmp_path, {"type": "episode", "pack": pack, "steps": ["x" * 50_000]})
    found = progress(tmp_path)
    assert found["train"] == {"steps": 5.0}
    assert found["evals"] == {"a": [{"agent": "c"}], "b": [{"agent": "c"}]}
    assert progress(tmp_path / "nothing") == {"train": None, "evals": {}}


def test_events_are_read_a_whole_line_at_a_time_and_nan_is_null(tmp_path: Path) -> None:
    append_event(tmp_path, {"type": "train", "cost_ratio": float("nan"), "rows": [float("inf")]})
    assert events(tmp_path) == ([{"type": "train", "cost_ratio": None, "rows": [None]}], 1)
    with (tmp_path / "events.jsonl").open("ab") as f:
        f.write(b'{"type": "tra')  # a line being written: left for the next read
    assert events(tmp_path, start=1) == ([], 1)
    with (tmp_path / "events.jsonl").open("ab") as f:
        f.write(b"\n")  # it ends as a fragment (a full disk): passed over
    append_event(tmp_path, {"type": "saved"})
    assert events(tmp_path, start=1) == ([{"type": "saved"}], 3)
    for bad in ("abc\n", "../x", ".", "", "a/b", "x" * 101):
        with pytest.raises(RunError, match="not a run id"):
            check_id(bad)


async def _stream(
    server: Server, run_id: str, start: int = 0, **headers: str
) -> list[dict[str, Any]]:
    """Every message of a run's stream from line ``start``, until the server closes it."""
    url = f"{server.url.replace('http', 'ws', 1)}/symphony/api/runs/{run_id}/stream?start={start}"
    auth = {} if "Cookie" in headers else {"Authorization": f"token {server.token}"}
    request = HTTPRequest(url, headers={**auth, **headers})
    conn = await websocket_connect(request)
    out = []
    while (message := await asyncio.wait_for(conn.read_message(), 180)) is not None:
        out.append(json.loads(message))
    return out


def test_a_late_client_gets_the_history_then_the_live_tail_without_gap_or_duplicate(
    server: Server,
) -> None:
    # Small rollouts: a training row every 64 steps, for a few seconds.
    params = {**QUICK, "steps": 1024, "checkpoint_every": 512, "n_envs": 1}
    _, rec = server.call("POST", "/symphony/api/runs", {"kind": "train", "params": params})
    folder = server.root / "runs" / rec["id"]
    deadline = time.monotonic() + 120
    while len(events(folder)[0]) < 2:  # connect late: some history first
        assert time.monotonic() < deadline, "no training rows came"
        time.sleep(0.1)
    messages = asyncio.run(_stream(server, rec["id"]))
    lines = [m["line"] for m in messages if m["type"] == "event"]
    written, _ = events(folder)
    assert lines == list(range(len(written)))  # every line once, in order
    assert [m["event"] for m in messages if m["type"] == "event"] == written
    assert any(m["type"] == "status" and m["status"] == "running" for m in messages)
    assert messages[-1] == {"type": "end", "status": "done", "error": ""}
    # A client that was already told some lines asks for the rest only.
    again = asyncio.run(_stream(server, rec["id"], start=2))
    assert [m["line"] for m in again if m["type"] == "event"] == lines[2:]


def test_the_stream_refuses_a_stranger_a_foreign_page_and_an_unknown_run(
    server: Server,
) -> None:
    _, runs = server.call("GET", "/symphony/api/runs")
    run_id = runs["runs"][0]["id"]
    url = f"{server.url.replace('http', 'ws', 1)}/symphony/api/runs/{run_id}/stream"

    async def refused(headers: dict[str, str], target: str = url) -> int:
        with pytest.raises(HTTPClientError) as e:
            await websocket_connect(HTTPRequest(target, headers=headers))
        return e.value.code

    token = {"Authorization": f"token {server.token}"}
    assert asyncio.run(refused({})) == 403
    assert asyncio.run(refused({"Authorization": "token wrong"})) == 403
    # A token skips Jupyter's Origin check (no page can send one); a browser's
    # login cookie does not: a page from elsewhere is refused.
    request = urllib.request.Request(f"{server.url}/api/status", headers=token)
    with urllib.request.urlopen(request, timeout=30) as r:
        cookie = r.headers["Set-Cookie"].split(";", 1)[0]
    assert asyncio.run(refused({"Cookie": cookie, "Origin": "http://evil.example"})) == 403
    same = {"Cookie": cookie, "Origin": server.url}
    assert asyncio.run(_stream(server, run_id, **same))[-1]["type"] == "end"
    assert asyncio.run(refused(token, url.replace(run_id, "nope"))) == 404
    assert asyncio.run(refused(token, url + "?start=-1")) == 400


def test_a_worker_from_before_a_restart_is_still_watched(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    runs = tmp_path / "runs"
    request.addfinalizer(lambda: _stop_workers(runs))
    first = RunManager(runs)
    rec = first.start("train", {**LONG, "pretrain": False})
    deadline = time.monotonic() + 120
    while read(runs / rec.id).status != "running":
        assert time.monotonic() < deadline, first.logs(rec.id)
        time.sleep(0.2)
    first.close()
    again = RunManager(runs)  # the server restarts; the worker runs on
    assert again.get(rec.id).status == "running"
    # One restarted while a worker is still starting (queued, no pid in its
    # record yet) keeps it too.
    starting = first.start("train", {**LONG, "pretrain": False})
    assert read(runs / starting.id).status == "queued"
    first.close()
    assert RunManager(runs).get(starting.id).status in ("queued", "running")
    while read(runs / starting.id).status != "running":
        assert time.monotonic() < deadline, first.logs(starting.id)
        time.sleep(0.2)
    os.killpg(read(runs / starting.id).pid, signal.SIGKILL)
    pid = again.get(rec.id).pid
    assert pid is not None
    os.killpg(pid, signal.SIGKILL)  # then dies without a word
    while again.get(rec.id).status == "running":
        assert time.monotonic() < deadline
        time.sleep(0.2)
    ended = again.get(rec.id)
    assert ended.status == "failed"
    assert "without recording an end" in ended.error


def test_the_notebook_client_trains_follows_and_brings_back_known_objects(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Found the way a kernel finds it: its parent's info file.
    monkeypatch.delenv("SYMPHONY_SERVER_URL", raising=False)
    monkeypatch.setenv("JPY_PARENT_PID", str(server.process.pid))
    url, token = find_server(server.root.parent / "runtime")
    assert (url.rstrip("/"), token) == (server.url, server.token)
    client = RunClient(url, token=token)

    run = client.train(**{**QUICK, "packs": ["test-tutorial"]})
    dash = TrainingDashboard.follow(run, notebook=False, poll_s=0.1)
    followed = list(run.follow(poll_s=0.1))
    assert run.wait(timeout=180).status == "done"
    dash.wait(timeout=30)
    assert dash.finished
    assert dash.error is None
    assert not dash.stopped
    train_rows = [e for e in followed if e["type"] == "train"]
    assert [r["steps"] for r in dash.rows] == [r["steps"] for r in train_rows]
    assert [e["type"] for e in followed][-3:] == ["saved", "eval", "episode"]
    assert followed == run.events()[0]  # whole, in order, once

    evaluation = run.evaluation()
    assert isinstance(evaluation, Evaluation)
    summary = evaluation.summary()
    assert {"conductor", "exact_replanning"} <= set(summary.index)
    assert summary.loc["conductor", "levels"] == len(
        evaluation.frame[evaluation.frame["agent"] == "conductor"]
    )
    conductor = run.conductor()
    assert isinstance(conductor, Conductor)
    assert conductor.num_timesteps == 256
    first = run.conductor("checkpoints/conductor-128.pt")
    assert first.num_timesteps == 128

    # The listing carries what the Runs panel shows.
    listed = {r["id"]: r for r in server.call("GET", "/symphony/api/runs")[1]["runs"]}
    progress = listed[run.id]["progress"]
    assert progress["train"]["steps"] == 256
    assert progress["evals"]["test-tutorial"][0]["agent"] == "conductor"

    # Attach from elsewhere (a restarted kernel), evaluate the checkpoint.
    again = client.run(run.id)
    ev = client.evaluate(f"{again.id}/conductor.pt", ["test-tutorial"], episodes=2).wait(180)
    assert set(ev.evaluation().frame["level"].unique()) <= set(evaluation.frame["level"])
    with pytest.raises(UnknownRun):
        client.run("no-such-run")
    with pytest.raises(RunError, match="steps"):
        client.train(steps=-5)


def test_files_of_a_run_are_served_from_inside_it_only(server: Server) -> None:
    status, rec = server.call("POST", "/symphony/api/runs", {"kind": "train", "params": QUICK})
    assert status == 201
    server.wait(rec["id"], {"done"})
    folder = server.root / "runs" / rec["id"]
    secret = server.root / "secret.txt"
    secret.write_text("not for you")
    (folder / "out").symlink_to(secret)
    (folder / "dir").symlink_to(server.root)
    base = f"/symphony/api/runs/{rec['id']}/files/"
    request = urllib.request.Request(
        f"{server.url}{base}run.json", headers={"Authorization": f"token {server.token}"}
    )
    with urllib.request.urlopen(request, timeout=30) as r:
        assert json.loads(r.read())["id"] == rec["id"]
    for name, code, message in [
        ("out", 400, "symbolic link"),
        ("dir/secret.txt", 400, "symbolic link"),
        ("%2E%2E/secret.txt", 400, "not a file name"),
        ("checkpoints/%2E%2E/%2E%2E/%2E%2E/secret.txt", 400, "not a file name"),
        ("%2Fetc%2Fpasswd", 400, "not a file name"),
        ("checkpoints", 400, "not a file"),
        ("nothing.csv", 404, "no file"),
    ]:
        status, answer = server.call("GET", base + name)
        assert status == code, (name, answer)
        assert message in answer["message"], (name, answer)
    assert server.call("GET", base + "run.json", token="wrong")[0] == 403
    assert secret.read_text() == "not for you"


def _tree(root: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``root`` with its size and modification time."""
    out = {}
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            st = path.stat()
            out[str(path.relative_to(root))] = (st.st_size, st.st_mtime_ns)
    return out


def _cookie_login(server: Server) -> tuple[str, str]:
    """A browser's way in: the login form, then a cookie. Returns the XSRF
    token and the Cookie header a browser would send."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    opener.open(f"{server.url}/login", timeout=30).read()
    xsrf = next(c.value for c in jar if c.name == "_xsrf")
    form = urllib.parse.urlencode({"password": server.token, "_xsrf": xsrf}).encode()
    opener.open(f"{server.url}/login?next=%2F", form, timeout=30).read()
    logged_in = [c for c in jar if c.name.startswith("username-")]
    assert logged_in, f"the login form set no login cookie: {[c.name for c in jar]}"
    return xsrf, "; ".join(f"{c.name}={c.value}" for c in jar)


def test_every_route_refuses_every_intruder_and_nothing_stored_changes(server: Server) -> None:
    status, rec = server.call("POST", "/symphony/api/runs", {"kind": "train", "params": QUICK})
    assert status == 201
    run_id = server.wait(rec["id"], {"done"})["id"]
    runs = server.root / "runs"
    # What an intruder would reach: a run beside runs/ (a sibling prefix), a
    # run folder linked in from outside, a file linked out of a run.
    for name in ("runs-evil/r1", "outside/r2"):
        folder = server.root / name
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "run.json").write_text((runs / run_id / "run.json").read_text())
        (folder / "conductor.pt").write_bytes(b"not yours")
    (server.root / "secret.txt").write_text("not for you")
    if not (runs / "linked").exists():
        (runs / "linked").symlink_to(server.root / "outside" / "r2")
        (runs / run_id / "out").symlink_to(server.root / "secret.txt")
    before = _tree(server.root)
    xsrf, cookie = _cookie_login(server)

    def send(method: str, path: str, headers: dict[str, str], body: Any = None) -> int:
        data = None if method == "GET" else json.dumps(body or {}).encode()
        request = urllib.request.Request(
            f"{server.url}/symphony/api/{path}", data=data, method=method, headers=headers
        )
        try:
            # No cookie jar here: each request carries exactly the headers given.
            with urllib.request.urlopen(request, timeout=30) as r:
                return int(r.status)
        except urllib.error.HTTPError as e:
            answer = json.loads(e.read())  # a JSON error, never a page
            assert isinstance(answer.get("message", ""), str)
            return e.code

    async def ws(path: str, headers: dict[str, str]) -> int:
        url = f"{server.url.replace('http', 'ws', 1)}/symphony/api/{path}"
        try:
            socket = await websocket_connect(HTTPRequest(url, headers=headers))
        except HTTPClientError as e:
            return e.code
        socket.close()
        return 101

    def attempt(method: str, path: str, headers: dict[str, str], body: Any = None) -> int:
        if method == "WS":
            return asyncio.run(ws(path, headers))
        return send(method, path, headers, body)

    token = {"Authorization": f"token {server.token}"}
    browser = {"Cookie": cookie, "X-XSRFToken": xsrf, "Origin": server.url}
    # The way in works, by token and by cookie: the refusals below are not vacuous.
    assert send("GET", "runs", token) == 200
    assert send("GET", f"runs/{run_id}", browser) == 200
    assert asyncio.run(ws(f"runs/{run_id}/stream", browser)) == 101
    assert send("POST", f"runs/{run_id}/cancel", browser) == 200  # a finished run: unchanged

    eval_body = {"kind": "eval", "params": {"checkpoint": f"{run_id}/conductor.pt"}}
    routes: list[tuple[str, str, Any]] = [
        ("GET", "runs", None),
        ("POST", "runs", eval_body),
        ("GET", "runs/{id}", None),
        ("GET", "runs/{id}/events", None),
        ("GET", "runs/{id}/logs", None),
        ("GET", "runs/{id}/files/conductor.pt", None),
        ("POST", "runs/{id}/cancel", None),
        ("POST", "runs/{id}/resume", None),
        ("WS", "runs/{id}/stream", None),
        # The other services: who may call them (their paths name no file).
        ("GET", "artifacts", None),
        ("GET", "artifacts/search?q=x", None),
        ("GET", "artifacts/" + "0" * 64, None),
        ("GET", "artifacts/" + "0" * 64 + "/content", None),
        ("POST", "artifacts/" + "0" * 64 + "/pin", None),
        ("POST", "artifacts/" + "0" * 64 + "/unpin", None),
        ("GET", "extensions", None),
        ("POST", "extensions/text/start", None),
        ("POST", "extensions/text/stop", None),
        ("GET", "quest/packs", None),
        ("GET", "quest/packs/test-easy", None),
        ("GET", "quest/packs/test-easy/0", None),
        ("POST", "quest/games", {"pack": "test-easy", "index": 0}),
        ("POST", "quest/conductor", {"checkpoint": "x", "pack": "test-easy", "index": 0}),
        ("GET", "kit/search?q=text", None),
        ("GET", "kit/installed", None),
        ("POST", "kit/review", {"targets": ["text"]}),
        ("POST", "kit/jobs", {"targets": ["text"], "accept": []}),
        ("GET", "kit/jobs/0123456789ab", None),
        ("POST", "kit/installed/text/rollback", None),
        ("POST", "kit/installed/text/uninstall", None),
    ]
    who = {
        "no token": {},
        "wrong token": {"Authorization": "token " + "0" * len(server.token)},
        "no XSRF": {"Cookie": cookie, "Origin": server.url},
        "foreign Origin": {**browser, "Origin": "http://evil.example"},
    }
    # Each way a path could leave its root, for an otherwise good request.
    where = {
        "..": ("..%2F..%2Fetc", "../../secret.txt"),
        "sibling prefix": ("..%2Fruns-evil%2Fr1", "../runs-evil/r1/conductor.pt"),
        "symlink out": ("linked", "linked/conductor.pt"),
    }
    successes = []
    tried = 0
    for method, route, body in routes:
        for label, headers in who.items():
            if label == "no XSRF" and method in ("GET", "WS"):
                continue  # reading needs no XSRF (a socket: the Origin guards it)
            code = attempt(method, route.format(id=run_id), headers, body)
            tried += 1
            if code < 300 or code == 101:
                successes.append((method, route, label, code))
        for label, (bad_id, bad_checkpoint) in where.items():
            if not route.startswith("runs"):
                continue
            path = route.format(id=bad_id)
            payload = body
            if route == "runs":
                payload = {"kind": "eval", "params": {"checkpoint": bad_checkpoint}}
                if method == "GET":
                    continue  # the listing names no path
            code = attempt(method, path, token, payload)
            tried += 1
            if code < 300 or code == 101:
                successes.append((method, path, label, code))
    for name in ("%2E%2E/%2E%2E/secret.txt", "out", "..%2F..%2Fruns-evil%2Fr1%2Fconductor.pt"):
        code = send("GET", f"runs/{run_id}/files/{name}", token)
        tried += 1
        if code < 300:
            successes.append(("GET", f"files/{name}", "path", code))
    assert successes == []
    assert _tree(server.root) == before  # nothing stored was touched so far
    # Extensions start by installed name, never by a folder a request names.
    (server.root / "evil-ext").mkdir(exist_ok=True)
    (server.root / "evil-ext" / "symphony.toml").write_text(
        'name = "evil"\nversion = "0.1.0"\nkind = "operator"\nentry = "evil_ext"\n'
    )
    before = _tree(server.root)
    for name in (
        "evil-ext",
        "..%2Fevil-ext",
        str(server.root / "evil-ext").replace("/", "%2F"),
        ".",
    ):
        code = send("POST", f"extensions/{name}/start", token)
        tried += 1
        if code < 300:
            successes.append(("POST", f"extensions/{name}/start", "path", code))
    started = [
        x
        for x in RunClient(server.url, token=server.token).request("GET", "extensions")[
            "extensions"
        ]
        if x["state"] != "not started"
    ]
    assert started == []
    # The Quest view's Conductor plays only checkpoints inside the runs folder.
    for _, bad_checkpoint in where.values():
        body = {"checkpoint": bad_checkpoint, "pack": "test-easy", "index": 0}
        code = send("POST", "quest/conductor", token, body)
        tried += 1
        if code < 300:
            successes.append(("POST", "quest/conductor", bad_checkpoint, code))
    assert successes == []
    assert tried >= 100
    assert _tree(server.root) == before  # nothing stored was touched
    assert (server.root / "secret.txt").read_text() == "not for you"


def test_artifacts_page_search_detail_content_and_pins_over_http(server: Server) -> None:
    def get(path: str) -> tuple[int, bytes, Any]:
        request = urllib.request.Request(
            f"{server.url}/symphony/api/{path}",
            headers={"Authorization": f"token {server.token}"},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as r:
                return r.status, r.read(), r.headers
        except urllib.error.HTTPError as e:
            return e.code, e.read(), e.headers

    status, raw, _ = get("artifacts")
    assert status == 200
    assert json.loads(raw)["exists"] is False  # no store yet: said, not an error
    store = ArtifactStore(server.root / "artifacts")
    store.put_many([(f"n{i}", f"note number {i}".encode()) for i in range(30)], kind="note")
    table, _ = store.put("t", b"a,b\n1,2\n", kind="table", media_type="text/csv")
    page_html, _ = store.put("p", b"<script>alert(1)</script>", media_type="text/html")
    derived, _ = store.put("d", b"made from t", inputs=[table])

    _, raw, _ = get("artifacts?offset=0&limit=10")
    page = json.loads(raw)
    assert page["total"] == 33
    assert [i["hash"] for i in page["items"]][:3] == [derived, page_html, table]
    assert page["items"][0]["name"] == "d"
    _, raw, _ = get("artifacts?offset=30&limit=10&kind=note")
    assert json.loads(raw) | {"items": None} == {
        "store": str(server.root / "artifacts"),
        "total": 30,
        "items": None,
        "exists": True,
    }
    _, raw, _ = get("artifacts/search?q=number%2017")
    assert json.loads(raw)["hits"][0]["names"] == ["n17"]
    _, raw, _ = get(f"artifacts/{derived}")
    assert json.loads(raw)["lineage"] == [[derived, table]]
    status, raw, headers = get(f"artifacts/{table}/content")
    assert (status, raw, headers["Content-Type"]) == (200, b"a,b\n1,2\n", "text/csv")
    # Markup is data: an attachment, sandboxed, never a page of this origin.
    status, raw, headers = get(f"artifacts/{page_html}/content?max_bytes=8")
    assert status == 200
    assert raw == b"<script>"
    assert headers["Content-Type"] == "application/octet-stream"
    assert headers["Content-Security-Policy"] == "sandbox"
    assert headers["X-Artifact-Size"] == "25"
    for path, code in [
        ("artifacts/nothex", 400),
        ("artifacts/" + "0" * 64, 404),
        ("artifacts?limit=100000", 400),
        ("artifacts?offset=-1", 400),
        ("artifacts/search", 400),
    ]:
        status, raw, _ = get(path)
        assert status == code, (path, raw)
        assert json.loads(raw)["message"]
    status, answer = server.call("POST", f"/symphony/api/artifacts/{table}/pin", {"reason": "r"})
    assert (status, answer["pinned"]) == (200, True)
    assert [(h, why) for h, why, _ in store.pins()] == [(table, "r")]
    status, answer = server.call("POST", f"/symphony/api/artifacts/{table}/unpin")
    assert answer["was_pinned"] is True
    assert store.pins() == []
    assert server.call("POST", "/symphony/api/artifacts/" + "0" * 64 + "/pin")[0] == 404
    assert server.call("GET", "/symphony/api/artifacts", token="wrong")[0] == 403


def test_extensions_are_listed_started_watched_and_stopped_over_http(server: Server) -> None:
    status, listed = server.call("GET", "/symphony/api/extensions")
    assert status == 200
    by_name = {x["name"]: x for x in listed["extensions"]}
    text = by_name["text"]
    assert text["state"] == "not started"
    assert text["manifest"]["kind"] in ("operator", "instrument", "motif")
    assert text["manifest"]["functions"]
    assert "permissions" in text["manifest"]
    status, started = server.call("POST", "/symphony/api/extensions/text/start")
    assert status == 200, started
    assert started["state"] == "healthy"
    assert started["restarts"] == 0
    assert started["sandbox"].startswith("sandbox: landlock"), started
    status, again = server.call("POST", "/symphony/api/extensions/text/start")
    assert status == 400
    assert "already started" in again["message"]
    live = {x["name"]: x for x in server.call("GET", "/symphony/api/extensions")[1]["extensions"]}
    assert live["text"]["state"] == "healthy"
    assert server.call("POST", "/symphony/api/extensions/text/stop")[0] == 200
    assert server.call("POST", "/symphony/api/extensions/text/stop")[0] == 404
    status, answer = server.call("POST", "/symphony/api/extensions/no-such-ext/start")
    assert status == 404
    assert "no extension 'no-such-ext' is installed" in answer["message"]


def test_quest_levels_plans_games_and_the_conductors_play_over_http(server: Server) -> None:
    status, packs = server.call("GET", "/symphony/api/quest/packs")
    assert status == 200
    assert {"test-easy", "ood-large"} <= set(packs["packs"])
    _, levels = server.call("GET", "/symphony/api/quest/packs/test-easy")
    assert levels[0]["index"] == 0
    assert levels[0]["functions"] > 0
    _, level = server.call("GET", "/symphony/api/quest/packs/test-easy/1")
    plan = level["plan"]["calls"]
    assert plan
    graph = level["graph"]
    assert set(plan) <= set(graph["functions"]) <= set(graph["keys"])
    assert len(graph["layer"]) == len(graph["keys"]) == len(graph["states"])
    _, game = server.call("POST", "/symphony/api/quest/games", {"pack": "test-easy", "index": 1})
    for name in plan:
        assert name in game["callable"], (name, game["callable"])
        status, game = server.call(
            "POST", f"/symphony/api/quest/games/{game['game']}/call", {"function": name}
        )
        assert status == 200, game
    assert game["done"] is True
    assert game["won"] is True
    assert game["spent"] == pytest.approx(level["plan"]["cost"])  # easy levels never fail
    status, answer = server.call(
        "POST", f"/symphony/api/quest/games/{game['game']}/call", {"function": plan[0]}
    )
    assert (status, "over" in answer["message"]) == (400, True)
    for body, message in [
        ({"pack": "nope", "index": 0}, "no pack 'nope'"),
        ({"pack": "test-easy", "index": 10_000}, "has levels 0 to"),
        ({"pack": "test-easy", "index": "1"}, "index: expected int"),
    ]:
        status, answer = server.call("POST", "/symphony/api/quest/games", body)
        assert status == 400, body
        assert message in answer["message"]
    _, fresh = server.call("POST", "/symphony/api/quest/games", {"pack": "test-easy", "index": 1})
    blocked = sorted(set(graph["functions"]) - set(fresh["callable"]))[0]
    status, answer = server.call(
        "POST", f"/symphony/api/quest/games/{fresh['game']}/call", {"function": blocked}
    )
    assert (status, "cannot be called now" in answer["message"]) == (400, True)
    assert server.call("DELETE", f"/symphony/api/quest/games/{fresh['game']}")[0] == 200
    assert server.call("DELETE", f"/symphony/api/quest/games/{fresh['game']}")[0] == 404

    # A trained Conductor's play, in a worker process; its checkpoint must be a run's.
    _, rec = server.call("POST", "/symphony/api/runs", {"kind": "train", "params": QUICK})
    server.wait(rec["id"], {"done"})
    body = {"checkpoint": f"{rec['id']}/conductor.pt", "pack": "test-easy", "index": 1}
    status, episode = server.call("POST", "/symphony/api/quest/conductor", body)
    assert status == 200, episode
    assert episode["level"] == levels[1]["id"]
    assert episode["steps"][0]["call"] in graph["functions"]
    status, answer = server.call(
        "POST", "/symphony/api/quest/conductor", {**body, "checkpoint": "../secret.pt"}
    )
    assert (status, "not inside" in answer["message"]) == (400, True)


def wait_job(server: Server, job: dict[str, Any], timeout: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while job["state"] == "running" and time.monotonic() < deadline:
        time.sleep(0.1)
        status, job = server.call("GET", f"/symphony/api/kit/jobs/{job['id']}")
        assert status == 200, job
    assert job["state"] != "running", job
    return job


def test_the_server_serves_a_team_registry_and_its_marketplace_installs_from_it(
    server: Server, tmp_path: Path
) -> None:
    """Item 3's registry in the Jupyter server, and item 9's REST side: a
    package published to the served registry is found, reviewed, installed
    only once its permissions are accepted, upgraded, rolled back, removed."""
    keys = publisher(tmp_path)
    store = RegistryStore(server.team)
    store.accept_publisher(keys.public)
    token = store.add_token("ci")
    public_key = (server.team / "registry.pub").read_text()
    store.close()
    url = f"{server.url}/symphony/registry"
    team = HttpRegistry(url, public_key, token=token)
    for version, network in (("1.0.0", False), ("2.0.0", True)):
        folder = make_extension(tmp_path, "greeter", version, network=network)
        package = publish(folder, tmp_path / "out", keys)
        team.publish(package.read_bytes(), signature_path(package).read_text())
    # Publishing needs the registry's own token, whatever Jupyter's token says.
    anonymous = HttpRegistry(url, public_key)
    assert [h.name for h in anonymous.search("greeter")] == ["greeter"]
    with pytest.raises(Exception, match="401"):
        anonymous.publish(package.read_bytes(), signature_path(package).read_text())
    # The server's marketplace reads the registry as a user added it.
    add_registry(server.home, url, server.team / "registry.pub")
    Keyring().trust(registry_keys(server.home, public_key), keys.public)

    status, found = server.call("GET", "/symphony/api/kit/search?q=greeter")
    assert status == 200, found
    assert [(h["name"], h["version"], h["installed"]) for h in found["hits"]] == [
        ("greeter", "2.0.0", None)
    ]
    status, review = server.call("POST", "/symphony/api/kit/review", {"targets": ["greeter@^1"]})
    assert status == 200, review
    [change] = review["changes"]
    assert (change["name"], change["version"], change["widened"]) == ("greeter", "1.0.0", True)
    assert change["key_id"] == keys.key_id
    # Not accepted: refused, nothing installed.
    status, job = server.call("POST", "/symphony/api/kit/jobs", {"targets": ["greeter@^1"]})
    assert status == 202, job
    job = wait_job(server, job)
    assert job["state"] == "failed"
    assert "not accepted" in job["error"]
    assert Kit(server.home).installed() == {}
    body = {"targets": ["greeter@^1"], "accept": [change["text"]]}
    job = wait_job(server, server.call("POST", "/symphony/api/kit/jobs", body)[1])
    assert job["state"] == "done", job
    assert job["changes"] == ["greeter@1.0.0"]
    assert [s["step"] for s in job["steps"]] == [
        "verified",
        "extracted",
        "placed",
        "switched",
        "locked",
    ]
    assert job["total"] == len(job["steps"])
    status, listed = server.call("GET", "/symphony/api/kit/installed")
    [greeter] = listed["installed"]
    assert (greeter["version"], greeter["newest"], greeter["previous"]) == ("1.0.0", "2.0.0", None)
    extensions = server.call("GET", "/symphony/api/extensions")[1]["extensions"]
    assert {x["name"]: x["distribution"] for x in extensions}["greeter"] == "symphony kit"
    # The upgrade widens the permissions (network): the new text must be accepted.
    upgrade = {"targets": ["greeter"], "upgrade": True}
    [up] = server.call("POST", "/symphony/api/kit/review", upgrade)[1]["changes"]
    assert (up["installed"], up["version"], up["widened"]) == ("1.0.0", "2.0.0", True)
    assert any(line.startswith("network: read, write") for line in up["permissions"])
    stale = {"targets": ["greeter"], "upgrade": True, "accept": [change["text"]]}
    assert wait_job(server, server.call("POST", "/symphony/api/kit/jobs", stale)[1])["state"] == (
        "failed"
    )
    fresh = {**stale, "accept": [up["text"]]}
    assert wait_job(server, server.call("POST", "/symphony/api/kit/jobs", fresh)[1])["changes"] == [
        "greeter@2.0.0"
    ]
    assert server.call("POST", "/symphony/api/kit/installed/greeter/rollback")[1]["version"] == (
        "1.0.0"
    )
    assert Kit(server.home).installed()["greeter"].version == "1.0.0"
    assert server.call("POST", "/symphony/api/kit/installed/greeter/uninstall")[0] == 200
    assert Kit(server.home).installed() == {}
    # Bad requests name the problem and change nothing.
    for route, body, why in (
        ("review", {"targets": []}, "targets"),
        ("review", {"targets": ["../evil.symph"]}, "not files"),
        ("review", {"targets": ["no-such-package"]}, "no-such-package"),
        ("jobs", {"targets": ["greeter"], "accept": "yes"}, "accept"),
        ("jobs", {"targets": ["greeter"], "accept": [1]}, "accept"),
    ):
        status, answer = server.call("POST", f"/symphony/api/kit/{route}", body)
        assert status == 400, (body, answer)
        assert why in answer["message"], (body, answer)
    assert server.call("GET", "/symphony/api/kit/jobs/0123456789ab")[0] == 404
    assert server.call("POST", "/symphony/api/kit/installed/greeter/rollback")[0] == 400
    assert Kit(server.home).installed() == {}
