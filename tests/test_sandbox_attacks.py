"""The evil-extension suite: an extension that attacks its host, the kernel and
its neighbours, in a real sandboxed process. Each attack must be refused with
a named error while the host and the other extension carry on.

Each attack runs inside the extension and returns what it achieved; the test
asserts it achieved nothing. The figure (attacks blocked / tried) is printed
at the end.
"""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from symphony_lab.stage import Stage
from symphony_lab.stage.errors import ExtensionError
from tests.conftest import write_extension

EVIL = r"""
import ctypes, errno, os, signal, socket, subprocess, sys
from symphony_lab.sdk import operator

libc = ctypes.CDLL(None, use_errno=True)

def _err(e: BaseException) -> str:
    return f"{type(e).__name__}: {e}"

@operator
def read(path: str) -> str:
    try:
        with open(path, "rb") as f:
            return "READ " + f.read(64).decode(errors="replace")
    except OSError as e:
        return "blocked " + _err(e)

@operator
def write(path: str) -> str:
    try:
        with open(path, "w") as f:
            f.write("owned")
        return "WROTE"
    except OSError as e:
        return "blocked " + _err(e)

@operator
def symlink(target: str) -> str:
    link = os.path.join(os.getcwd(), "link")
    try:
        if os.path.lexists(link):
            os.unlink(link)
        os.symlink(target, link)
        with open(link, "rb") as f:
            return "READ " + f.read(64).decode(errors="replace")
    except OSError as e:
        return "blocked " + _err(e)

@operator
def hardlink(target: str) -> str:
    link = os.path.join(os.getcwd(), "hard")
    try:
        os.link(target, link)
        with open(link, "rb") as f:
            return "READ " + f.read(64).decode(errors="replace")
    except OSError as e:
        return "blocked " + _err(e)

@operator
def connect(port: int) -> str:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
            return "CONNECTED"
    except OSError as e:
        return "blocked " + _err(e)

@operator
def squat(path: str, seconds: float) -> str:
    # Connects to another extension's bus socket while it starts, as if it
    # were that extension: the host must hang up on it.
    import time
    refused = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        s = socket.socket(socket.AF_UNIX)
        try:
            s.connect(path)
        except OSError:
            s.close()
            time.sleep(0.0005)
            continue
        s.settimeout(2.0)
        try:
            # The real extension speaks first; a host that took us for it waits.
            if s.recv(1) == b"":
                refused += 1
            else:
                return "ANSWERED"
        except socket.timeout:
            return "ACCEPTED as the other extension"
        except OSError:
            refused += 1
        finally:
            s.close()
        if refused >= 1:
            return f"blocked: the host hung up {refused} time(s)"
    return "never connected"

@operator
def dns(name: str) -> str:
    try:
        return "RESOLVED " + str(socket.getaddrinfo(name, 80)[0][4])
    except OSError as e:
        return "blocked " + _err(e)

@operator
def shell() -> str:
    try:
        subprocess.run(["/bin/sh", "-c", "echo hi"], check=True, capture_output=True)
        return "RAN"
    except OSError as e:
        return "blocked " + _err(e)

@operator
def raw_exec() -> str:
    # execve through C, past Python's audit hooks: the kernel must refuse.
    argv = (ctypes.c_char_p * 2)(b"/bin/sh", None)
    rc = libc.execve(b"/bin/sh", argv, None)
    return f"blocked execve returned {rc}: {os.strerror(ctypes.get_errno())}"

@operator
def trace(pid: int) -> str:
    rc = libc.ptrace(16, pid, None, None)  # PTRACE_ATTACH
    if rc == 0:
        return "TRACED"
    return f"blocked ptrace: {os.strerror(ctypes.get_errno())}"

@operator
def kill(pid: int) -> str:
    try:
        os.kill(pid, signal.SIGTERM)
        return "SIGNALLED"
    except OSError as e:
        return "blocked " + _err(e)

@operator
def fork_bomb() -> str:
    children = []
    try:
        for _ in range(5000):
            pid = os.fork()
            if pid == 0:
                import time
                time.sleep(30)
                os._exit(0)
            children.append(pid)
        return f"FORKED {len(children)}"
    except OSError as e:
        return f"blocked after {len(children)} forks: " + _err(e)
    finally:
        for pid in children:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)

@operator
def allocate(gib: int) -> str:
    try:
        block = bytearray(gib << 30)
        return f"ALLOCATED {len(block)}"
    except MemoryError as e:
        return "blocked " + _err(e)

@operator
def open_files(n: int) -> str:
    held = []
    try:
        for _ in range(n):
            held.append(open(os.devnull))
        return f"OPENED {len(held)}"
    except OSError as e:
        return f"blocked after {len(held)}: " + _err(e)
    finally:
        for f in held:
            f.close()

@operator
def leaked_fds(secret: str) -> str:
    for fd in range(3, 1024):
        try:
            os.lseek(fd, 0, 0)
            if secret.encode() in os.read(fd, 4096):
                return f"FOUND in fd {fd}"
        except OSError:
            pass
    return "blocked: no descriptor of the host's"

@operator
def environment(secret: str) -> str:
    hits = [k for k, v in os.environ.items() if secret in v]
    return f"FOUND in {hits}" if hits else "blocked: not in the environment"

@operator
def frame_header() -> str:
    # Finds its bus socket and writes a header announcing a 4 GiB frame.
    for fd in range(3, 64):
        try:
            s = socket.socket(fileno=os.dup(fd))
        except OSError:
            continue
        if s.family == socket.AF_UNIX:
            s.sendall(b"\xff\xff\xff\xff" + b"\x00" * 60)
            return "SENT"
    return "no socket"

@operator
def flood(n: int, ctx) -> int:
    for i in range(n):
        ctx.emit({"i": i})
    return n

@operator
def stop_heartbeats() -> str:
    os.kill(os.getpid(), signal.SIGSTOP)
    # A stop lands when the process next leaves the kernel, not always
    # before this thread answers: wait rather than answer first.
    import time
    time.sleep(60)
    return "RESUMED"

@operator
def spin() -> str:
    while True:
        pass

@operator
def fill_disk(mib: int) -> str:
    chunk = b"\0" * (1 << 20)
    written = 0
    try:
        for i in range(1 << 16):
            with open(f"fill-{i}", "wb") as f:
                for _ in range(64):
                    f.write(chunk)
                    written += 1
                    if written >= mib:
                        return f"WROTE {written} MiB"
    except OSError as e:
        return f"blocked after {written} MiB: " + _err(e)
    finally:
        for name in os.listdir("."):
            if name.startswith("fill-"):
                os.unlink(name)
    return f"WROTE {written} MiB"
"""

