"""Runs in supervised worker processes, on disk under one folder.

``RunManager(runs_dir)`` starts each run as ``python -m
symphony_lab.runs.worker <folder>`` in a session of its own (a crash in a
run never reaches its caller, and a kernel or server restart never reaches
the run), follows it from a thread, and records how it ended where the
worker could not (killed by a signal, say). Made again on the same folder
(a server restart), it lists every run found there; one that was running
under a process that is gone shows as ``interrupted`` and ``resume`` takes
it on from its last complete checkpoint.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from symphony_lab.runs import record
from symphony_lab.runs.params import check, checkpoints
from symphony_lab.runs.provenance import provenance
from symphony_lab.runs.record import FINISHED, RunError, RunRecord, UnknownRun, check_id

#: Seconds a cancelled worker gets to finish before SIGKILL.
CANCEL_GRACE_S = 10.0
#: Seconds between looks at a worker a previous manager started.
WATCH_S = 0.5


class RunManager:
    """Starts, lists, follows and cancels runs under ``runs_dir``."""

    def __init__(self, runs_dir: str | os.PathLike[str]) -> None:
        # Absolute: each worker runs in its run's folder.
        self.runs_dir = Path(runs_dir).resolve()
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        #: The listing's last reading of each run: (its files' stamp, the entry).
        self._listed: dict[str, tuple[tuple[int, ...], dict[str, Any]]] = {}
        # Held over every read-change-write of a run.json the manager does,
        # and over starting, cancelling and resuming.
        self._lock = threading.RLock()
        self._recover()

    # ---- paths ----

    def folder(self, run_id: str) -> Path:
        """The run's folder, refused unless it is a folder directly under
        ``runs_dir`` (a symlink is not a run, as ``runs()`` does not list it)."""
        path = self.runs_dir / check_id(run_id)
        if path.is_symlink() or not (path / "run.json").is_file():
            raise UnknownRun(f"no run {run_id!r}")
        return path

    # ---- reading ----

    def runs(self) -> list[RunRecord]:
        """Every run on disk, newest first; a folder without a readable
        ``run.json`` is not a run and is left out."""
        return [rec for _, rec in self._scan()]

    def listing(self) -> list[dict[str, Any]]:
        """Every run newest first, each record with its :func:`record.progress`
        and its checkpoints' names, oldest first.
        A run whose files did not change since the last listing is not read
        again (two ``stat`` calls tell): the Runs panel asks every few seconds."""
        out = []
        seen = set()
        with os.scandir(self.runs_dir) as entries:
            for entry in entries:
                if not entry.is_dir(follow_symlinks=False) or not record.RUN_ID.fullmatch(
                    entry.name
                ):
                    continue
                folder = Path(entry.path)
                stamp = _stamp(folder)
                if stamp is None:
                    continue
                seen.add(entry.name)
                cached = self._listed.get(entry.name)
                if cached is None or cached[0] != stamp:
                    try:
                        rec = record.read(folder)
                    except RunError:
                        continue
                    shown = {
                        **rec.to_dict(),
                        "progress": record.progress(folder),
                        "checkpoints": [p.name for p in reversed(checkpoints(folder))],
                    }
                    cached = (stamp, shown)
                    self._listed[entry.name] = cached
                out.append(cached[1])
        for gone in self._listed.keys() - seen:
            self._listed.pop(gone, None)
        return sorted(out, key=lambda r: r["created"], reverse=True)

    def _scan(self) -> list[tuple[Path, RunRecord]]:
        out = []
        with os.scandir(self.runs_dir) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False) and record.RUN_ID.fullmatch(entry.name):
                    try:
                        out.append((Path(entry.path), record.read(Path(entry.path))))
                    except RunError:
                        continue
        return sorted(out, key=lambda pair: pair[1].created, reverse=True)

    def get(self, run_id: str) -> RunRecord:
        return record.read(self.folder(run_id))

    def events(self, run_id: str, *, start: int = 0) -> tuple[list[dict[str, Any]], int]:
        """Events from line ``start`` on, and the line to read from next."""
        return record.events(self.folder(run_id), start=start)

    def logs(self, run_id: str, *, tail: int = 20_000) -> str:
        """The last ``tail`` characters of the worker's output."""
        path = self.folder(run_id) / "log.txt"
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        except FileNotFoundError:
            return ""
        except OSError as e:
            raise RunError(f"run {run_id}: its log cannot be read ({e.strerror})") from None
        with os.fdopen(fd, "rb") as f:
            f.seek(max(0, os.fstat(fd).st_size - tail))
            return f.read().decode(errors="replace")

    def read_file(self, run_id: str, name: str) -> bytes:
        """A file of the run's folder by its relative path (``conductor.pt``,
        ``<pack>.csv``, ``checkpoints/conductor-<steps>.pt``): no ``..``, no
        absolute path, no symbolic link anywhere on the way."""
        folder = self.folder(run_id)
        parts = name.split("/")
        bad = not name or name.startswith("/") or "\0" in name
        if bad or any(p in ("", ".", "..") for p in parts):
            raise RunError(f"not a file name inside a run: {name!r}")
        path = folder
        for part in parts:
            path = path / part
            if path.is_symlink():
                raise RunError(f"run {run_id}: {name!r} goes through a symbolic link")
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        except (FileNotFoundError, NotADirectoryError):
            raise UnknownRun(f"run {run_id} has no file {name!r}") from None
        except OSError as e:
            raise RunError(f"run {run_id}: {name!r} cannot be read ({e.strerror})") from None
        if not stat.S_ISREG(os.fstat(fd).st_mode):  # a folder opens too
            os.close(fd)
            raise RunError(f"run {run_id}: {name!r} is not a file")
        with os.fdopen(fd, "rb") as f:
            return f.read()

    # ---- starting and stopping ----

    def start(self, kind: str, params: dict[str, Any] | None = None) -> RunRecord:
        """Checks ``params``, writes the run's record and starts its worker."""
        checked = check(kind, {} if params is None else params, self.runs_dir)
        run_id = time.strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(3)
        rec = RunRecord(
            id=run_id,
            kind="train" if kind == "train" else "eval",
            params=checked,
            provenance=provenance(),
        )
        folder = self.runs_dir / run_id
        folder.mkdir()
        record.write(folder, rec)
        return self._spawn(folder, rec)

    def resume(self, run_id: str) -> RunRecord:
        """Takes an interrupted (or failed, or cancelled) training run on
        from its last complete checkpoint, in the same folder."""
        folder = self.folder(run_id)
        with self._lock:
            rec = record.read(folder)
            if rec.kind != "train":
                raise RunError(f"run {run_id} is an evaluation: start it again instead")
            if rec.status not in FINISHED - {"done"}:
                raise RunError(
                    f"run {run_id} is {rec.status}: only an ended, unfinished run resumes"
                )
            if not checkpoints(folder):
                raise RunError(f"run {run_id} has no checkpoint to resume from")
            rec.params = {**rec.params, "resume": True}
            rec.status, rec.error = "queued", ""
            rec.pid = rec.started = rec.ended = None
            record.write(folder, rec)
            return self._spawn(folder, rec)

    def cancel(self, run_id: str) -> RunRecord:
        """SIGTERM to the run's worker (it records ``cancelled``), SIGKILL
        after ``CANCEL_GRACE_S``; an ended run is left as it is."""
        folder = self.folder(run_id)
        rec = record.read(folder)
        if rec.status in FINISHED:
            return rec
        with self._lock:
            # Taken from the follower thread: this call records the end.
            proc = self._procs.pop(run_id, None)
        if proc is not None:
            _signal(proc.pid, signal.SIGTERM)
            try:
                proc.wait(CANCEL_GRACE_S)
            except subprocess.TimeoutExpired:
                _signal(proc.pid, signal.SIGKILL)
                proc.wait()
            self._ended(folder, proc.returncode, cancelled=True)
        elif (pid := rec.pid or _spawned(folder)) and _alive(pid) and _is_worker(pid, folder):
            _signal(pid, signal.SIGTERM)  # a worker a previous server started
        return record.read(folder)

    def close(self) -> None:
        """Stops following the workers; they run on (a server restart)."""
        with self._lock:
            self._procs.clear()

    # ---- supervision ----

    def _spawn(self, folder: Path, rec: RunRecord) -> RunRecord:
        log = (folder / "log.txt").open("ab")
        try:
            proc = subprocess.Popen(
                # -P: the run's folder is the working directory, not a place to import from.
                [sys.executable, "-P", "-m", "symphony_lab.runs.worker", str(folder)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                cwd=folder,
            )
        finally:
            log.close()
        # The worker records itself (running, its pid) once it starts; the
        # record is written by one process at a time, never both. Until then,
        # worker.pid (the manager's alone) says which process it is.
        (folder / "worker.pid").write_text(str(proc.pid))
        with self._lock:
            self._procs[rec.id] = proc
        threading.Thread(
            target=self._follow, args=(folder, rec.id, proc), name=f"run-{rec.id}", daemon=True
        ).start()
        return record.read(folder)

    def _follow(self, folder: Path, run_id: str, proc: subprocess.Popen[bytes]) -> None:
        code = proc.wait()
        with self._lock:
            if self._procs.get(run_id) is not proc:
                return  # cancel() or close() took it over
            del self._procs[run_id]
            self._ended(folder, code)

    def _ended(self, folder: Path, code: int, *, cancelled: bool = False) -> None:
        """Records an end the worker could not record itself."""
        with self._lock:
            rec = record.read(folder)
            if rec.status in FINISHED:
                return
            if cancelled:
                rec.status = "cancelled"
            else:
                rec.status = "failed"
                rec.error = (
                    f"the worker was killed by {_signal_name(-code)}"
                    if code < 0
                    else f"the worker exited with status {code} before recording an end"
                )
            rec.ended = time.time()
            record.write(folder, rec)

    def _recover(self) -> None:
        """Runs left running or queued by a previous manager: interrupted
        when their worker is gone."""
        for rec in self.runs():
            if rec.status in FINISHED:
                continue
            folder = self.runs_dir / rec.id
            pid = rec.pid if rec.pid is not None else _spawned(folder)
            if pid is not None and _alive(pid) and _is_worker(pid, folder):
                # Still running, started before this manager: not our child,
                # so it is watched by its pid until it is gone.
                threading.Thread(
                    target=self._watch, args=(folder, pid), name=f"run-{rec.id}", daemon=True
                ).start()
                continue
            rec.status = "interrupted"
            rec.error = "the worker was gone when the run service started"
            rec.ended = time.time()
            record.write(folder, rec)

    def _watch(self, folder: Path, pid: int) -> None:
        """Waits for a worker this manager did not start; one that ended
        without recording its end (killed) is recorded as failed."""
        while _alive(pid) and _is_worker(pid, folder):
            time.sleep(WATCH_S)
        with self._lock:
            rec = record.read(folder)
            if rec.status in FINISHED or rec.pid not in (pid, None):
                return
            rec.status = "failed"
            rec.error = "the worker ended without recording an end (killed?)"
            rec.ended = time.time()
            record.write(folder, rec)


def _stamp(folder: Path) -> tuple[int, ...] | None:
    """What changes when a run's record or events do (``run.json`` is
    replaced whole, ``events.jsonl`` only grows); None when not a run."""
    try:
        rec = os.stat(folder / "run.json")
    except OSError:
        return None
    try:
        ev = os.stat(folder / "events.jsonl")
        events = (ev.st_mtime_ns, ev.st_size)
    except OSError:
        events = (0, -1)
    return (rec.st_ino, rec.st_mtime_ns, rec.st_size, *events)


def _spawned(folder: Path) -> int | None:
    """The pid of the worker a manager started for ``folder``, if recorded."""
    try:
        return int((folder / "worker.pid").read_text())
    except (OSError, ValueError):
        return None


def _signal(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, sig)  # the worker leads its own session: its children go too


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _is_worker(pid: int, folder: Path) -> bool:
    """Whether ``pid`` is the worker of ``folder`` (not a process that took
    its pid since)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"symphony_lab.runs.worker" in cmdline and os.fsencode(folder) in cmdline


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"
