"""Faults in real extension processes: the kernel lives on, the error says
what happened, the extension comes back, and stored artifacts stay intact."""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from symphony_lab import pit
from symphony_lab.stage import (
    ExtensionCrashed,
    ExtensionOOM,
    ExtensionTimeout,
    ExtensionUnavailable,
    RestartPolicy,
    Stage,
    State,
)

MakeExtension = Callable[..., Path]

FAULTY = """
    import ctypes, os, signal, time
    from symphony_lab.sdk import operator

    @operator
    def ok():
        return os.getpid()

    @operator
    def segfault():
        ctypes.string_at(0)

    @operator
    def abort():
        os.abort()

    @operator
    def spin():
        while True:
            pass

    @operator
    def hoard():
        chunks = []
        while True:
            chunks.append(bytearray(64 << 20))

    @operator
    def freeze():
        os.kill(os.getpid(), signal.SIGSTOP)
"""

# An extension that speaks the bus with raw bytes (no SDK, no site packages),
# so it starts in milliseconds and can misbehave on purpose.
RAW = """#!{python} -SI
import os, signal, socket, struct, sys

HELLO = {hello!r}
sock = socket.socket(socket.AF_UNIX)
sock.connect(os.environ["SYMPHONY_BUS"])
sock.sendall(HELLO)


def uint(b, i):
    m = b[i]
    if m < 0x80:
        return m, i + 1
    size = {{0xCC: 1, 0xCD: 2, 0xCE: 4, 0xCF: 8}}[m]
    return int.from_bytes(b[i + 1 : i + 1 + size], "big"), i + 1 + size


def enc(v):
    if v < 0x80:
        return bytes([v])
    for marker, size in ((0xCC, 1), (0xCD, 2), (0xCE, 4), (0xCF, 8)):
        if v < 1 << (8 * size):
            return bytes([marker]) + v.to_bytes(size, "big")


def answer(kind, cid):
    body = b"\\x93\\x94" + bytes([kind]) + enc(cid) + b"\\x00\\x00\\xc0\\x80"
    return struct.pack("<I", len(body)) + body


buf = b""
while True:
    chunk = sock.recv(65536)
    if not chunk:
        sys.exit(0)
    buf += chunk
    while len(buf) >= 4:
        n = struct.unpack_from("<I", buf)[0]
        if len(buf) < 4 + n:
            break
        body, buf = buf[4 : 4 + n], buf[4 + n :]
        kind = body[2]
        cid, i = uint(body, 3)
        if kind == 6:
            sock.sendall(answer(6, cid))
        elif kind == 8:
            sys.exit(0)
        elif kind == 2:
            _, i = uint(body, i)
            _, i = uint(body, i)
            name = body[i + 2 : i + 2 + (body[i + 1] & 0x1F)]
            if name == b"crash":
                os._exit(3)
            elif name == b"segv":
                os.kill(os.getpid(), signal.SIGSEGV)
            elif name == b"garbage":
                sock.sendall(b"\\x05\\x00\\x00\\x00hello")
            elif name == b"truncated":
                frame = answer(3, cid)
                sock.sendall(frame[: len(frame) // 2])
                os._exit(0)
            elif name == b"oversized":
                sock.sendall(struct.pack("<I", 1 << 30))
            else:
                sock.sendall(answer(3, cid))
"""


def raw_extension(folder: Path, name: str) -> Path:
    folder.mkdir()
    hello = pit.encode_frame(1, 0, {"protocol": pit.BUS_PROTOCOL, "name": name})
    script = folder / "raw.py"
    script.write_text(RAW.format(python=sys.executable, hello=hello))
    script.chmod(0o755)
    fns = "".join(
        f'[[functions]]\nname = "{f}"\n'
        for f in ["ping", "crash", "segv", "garbage", "truncated", "oversized"]
    )
    (folder / "symphony.toml").write_text(
        f'name = "{name}"\nversion = "1.0.0"\nkind = "operator"\nexecutable = "raw.py"\n{fns}'
    )
    return folder


@pytest.fixture
def store(tmp_path: Path) -> Iterator[tuple[pit.ArtifactStore, str]]:
    s = pit.ArtifactStore(tmp_path / "store")
    h = s.put_blob(b"precious results" * 1000, kind="result")
    yield s, h
    assert s.get_by_hash(h) == b"precious results" * 1000
    report = s.verify()
    assert not report["missing"], report
    assert not report["corrupt"], report


FAST = RestartPolicy(backoff=0.01, backoff_max=0.05, max_restarts=1000, period=1.0)


@pytest.fixture
def faulty(make_extension: MakeExtension, store: tuple[pit.ArtifactStore, str]) -> Iterator[Stage]:
    ext = make_extension(
        "faulty",
        FAULTY,
        functions=["ok", "segfault", "abort", "spin", "hoard", "freeze"],
        toml_extra="[resources]\nmemory_mb = 1024\n",
    )
    stage = Stage(
        [ext], store=store[0], restart=FAST, heartbeat_interval=0.2, heartbeat_timeout=1.0
    )
    stage.start()
    yield stage
    stage.close()


def comes_back(stage: Stage, before: int) -> None:
    pid = stage.call("faulty.ok", timeout=30)
    assert pid != before
    assert stage["faulty"].state is State.HEALTHY


