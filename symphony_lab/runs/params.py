"""A run's parameters, checked field by field before any process starts.

Light on purpose: the Jupyter server imports it, and PyTorch loads only in
the workers."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from symphony_lab.runs.record import RunError

#: Training: field -> (type, default). ``env``: a tier (its train pack),
#: ``split-tier``, or a gymnasium id.
TRAIN: dict[str, tuple[type, Any]] = {
    "env": (str, "medium"),
    "steps": (int, 30_000),
    "seed": (int, 0),
    "pretrain": (bool, True),
    "pretrain_episodes": (int, 2000),
    "checkpoint_every": (int, 5_000),
    "n_envs": (int, 8),
    "threads": (int, 1),
    "resume": (bool, False),
    #: Held-out packs to evaluate the trained Conductor on, beside the baselines.
    "packs": (list, []),
}
#: Evaluation: ``checkpoint`` is a path (inside the runs folder when relative).
EVAL: dict[str, tuple[type, Any]] = {
    "checkpoint": (str, None),
    "packs": (list, ["test-medium"]),
    "episodes": (int, None),
    "seed": (int, 0),
}
#: A pack or level name: no separators, so it names a file in the run's folder.
PACK = re.compile(r"[A-Za-z0-9][\w.:-]{0,99}")
#: Fields that must be at least 1 when given.
POSITIVE = ("steps", "pretrain_episodes", "checkpoint_every", "n_envs", "threads", "episodes")


def check(kind: str, params: Any, runs_dir: Path) -> dict[str, Any]:
    """``params`` with defaults filled in; ``RunError`` names the first
    field that is unknown, of the wrong type or out of range."""
    if kind not in ("train", "eval"):
        raise RunError(f"kind must be 'train' or 'eval', got {kind!r}")
    if not isinstance(params, dict):
        raise RunError(f"params must be an object, got {type(params).__name__}")
    schema = TRAIN if kind == "train" else EVAL
    unknown = sorted(set(params) - set(schema))
    if unknown:
        raise RunError(f"unknown {kind} parameters {unknown}; known: {sorted(schema)}")
    out: dict[str, Any] = {}
    for name, (typ, default) in schema.items():
        value = params.get(name, default)
        if value is None and default is None and name != "checkpoint":
            out[name] = None
            continue
        if value is None:
            raise RunError(f"{name}: required")
        # bool is an int in Python; neither may stand for the other here.
        if not isinstance(value, typ) or (typ is int and isinstance(value, bool)):
            raise RunError(f"{name}: expected {typ.__name__}, got {value!r}")
        if name in POSITIVE and isinstance(value, int) and value < 1:
            raise RunError(f"{name}: must be >= 1, got {value}")
        out[name] = value
    if out["packs"] and not all(isinstance(p, str) and PACK.fullmatch(p) for p in out["packs"]):
        raise RunError(f"packs: expected a list of pack names, got {out['packs']!r}")
    if kind == "eval":
        if not out["packs"] or not all(
            isinstance(p, str) and PACK.fullmatch(p) for p in out["packs"]
        ):
            raise RunError(f"packs: expected a non-empty list of pack names, got {out['packs']!r}")
        out["checkpoint"] = str(inside(runs_dir, out["checkpoint"]))
    elif not re.match(r"^[\w:.\-/]+$", out["env"]):
        raise RunError(f"env: not a tier, pack or gymnasium id: {out['env']!r}")
    return out


def inside(root: Path, name: str) -> Path:
    """``name`` (relative to ``root``) resolved, refused unless strictly
    inside ``root``: no ``..``, no symlink out, no sibling such as ``runs-x``."""
    base = root.resolve()
    try:
        path = (base / name).resolve()
    except (OSError, ValueError, RuntimeError) as e:  # a NUL, too long, a symlink loop
        raise RunError(f"checkpoint: {name!r} is not a usable path ({e})") from None
    if not path.is_relative_to(base) or path == base:
        raise RunError(f"checkpoint: {name!r} is not inside the runs folder")
    if not path.is_file():
        raise RunError(f"checkpoint: no file {name!r} in the runs folder")
    return path


def checkpoints(folder: Path) -> list[Path]:
    """A run's checkpoints, newest (most steps) first."""
    found = []
    for path in (folder / "checkpoints").glob("conductor-*.pt"):
        m = re.match(r"conductor-(\d+)\.pt$", path.name)
        if m:
            found.append((int(m.group(1)), path))
    return [path for _, path in sorted(found, reverse=True)]
