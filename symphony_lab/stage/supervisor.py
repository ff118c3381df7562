"""One extension process under supervision.

A supervisor thread per extension starts the process (its own process group,
working folder and scrubbed environment; rlimits from the manifest; no
network where the manifest denies it and the kernel allows), accepts its bus
connection, checks its heartbeats, and restarts it with exponential backoff
after a crash, a hang or an out-of-memory exit — at most ``max_restarts``
times within ``period`` seconds, as OTP supervisors count intensity; past
that the extension is ``failed``. How each run ended is an :class:`Exit`
(``exits.py``); the calls themselves go through ``client.py``.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import select
import signal
import sys
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

import symphony_lab
from symphony_lab.pit import (
    BusConnection,
    BusError,
    BusListener,
    BusTimeout,
    RemoteError,
    spawn_process,
)
from symphony_lab.sdk.manifest import MANIFEST_NAME, Manifest
from symphony_lab.sdk.runtime import EXIT_BAD_EXTENSION
from symphony_lab.stage.backend import HostOptions, State
from symphony_lab.stage.errors import (
    ExtensionCallError,
    ExtensionCrashed,
    ExtensionError,
    ExtensionTimeout,
    ExtensionUnavailable,
)
from symphony_lab.stage.exits import Exit, log_tail, oom_kills
from symphony_lab.stage.sandbox import kill_cgroup, make_cgroup, walls

log = logging.getLogger("symphony_lab.stage")

# Numbers the pids cgroups this host makes: each process gets one of its own.
_CGROUPS = itertools.count(1)
# A run longer than this resets the backoff: the next crash is a new story.
HEALTHY_RUN = 10.0


class _NoRestart(ExtensionError):
    """A failure that a restart cannot heal (the extension's configuration)."""


def _exited(pid: int) -> bool:
    """Whether ``pid`` has exited, leaving it to be reaped."""
    try:
        return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return True


def _drain(conn: BusConnection, limit: float = 0.5) -> None:
    """Reads what a dead extension left in its socket, so that calls in flight
    end with what the bus saw (a truncated frame, say) rather than a bare close."""
    deadline = time.monotonic() + limit
    with contextlib.suppress(BusError):
        while time.monotonic() < deadline:
            conn.events(max(deadline - time.monotonic(), 0.0))


def _in_group(peer: int, leader: int) -> bool:
    """Whether ``peer`` is ``leader`` or in its process group."""
    try:
        return peer == leader or os.getpgid(peer) == leader
    except ProcessLookupError:
        return False


def _folder_bytes(folder: Path) -> int:
    """Disk space the files beneath ``folder`` take (allocated blocks)."""
    total = 0
    for top, dirs, files in os.walk(folder):
        for name in files + dirs:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(top, name)).st_blocks * 512
    return total


def _user_tasks() -> int:
    """Threads of this user: what RLIMIT_NPROC counts."""
    uid = os.getuid()
    count = 0
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if entry.stat().st_uid == uid:
                    count += len(os.listdir(f"/proc/{entry.name}/task"))
    return count