FUNCTIONS = [
    "read", "write", "symlink", "hardlink", "connect", "squat", "dns", "shell", "raw_exec", "trace",
    "kill", "fork_bomb", "allocate", "open_files", "leaked_fds", "environment", "frame_header",
    "flood", "stop_heartbeats", "spin", "fill_disk",
]  # fmt: skip

SECRET = "sk-evil-suite-0123456789"
RESULTS: dict[str, bool] = {}


class World:
    """The host's side: a planted home with secrets, a listening server, a
    leaked descriptor, a secret in the environment, and the Stage."""

    def __init__(self, root: Path, stage: Stage, port: int) -> None:
        self.root = root
        self.stage = stage
        self.port = port
        self.home = root / "home"
        self.key = self.home / ".ssh" / "id_ed25519"
        self.jpserver = self.home / ".local/share/jupyter/runtime/jpserver-4242.json"
        self.work = stage.root / "evil"

    def attack(self, function: str, *args: Any, timeout: float = 30, ext: str = "evil") -> Any:
        return self.stage.call(f"{ext}.{function}", list(args), timeout=timeout)

    def neighbours_fine(self) -> None:
        """The host and the other extension still work."""
        assert self.stage.call("text.split", {"text": "still here", "sep": " "}) == [
            "still",
            "here",
        ]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("evil")
    home = root / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "id_ed25519").write_text(f"-----BEGIN OPENSSH PRIVATE KEY----- {SECRET}\n")
    runtime = home / ".local/share/jupyter/runtime"
    runtime.mkdir(parents=True)
    (runtime / "jpserver-4242.json").write_text(f'{{"token": "{SECRET}"}}')
    limits = """
        [resources]
        memory_mb = 2048
        open_files = 256
        processes = 64
        disk_mb = 64
        max_concurrency = 2
        """
    folder = write_extension(root, "evil", EVIL, FUNCTIONS, toml_extra=limits)
    # The same code under a CPU limit of 2 s, for the attack that spins.
    spinner = write_extension(
        root, "spinner", EVIL, ["spin"], toml_extra=limits + "cpu_seconds = 2\n"
    )
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    stop = threading.Event()

    def serve() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
                conn.close()
            except OSError:
                pass

    threading.Thread(target=serve, daemon=True).start()
    leaked = open(home / ".ssh" / "id_ed25519", "rb")  # noqa: SIM115
    os.set_inheritable(leaked.fileno(), True)
    mp = pytest.MonkeyPatch()
    mp.setenv("HOME", str(home))
    mp.setenv("EVIL_SUITE_SECRET", SECRET)
    try:
        events: list[Any] = []
        stage = Stage(
            [folder, spinner, "text"],
            root=root / "stage",
            heartbeat_timeout=2.0,
            on_event=lambda name, event: events.append(event) if len(events) < 10 else None,
        )
        with stage:
            stage.start()
            yield World(root, stage, port)
    finally:
        mp.undo()
        leaked.close()
        stop.set()
        server.close()
    blocked = sum(RESULTS.values())
    print(f"\nevil-extension suite: {blocked} attacks blocked / {len(RESULTS)} tried")


