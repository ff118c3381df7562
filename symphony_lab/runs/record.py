"""A run on disk: ``<runs_dir>/<id>/run.json`` beside what the run writes.

One folder per run, whoever started it (the Jupyter server's run service or
a terminal)::

    <id>/run.json          this record: kind, parameters, status, provenance
    <id>/events.jsonl      one JSON object per line: training rows, evaluations
    <id>/log.txt           the worker's output
    <id>/checkpoints/      conductor-<steps>.pt, written every checkpoint_every steps
    <id>/conductor.pt      the trained Conductor (training runs)
    <id>/<pack>.csv        one row per episode (evaluations)

``run.json`` is replaced atomically (written beside, then renamed), so a
reader never sees half of it.
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

Status = Literal["queued", "running", "done", "failed", "cancelled", "interrupted"]
Kind = Literal["train", "eval"]
STATUSES: tuple[Status, ...] = ("queued", "running", "done", "failed", "cancelled", "interrupted")
#: A run that ended one way or another.
FINISHED: frozenset[str] = frozenset({"done", "failed", "cancelled", "interrupted"})
RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


class RunError(ValueError):
    """A run, its parameters or its record is not what it should be."""


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
        return asdict(self)

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
    if not isinstance(run_id, str) or not RUN_ID.match(run_id) or run_id in (".", ".."):
        raise RunError(f"not a run id: {run_id!r} (letters, digits, '.', '_', '-')")
    return run_id


def read(folder: Path) -> RunRecord:
    path = folder / "run.json"
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise RunError(f"no run at {folder} (no run.json)") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise RunError(f"{path}: not JSON ({e})") from None
    return RunRecord.from_dict(data, str(path))


def write(folder: Path, record: RunRecord) -> None:
    """Replaces ``run.json`` atomically."""
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".run.json.{os.getpid()}"
    tmp.write_text(json.dumps(record.to_dict(), indent=1, sort_keys=True))
    os.replace(tmp, folder / "run.json")


def events(folder: Path, *, start: int = 0) -> list[dict[str, Any]]:
    """The run's events from line ``start`` on; a last line still being
    written (no newline yet) is left for the next read."""
    path = folder / "events.jsonl"
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    lines = data.split(b"\n")[:-1]  # the last piece has no newline: unfinished
    return [json.loads(line) for line in lines[start:] if line.strip()]


def append_event(folder: Path, event: dict[str, Any]) -> None:
    """One line, written whole (O_APPEND) so readers see it or nothing."""
    line = (json.dumps(event, allow_nan=True) + "\n").encode()
    fd = os.open(folder / "events.jsonl", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)
