"""A run on disk: ``<runs_dir>/<id>/run.json`` beside what the run writes.

One folder per run, whoever started it (the Jupyter server's run service or
a terminal)::

    <id>/run.json          this record: kind, parameters, status, provenance
    <id>/events.jsonl      one JSON object per line: training rows, evaluations
    <id>/log.txt           the worker's output
    <id>/worker.pid        the worker's pid, from the manager that started it
    <id>/checkpoints/      conductor-<steps>.pt, written every checkpoint_every steps
    <id>/conductor.pt      the trained Conductor (training runs)
    <id>/<pack>.csv        one row per episode (evaluations)

``run.json`` is replaced atomically (written beside, then renamed), so a
reader never sees half of it.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import tempfile
import time
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

Status = Literal["queued", "running", "done", "failed", "cancelled", "interrupted"]
Kind = Literal["train", "eval"]
STATUSES: tuple[Status, ...] = ("queued", "running", "done", "failed", "cancelled", "interrupted")
#: A run that ended one way or another.
FINISHED: frozenset[str] = frozenset({"done", "failed", "cancelled", "interrupted"})
RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


class RunError(ValueError):
    """A run, its parameters or its record is not what it should be."""


class UnknownRun(LookupError):
    """No run has that id."""


@dataclass
class RunRecord:
    """What ``run.json`` holds."""

    id: str
    kind: Kind
    params: dict[str, Any]
    status: Status = "queued"
    created: float = field(default_factory=time.time)
    started: float | None = None
    ended: float | None = None
    pid: int | None = None
    error: str = ""
    #: What reproduces the run: git commit and dirty state, package versions.
    provenance: dict[str, Any] = field(default_factory=dict)
    #: The run this one resumes, if any.
    resumed_from: str | None = None

    def to_dict(self) -> dict[str, Any]:
        # Shallow: asdict() deep-copies every value, a third of a listing's time.
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, data: Any, source: str = "run.json") -> RunRecord:
        if not isinstance(data, dict):
            raise RunError(f"{source}: expected a JSON object, got {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise RunError(f"{source}: unknown fields {unknown}")
        for name in ("id", "kind", "params"):
            if name not in data:
                raise RunError(f"{source}: missing field {name!r}")
        if data["kind"] not in ("train", "eval"):
            raise RunError(f"{source}: kind must be 'train' or 'eval', got {data['kind']!r}")
        if data.get("status", "queued") not in STATUSES:
            raise RunError(f"{source}: status must be one of {STATUSES}, got {data['status']!r}")
        if not isinstance(data["params"], dict):
            raise RunError(f"{source}: params must be an object")
        return cls(**data)


def check_id(run_id: str) -> str:
    """``run_id`` when it names a run folder (no separators, no ``..``)."""
    if not isinstance(run_id, str) or not RUN_ID.fullmatch(run_id) or run_id in (".", ".."):
        raise RunError(f"not a run id: {run_id!r} (letters, digits, '.', '_', '-')")
    return run_id


def read(folder: Path) -> RunRecord:
    path = folder / "run.json"
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise RunError(f"no run at {folder} (no run.json)") from None
    except (OSError, ValueError) as e:  # unreadable, a folder, not UTF-8
        raise RunError(f"{path}: cannot be read ({e})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise RunError(f"{path}: not JSON ({e})") from None
    return RunRecord.from_dict(data, str(path))


def write(folder: Path, record: RunRecord) -> None:
    """Replaces ``run.json`` atomically and durably (a temporary file of its
    own, fsynced, renamed over it)."""
    folder.mkdir(parents=True, exist_ok=True)
    data = json.dumps(finite(record.to_dict()), indent=1, sort_keys=True, allow_nan=False)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".run.json.")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, folder / "run.json")
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def events(folder: Path, *, start: int = 0) -> tuple[list[dict[str, Any]], int]:
    """The run's events from line ``start`` on, and the line to read from
    next. A last line still being written (no newline yet) is left for the
    next read; a line that is not an event (a fragment a full disk left) is
    passed over."""
    path = folder / "events.jsonl"
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return [], start
    lines = data.split(b"\n")[:-1]  # the last piece has no newline: unfinished
    out = []
    for line in lines[start:]:
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict):
            out.append(event)
    return out, max(start, len(lines))


#: How much of the end of ``events.jsonl`` :func:`progress` reads.
PROGRESS_TAIL = 64 * 1024


def progress(folder: Path) -> dict[str, Any]:
    """What a list of runs shows, from the end of ``events.jsonl`` (a listing
    of a thousand runs must not read every event): the last training row
    (``train``: steps, solve rate, cost ratio, ...) and each pack's latest
    evaluation summary (``evals``: pack -> one row per agent). The end read
    grows until it holds a training row (episodes after it are long lines)."""
    path = folder / "events.jsonl"
    train: dict[str, Any] | None = None
    evals: dict[str, Any] = {}
    tail = PROGRESS_TAIL
    try:
        with path.open("rb") as f:
            size = f.seek(0, os.SEEK_END)
            while True:
                f.seek(max(0, size - tail))
                lines = f.read().split(b"\n")[:-1]
                if size > tail:
                    lines = lines[1:]  # the first piece may be the end of a line
                train, evals = _latest(lines)
                if train is not None or tail >= size:
                    break
                tail *= 16
    except FileNotFoundError:
        pass
    return {"train": train, "evals": evals}


def _latest(lines: list[bytes]) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    train: dict[str, Any] | None = None
    evals: dict[str, Any] = {}
    for line in reversed(lines):
        # append_event writes the type first: only the lines wanted are parsed.
        is_train = train is None and line.startswith(b'{"type": "train"')
        if not is_train and not line.startswith(b'{"type": "eval"'):
            continue
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if is_train:
            train = {k: v for k, v in event.items() if k != "type"}
        elif isinstance(event.get("pack"), str):
            evals.setdefault(event["pack"], event.get("summary"))
    return train, evals


def append_event(folder: Path, event: dict[str, Any]) -> None:
    """One line, written whole (O_APPEND) so readers see it or nothing.
    Non-finite numbers are written as null: JSON has no NaN."""
    if "type" in event:  # first, so progress() can tell a line's type from its start
        event = {"type": event["type"], **event}
    line = memoryview((json.dumps(finite(event), allow_nan=False) + "\n").encode())
    fd = os.open(folder / "events.jsonl", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        while line:
            line = line[os.write(fd, line) :]
    finally:
        os.close(fd)


def finite(value: Any) -> Any:
    """``value`` with every NaN or infinity, however deep in dicts and lists,
    made ``None``: JSON has neither, and a figure that does not apply is null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v) for v in value]
    return value