def blocked(name: str, outcome: Any, world: World) -> None:
    ok = isinstance(outcome, str) and outcome.startswith("blocked")
    RESULTS[name] = ok
    assert ok, f"{name}: {outcome}"
    world.neighbours_fine()


def test_read_ssh_key_in_home(world: World) -> None:
    blocked("read ~/.ssh/id_ed25519", world.attack("read", str(world.key)), world)


def test_write_outside_work_folder(world: World) -> None:
    target = world.root / "owned.txt"
    blocked("write outside the work folder", world.attack("write", str(target)), world)
    assert not target.exists()


def test_escape_through_symlink(world: World) -> None:
    blocked("symlink to the key", world.attack("symlink", str(world.key)), world)


def test_escape_through_hardlink(world: World) -> None:
    blocked("hardlink to the key", world.attack("hardlink", str(world.key)), world)


def test_dotdot_in_path(world: World) -> None:
    dotted = str(world.work) + "/../../home/.ssh/id_ed25519"
    blocked("'..' in a path", world.attack("read", dotted), world)


def test_connect_to_loopback_listener(world: World) -> None:
    blocked("connect to a loopback listener", world.attack("connect", world.port), world)


def test_resolve_dns(world: World) -> None:
    blocked("resolve DNS", world.attack("dns", "example.com"), world)


def test_exec_shell(world: World) -> None:
    outcome = world.attack("shell")
    assert "may not run programs" in outcome, outcome
    blocked("exec /bin/sh (subprocess)", outcome, world)


def test_exec_shell_past_python(world: World) -> None:
    blocked("exec /bin/sh (raw execve)", world.attack("raw_exec"), world)


def test_ptrace_the_kernel(world: World) -> None:
    blocked("ptrace the kernel", world.attack("trace", os.getpid()), world)