class Supervisor:
    """Starts, watches and restarts one extension's process."""

    def __init__(self, manifest: Manifest, options: HostOptions) -> None:
        self.manifest = manifest
        self.name = manifest.name
        self.workdir = options.root / manifest.name
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.workdir / "extension.log"
        self.store = options.store
        self.restart_policy = options.restart
        self.heartbeat_interval = options.heartbeat_interval
        self.heartbeat_timeout = options.heartbeat_timeout
        self.start_timeout = options.start_timeout
        self.isolate_network = options.isolate_network and not (
            manifest.permissions.allows("network", "read")
            or manifest.permissions.allows("network", "write")
        )
        self.config = options.config.get(manifest.name, {})
        self.sandbox = options.sandbox
        self.grants = options.grants.get(manifest.name, {})
        self._cgroup: Path | None = None
        # Whether the work folder is a tmpfs the kernel bounds (else the
        # heartbeat loop measures it).
        self._scratch = False
        # Calls from the extension served at once; more wait their turn.
        self._serving = threading.BoundedSemaphore(16)
        self.on_event = options.on_event
        self.on_state = options.on_state
        self.on_call = options.on_call
        # Extensions that may call others get a thread serving those calls;
        # the rest have theirs refused at each heartbeat. (A serving thread
        # reads the socket while idle, which costs other calls a thread hop.)
        self.serves_calls = bool(manifest.permissions.model.call)
        self.restarts = 0
        self.exits: deque[Exit] = deque(maxlen=100)
        self.hello: dict[str, Any] = {}
        self.failure = ""
        self._state = State.CREATED
        self._cv = threading.Condition()
        self._conn: BusConnection | None = None
        self._pid: int | None = None
        self._generation = 0
        self._host_reason: tuple[int, str, str] | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._oom_before: int | None = None
        self._launched_at = 0.0

    # -- state ---------------------------------------------------------------
    @property
    def state(self) -> State:
        return self._state

    @property
    def pid(self) -> int | None:
        return self._pid

    def _set(self, state: State) -> None:
        with self._cv:
            self._state = state
            self._cv.notify_all()
        if self.on_state is not None:
            try:
                self.on_state(self.name, state)
            except Exception:  # a user's callback must not take the supervisor down
                log.exception("on_state callback failed for %s", self.name)

    def __repr__(self) -> str:
        return f"<Supervisor {self.name} {self._state} pid={self._pid}>"

    # -- lifecycle -----------------------------------------------------------
    def start(self, wait: bool = True) -> None:
        """Starts the supervisor; with ``wait``, returns once the extension is healthy."""
        if self._thread is not None:
            raise RuntimeError(f"extension {self.name!r} was already started")
        self._thread = threading.Thread(
            target=self._supervise, name=f"stage-{self.name}", daemon=True
        )
        self._thread.start()
        if wait:
            self.ready(self.start_timeout)

    def stop(self, grace: float = 5.0) -> None:
        """Asks the extension to finish and exit; kills its group after ``grace`` seconds."""
        self._stop.set()
        with self._cv:
            conn, pid, gen = self._conn, self._pid, self._generation
        if pid is not None and self._state not in (State.TERMINATED, State.FAILED):
            self._set(State.STOPPING)
            self._host_reason = (gen, "stop", "")
            if conn is not None:
                with contextlib.suppress(BusError, ExtensionError):
                    conn.call("__deactivate__", None, timeout=grace)  # its on_deactivate hook
                with contextlib.suppress(BusError):
                    conn.shutdown()
            with self._cv:
                self._cv.wait_for(lambda: self._pid is None, timeout=grace)
            if self._pid is not None:
                self.kill(gen, "stop", "")
        if self._thread is not None:
            self._thread.join(timeout=grace + 5)
        if self._state != State.FAILED:
            self._set(State.TERMINATED)

    @property
    def connection(self) -> BusConnection | None:
        """The bus to the running process, if one runs."""
        return self._conn

    @property
    def generation(self) -> int:
        """Counts the process's starts: a call's connection belongs to one."""
        return self._generation

    def _spawn(self) -> tuple[int, BusListener]:
        # Outside the work folder, which the extension sees as a tmpfs of its own.
        sock = self.workdir.parent / ".sockets" / f"{self.name}.sock"
        sock.parent.mkdir(exist_ok=True)
        listener = BusListener(str(sock))
        m = self.manifest
        assert m.folder is not None
        if m.executable is not None:
            argv = [str(m.folder / m.executable)]
        else:
            # -P and -s: nothing from the work folder or a user site runs
            # before the runtime has sealed the process.
            argv = [
                sys.executable,
                "-P",
                "-s",
                "-m",
                "symphony_lab.sdk.runtime",
                str(m.folder / MANIFEST_NAME),
            ]
        package_root = str(Path(symphony_lab.__file__).resolve().parent.parent)
        host_path = os.environ.get("PYTHONPATH", "")
        tmp = self.workdir / "tmp"
        tmp.mkdir(exist_ok=True)
        env = {
            "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
            "HOME": str(self.workdir),
            "TMPDIR": str(tmp),
            "LANG": "C.UTF-8",
            # The host's own path (the extension's folder joins sys.path in
            # the runtime, once sealed).
            "PYTHONPATH": os.pathsep.join(
                dict.fromkeys([package_root, *filter(None, host_path.split(os.pathsep))])
            ),
            "PYTHONUNBUFFERED": "1",
            "SYMPHONY_BUS": str(sock),
            "SYMPHONY_EXTENSION": m.name,
            "SYMPHONY_HOST_PID": str(os.getpid()),
        }
        if self.store is not None:
            env["SYMPHONY_STORE"] = self.store
        if self.isolate_network:
            env["HF_HUB_OFFLINE"] = env["TRANSFORMERS_OFFLINE"] = "1"
        owned = {k: v for k, v in env.items() if k.startswith("SYMPHONY_")}
        env.update(m.env)
        env.update({k: os.environ[k] for k in m.pass_env if k in os.environ})
        env.update(owned)  # the Stage's own names win over the manifest's
        r = m.resources
        sandbox: dict[str, Any] = {}
        lines = [f"--- start {self._generation} at {time.ctime()} ---"]
        if self.sandbox is not None:
            w = walls(m, self.workdir, store=self.store, grants=self.grants)
            if not w.allow_exec:
                env["SYMPHONY_DENY_EXEC"] = "1"
            missing = set(self.sandbox.missing)
            cgroup = self.sandbox.pids_cgroup
            if cgroup is not None:
                name = f"symphony-{os.getpid()}-{m.name}-{next(_CGROUPS)}"
                self._cgroup = make_cgroup(cgroup, name, r.processes)
            self._scratch = "namespaces" not in missing
            sandbox = {
                "scratch_bytes": r.disk_mb << 20 if self._scratch else None,
                "read": w.read,
                "write": w.write,
                "execute": w.execute,
                "deny_tcp": w.deny_tcp,
                "cgroup": str(self._cgroup) if self._cgroup else None,
                "landlock": "landlock" not in missing,
                "seccomp": "seccomp" not in missing,
            }
            lines.append(self.sandbox.line())
            lines += [f"granted path not found, skipped: {item}" for item in w.skipped]
        with open(self.log_path, "ab") as log:
            log.write("".join(f"{line}\n" for line in lines).encode())
        pid = spawn_process(
            argv,
            str(self.workdir),
            sorted(env.items()),
            str(self.log_path),
            address_space=r.memory_mb << 20 if r.memory_mb else None,
            # With a tmpfs work folder its size is the bound; without, no
            # file grows past it (the log and the store's files included).
            file_size=None if self._scratch else r.disk_mb << 20,
            cpu_seconds=r.cpu_seconds,
            open_files=r.open_files,
            processes=_user_tasks() + r.processes if os.geteuid() != 0 else None,
            isolate_network=self.isolate_network,
            **sandbox,
        )
        return pid, listener

    def _launch(self) -> None:
        with self._cv:
            self._generation += 1
        self._set(State.STARTING)
        self._oom_before = oom_kills()
        self._launched_at = time.monotonic()
        pid, listener = self._spawn()
        with self._cv:
            self._pid = pid
        try:
            conn = self._accept(listener, pid)
        finally:
            listener.close()
        self._check_stop()
        self.hello = conn.handshake(self.start_timeout)
        with self._cv:
            self._conn = conn
        if self.serves_calls:
            threading.Thread(
                target=self._serve_calls,
                args=(conn, self._generation),
                name=f"stage-{self.name}-calls",
                daemon=True,
            ).start()
        self._set(State.RUNNING)
        try:
            conn.call("__activate__", {"config": self.config}, timeout=self.start_timeout)
        except RemoteError as e:
            raise _NoRestart(
                f"configure or on_activate raised {e.remote_type}: {e.message}", self.name
            ) from None
        health = conn.call("__health__", None, timeout=self.start_timeout)
        sick = [name for name, ok in (health or {}).items() if not ok]
        if sick:
            raise ExtensionCrashed(f"health check failed for {', '.join(sick)}", self.name)
        self._check_stop()
        self._set(State.HEALTHY)

    def _check_stop(self) -> None:
        if self._stop.is_set():
            raise _NoRestart(f"extension {self.name!r} was stopped while starting", self.name)

    def _accept(self, listener: BusListener, pid: int) -> BusConnection:
        """Waits for the connection, but not for a process that already died."""
        deadline = time.monotonic() + self.start_timeout
        while True:
            try:
                conn = listener.accept(min(0.2, max(deadline - time.monotonic(), 0.0)))
            except BusTimeout:
                self._check_stop()
                if _exited(pid):
                    raise ExtensionCrashed(
                        "the process exited before connecting", self.name
                    ) from None
                if time.monotonic() >= deadline:
                    raise
                continue
            # Landlock does not stop a process connecting to a socket by its
            # path: whoever connects must be the process started here (or
            # one of its own group, for a program that forks first).
            if conn.peer_pid is not None and _in_group(conn.peer_pid, pid):
                return conn
            log.warning(
                "extension %s: pid %s connected to its bus instead of %s; refused",
                self.name,
                conn.peer_pid,
                pid,
            )
            conn.close("not the extension's process")

    def kill(self, generation: int, reason: str, detail: str) -> None:
        """Ends the process group of ``generation``, recording why (unless it
        had already exited on its own, which then tells the story)."""
        with self._cv:
            if generation != self._generation or self._pid is None:
                return
            pid = self._pid
            if not _exited(pid) and (
                self._host_reason is None or self._host_reason[0] != generation
            ):
                self._host_reason = (generation, reason, detail)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)

    def _reap(self, pid: int) -> Exit:
        _, status = os.waitpid(pid, 0)
        code = os.waitstatus_to_exitcode(status)
        hr = self._host_reason
        reason, detail = (hr[1], hr[2]) if hr and hr[0] == self._generation else (None, "")
        # The extension's own children die with it, even those that left
        # its process group.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
        if self._cgroup is not None:
            kill_cgroup(self._cgroup)
            self._cgroup = None
        return Exit(
            generation=self._generation,
            pid=pid,
            code=code if code >= 0 else None,
            signal=-code if code < 0 else None,
            host_reason=reason,
            detail=detail,
            log_tail=log_tail(self.log_path),
            oom_killed=None
            if self._oom_before is None or (after := oom_kills()) is None
            else after > self._oom_before,
        )

    def _watch(self, pid: int) -> Exit:
        """Heartbeats until the process exits; returns how it ended."""
        pidfd = os.pidfd_open(pid)
        poller = select.poll()
        poller.register(pidfd, select.POLLIN)
        try:
            while True:
                if poller.poll(self.heartbeat_interval * 1000):
                    return self._reap(pid)
                conn = self._conn
                if conn is None or self._stop.is_set():
                    continue
                try:
                    conn.heartbeat(self.heartbeat_timeout)
                except BusTimeout:
                    self.kill(
                        self._generation, "hang", f"no heartbeat for {self.heartbeat_timeout} s"
                    )
                except BusError as e:
                    # A dying process closes its socket before it can be
                    # reaped: let it finish dying before blaming the bus.
                    if poller.poll(1000):
                        return self._reap(pid)
                    if not self._stop.is_set():
                        self.kill(self._generation, "protocol", str(e))
                else:
                    self._deliver_events(conn)
                    if not self.serves_calls:
                        self._refuse_calls(conn)
                if not self._scratch:
                    self._check_disk()
        finally:
            os.close(pidfd)

    def _check_disk(self) -> None:
        used = _folder_bytes(self.workdir)
        quota = self.manifest.resources.disk_mb << 20
        if used > quota:
            self.kill(
                self._generation,
                "disk",
                f"its work folder holds {used >> 20} MiB, over resources.disk_mb = {quota >> 20}",
            )

    # -- calls the extension makes through the Stage (ctx.call) ---------------
    def _serve_calls(self, conn: BusConnection, generation: int) -> None:
        while generation == self._generation and not self._stop.is_set():
            try:
                requests = conn.requests(0.5)
            except BusError:
                return
            for call_id, target, args in requests:
                self._serving.acquire()
                threading.Thread(
                    target=self._host_call_released,
                    args=(conn, call_id, target, args),
                    name=f"stage-{self.name}-call",
                    daemon=True,
                ).start()

    def _host_call_released(
        self, conn: BusConnection, call_id: int, target: str, args: Any
    ) -> None:
        try:
            self._host_call(conn, call_id, target, args)
        finally:
            self._serving.release()

    def _refuse_calls(self, conn: BusConnection) -> None:
        with contextlib.suppress(BusError):
            for call_id, target, args in conn.requests(0.0):
                self._host_call(conn, call_id, target, args)

    def _host_call(self, conn: BusConnection, call_id: int, target: str, args: Any) -> None:
        """Runs one call the extension made, if its manifest allows it."""
        allowed = self.manifest.permissions.model
        failure: tuple[str, str, str] | None
        try:
            if target.partition(".")[0] == self.name:
                raise PermissionError(
                    f"extension {self.name!r} may not call itself ({target!r}) through the Stage"
                )
            if not allowed.allows_call(target):
                listed = ", ".join(allowed.call) or "nothing"
                raise PermissionError(
                    f"extension {self.name!r} may not call {target!r}: "
                    f"its [permissions.model] call lists {listed}"
                )
            if self.on_call is None:
                raise PermissionError(f"this host runs no calls from extensions ({target!r})")
            result = self.on_call(target, args)
        except ExtensionCallError as e:
            failure = (e.remote_type or type(e).__name__, str(e), e.remote_traceback)
        except Exception as e:  # every failure goes back to the caller, typed
            failure = (type(e).__name__, str(e), "")
        else:
            failure = None
        # The caller may be gone (restarted, stopped): nobody to answer.
        with contextlib.suppress(BusError):
            if failure is None:
                conn.reply(call_id, result)
            else:
                conn.refuse(call_id, *failure)

    def _deliver_events(self, conn: BusConnection) -> None:
        """Hands events to ``on_event``; without one they are dropped, not hoarded."""
        try:
            events = conn.events(0.0)
        except BusError:
            return
        if self.on_event is None:
            return
        for e in events:
            try:
                self.on_event(self.name, e)
            except Exception:
                log.exception("on_event callback failed for %s", self.name)

    def _supervise(self) -> None:
        try:
            self._supervise_loop()
        except BaseException as e:  # never leave a process without its supervisor
            log.exception("supervisor of %s failed", self.name)
            pid = self._pid
            if pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGKILL)
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(pid, 0)
            with self._cv:
                self._pid, self._conn = None, None
            self._record_failure(f"its supervisor failed: {e!r}")

    def _supervise_loop(self) -> None:
        starts: deque[float] = deque()
        failures_in_a_row = 0
        while not self._stop.is_set():
            exit_: Exit | None = None
            try:
                self._launch()
            except (ExtensionError, BusError, OSError) as e:
                if self._pid is None:  # could not even spawn
                    self._record_failure(f"cannot start: {e}")
                    return
                self.kill(self._generation, "start", str(e))
                if isinstance(e, _NoRestart):
                    self._watch(self._pid)
                    with self._cv:
                        self._pid, self._conn = None, None
                        self._cv.notify_all()
                    if not self._stop.is_set():  # stop() reports its own ending
                        self._record_failure(str(e))
                    return
            pid = self._pid
            if pid is not None:
                exit_ = self._watch(pid)
            conn, self._conn = self._conn, None
            with self._cv:
                self._pid = None
                if exit_ is not None:
                    self.exits.append(exit_)
                self._cv.notify_all()
            if not self._stop.is_set() and exit_ is not None:
                self._set(State.CRASHED)
            if conn is not None and exit_ is not None:
                _drain(conn)
                conn.close(exit_.describe())
            del conn  # its sockets close with it, not at the next restart
            if self._stop.is_set() or exit_ is None:
                break
            if time.monotonic() - self._launched_at > HEALTHY_RUN:
                failures_in_a_row = 0  # it ran well for a while: back off from scratch
            if exit_.code == EXIT_BAD_EXTENSION:
                # A broken manifest or import does not heal by restarting.
                self._record_failure(f"it cannot start: {exit_.describe()}\n{exit_.log_tail}")
                return
            # OTP-style intensity: too many restarts within the period -> give up.
            now = time.monotonic()
            starts.append(now)
            while starts and now - starts[0] > self.restart_policy.period:
                starts.popleft()
            if len(starts) > self.restart_policy.max_restarts:
                self._record_failure(
                    f"restarted {len(starts) - 1} times within {self.restart_policy.period} s; "
                    f"last exit: {exit_.describe()}"
                )
                return
            p = self.restart_policy
            delay = min(p.backoff * (2**failures_in_a_row), p.backoff_max)
            failures_in_a_row += 1
            if self._stop.wait(delay):
                break
            self.restarts += 1

    def _record_failure(self, why: str) -> None:
        self.failure = why
        self._set(State.FAILED)

    # -- calls ---------------------------------------------------------------
    def ready(self, timeout: float | None) -> tuple[BusConnection, int]:
        """The connection once the extension is healthy (waiting through a restart)."""
        limit = self.start_timeout if timeout is None else max(timeout, 0.0)
        with self._cv:
            ok = self._cv.wait_for(
                lambda: (
                    (self._state is State.HEALTHY and self._conn is not None)
                    or self._state in (State.FAILED, State.TERMINATED)
                    or self._stop.is_set()
                ),
                timeout=limit,
            )
            if self._state == State.HEALTHY and self._conn is not None:
                return self._conn, self._generation
            if self._state == State.FAILED:
                raise ExtensionUnavailable(
                    f"extension {self.name!r} was given up: {self.failure}",
                    self.name,
                    log_tail(self.log_path),
                )
            if self._stop.is_set() or self._state == State.TERMINATED:
                raise ExtensionUnavailable(f"extension {self.name!r} is stopped", self.name)
            assert not ok or self._conn is None
        raise ExtensionTimeout(
            f"extension {self.name!r} did not become healthy within {limit} s "
            f"(state {self._state})",
            self.name,
            log_tail(self.log_path),
        )

    def exit_of(self, generation: int, wait: float) -> Exit | None:
        with self._cv:
            self._cv.wait_for(
                lambda: any(e.generation == generation for e in self.exits), timeout=wait
            )
            return next((e for e in reversed(self.exits) if e.generation == generation), None)