@pytest.mark.parametrize(
    ("function", "error", "says"),
    [
        ("segfault", ExtensionCrashed, "killed by SIGSEGV"),
        ("abort", ExtensionCrashed, "killed by SIGABRT"),
        ("hoard", ExtensionOOM, "exited with status 86"),
    ],
)
def test_crash_and_oom_end_the_call_with_their_own_error(
    faulty: Stage, function: str, error: type[Exception], says: str
) -> None:
    before = faulty.call("faulty.ok")
    with pytest.raises(error, match=says):
        faulty.call(f"faulty.{function}", timeout=30)
    comes_back(faulty, before)
    assert faulty["faulty"].restarts == 1


def test_infinite_loop_ends_at_the_deadline(faulty: Stage) -> None:
    before = faulty.call("faulty.ok")
    t = time.perf_counter()
    with pytest.raises(ExtensionTimeout, match="a call passed its deadline: spin ran longer"):
        faulty.call("faulty.spin", timeout=0.5)
    assert time.perf_counter() - t < 3
    comes_back(faulty, before)


def test_a_frozen_process_is_caught_by_heartbeats(faulty: Stage) -> None:
    before = faulty.call("faulty.ok")
    with pytest.raises(ExtensionTimeout, match="stopped answering heartbeats"):
        faulty.call("faulty.freeze", timeout=None)  # no deadline: only heartbeats can tell
    comes_back(faulty, before)


@pytest.mark.parametrize(
    ("function", "says"),
    [
        ("garbage", "malformed frame"),
        ("truncated", "truncated frame"),
        ("oversized", "exceeds the limit"),
    ],
)
def test_protocol_violations(
    tmp_path: Path, store: tuple[pit.ArtifactStore, str], function: str, says: str
) -> None:
    ext = raw_extension(tmp_path / "raw", "raw")
    with Stage([ext], store=store[0], restart=FAST) as stage:
        assert stage.call("raw.ping") is None
        with pytest.raises(ExtensionCrashed, match=says):
            stage.call(f"raw.{function}", timeout=10)
        assert stage.call("raw.ping", timeout=10) is None
        assert stage["raw"].restarts == 1


def test_restart_intensity_gives_up(tmp_path: Path) -> None:
    ext = raw_extension(tmp_path / "raw", "raw")
    policy = RestartPolicy(backoff=0.01, max_restarts=3, period=60)
    with Stage([ext], restart=policy) as stage:
        for _ in range(4):
            with pytest.raises(ExtensionCrashed):
                stage.call("raw.crash", timeout=10)
        with pytest.raises(ExtensionUnavailable, match="restarted 3 times within 60"):
            stage.call("raw.ping", timeout=10)
        assert stage["raw"].state is State.FAILED


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def zombies() -> list[int]:
    me = os.getpid()
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        state, ppid = stat.rsplit(")", 1)[1].split()[:2]
        if int(ppid) == me and state == "Z":
            found.append(int(pid))
    return found


def test_a_thousand_crash_restart_cycles_leak_nothing(tmp_path: Path) -> None:
    ext = raw_extension(tmp_path / "raw", "raw")
    policy = RestartPolicy(backoff=0.0, backoff_max=0.0, max_restarts=10_000, period=1.0)
    with Stage([ext], restart=policy, heartbeat_interval=5.0) as stage:
        stage.call("raw.ping")
        fds = open_fds()
        for i in range(1000):
            with pytest.raises(ExtensionCrashed):
                stage.call("raw.crash" if i % 2 else "raw.segv", timeout=10)
        assert stage.call("raw.ping", timeout=10) is None
        assert stage["raw"].restarts == 1000
        assert open_fds() <= fds
        assert zombies() == []


KERNEL = """
import os, sys, time
from symphony_lab.stage import Stage
stage = Stage([sys.argv[1]]).start()
print(stage["faulty"].pid, flush=True)
if sys.argv[2] == "hang":
    time.sleep(60)
"""


@pytest.mark.parametrize("how", ["exit", "sigkill"])
def test_kernel_exit_leaves_no_process_behind(make_extension: MakeExtension, how: str) -> None:
    ext = make_extension("faulty", FAULTY, functions=["ok"])
    libc = ctypes.CDLL(None, use_errno=True)
    # Orphans are reparented to us, so the test sees (and reaps) whatever survives.
    pr_set_child_subreaper = 36
    assert libc.prctl(pr_set_child_subreaper, 1, 0, 0, 0) == 0
    try:
        kernel = subprocess.Popen(
            [sys.executable, "-c", KERNEL, str(ext), "hang" if how == "sigkill" else "exit"],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert kernel.stdout is not None
        child = int(kernel.stdout.readline())
        if how == "sigkill":
            kernel.send_signal(signal.SIGKILL)
        kernel.wait(30)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                pid, _ = os.waitpid(child, os.WNOHANG)
            except ChildProcessError:
                break  # reaped already: gone
            if pid == child:
                break
            time.sleep(0.05)
        else:
            pytest.fail(f"extension {child} outlived the kernel ({how})")
    finally:
        libc.prctl(pr_set_child_subreaper, 0, 0, 0, 0)