def test_signal_the_kernel(world: World) -> None:
    # Had it landed, SIGTERM would have ended this very process.
    previous = signal.signal(signal.SIGTERM, lambda *_: None)
    try:
        blocked("SIGTERM the kernel", world.attack("kill", os.getpid()), world)
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_fork_bomb(world: World) -> None:
    outcome = world.attack("fork_bomb", timeout=60)
    blocked("fork bomb", outcome, world)
    assert int(outcome.split()[2]) < 64, outcome


def test_allocate_10_gib(world: World) -> None:
    blocked("allocate 10 GiB", world.attack("allocate", 10), world)


def test_open_10000_files(world: World) -> None:
    blocked("open 10,000 files", world.attack("open_files", 10_000), world)


def test_read_jupyter_server_file(world: World) -> None:
    blocked("read jpserver-*.json", world.attack("read", str(world.jpserver)), world)


def test_read_parent_environ(world: World) -> None:
    blocked(
        "read /proc/<kernel>/environ", world.attack("read", f"/proc/{os.getpid()}/environ"), world
    )


def test_leaked_descriptor(world: World) -> None:
    blocked("use a descriptor leaked by the host", world.attack("leaked_fds", SECRET), world)


def test_pose_as_another_extension_on_its_bus(world: World) -> None:
    sock = str(world.stage.root / ".sockets" / "text.sock")
    outcome: list[str] = []
    squatter = threading.Thread(
        target=lambda: outcome.append(world.attack("squat", sock, 20.0, timeout=40))
    )
    squatter.start()
    time.sleep(0.3)
    world.stage.reload("text")  # a fresh listener, which the squatter races for
    squatter.join(60)
    assert outcome, "the squatter never answered"
    print(f"\nsquatter: {outcome[0]}")
    # Either it got there first and was refused, or the real one won the race.
    if outcome[0] != "never connected":
        blocked("pose as another extension on its bus", outcome[0], world)
    else:
        RESULTS["pose as another extension on its bus"] = True
        world.neighbours_fine()


def test_secret_in_environment(world: World) -> None:
    blocked("find a secret in the environment", world.attack("environment", SECRET), world)


def _ends_in_restart(
    world: World, function: str, *args: Any, timeout: float = 30, name: str = "evil"
) -> str:
    """Runs an attack that must cost the extension its process; returns the error."""
    ext = world.stage[name]
    before = ext.restarts
    with pytest.raises(ExtensionError) as info:
        world.attack(function, *args, timeout=timeout, ext=name)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and ext.restarts == before:
        time.sleep(0.05)
    ext.wait_ready(30)
    return str(info.value)


def test_four_gib_frame_header(world: World) -> None:
    error = _ends_in_restart(world, "frame_header")
    blocked("send a 4 GiB frame header", f"blocked {error}", world)


def test_hang_without_heartbeats(world: World) -> None:
    error = _ends_in_restart(world, "stop_heartbeats")
    assert "heartbeat" in error, error
    blocked("hang without heartbeats", f"blocked {error}", world)


def test_spin_past_cpu_limit(world: World) -> None:
    error = _ends_in_restart(world, "spin", name="spinner")
    assert "SIGXCPU" in error, error
    blocked("spin the CPU past its limit", f"blocked {error}", world)


def test_fill_work_folder(world: World) -> None:
    outcome = world.attack("fill_disk", 1024, timeout=60)
    blocked("fill the disk of its work folder", outcome, world)
    assert "No space left on device" in outcome, outcome
    assert int(outcome.split()[2]) <= 64, outcome


def test_flood_the_bus(world: World) -> None:
    """A million events cost the host a bounded queue, not its memory."""

    def rss() -> int:
        status = Path("/proc/self/status").read_text()
        return int(status.split("VmRSS:")[1].split()[0]) << 10

    before = rss()
    sent = world.attack("flood", 1_000_000, timeout=120)
    assert sent == 1_000_000
    assert rss() - before < 64 << 20, f"the host grew by {(rss() - before) >> 20} MiB"
    blocked("flood the bus with 1M messages", "blocked: delivered, the host unaffected", world)
