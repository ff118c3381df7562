"""One run in its own process: ``python -m symphony_lab.runs.worker <folder>``.

Reads the folder's ``run.json``, marks it running, trains or evaluates as
its parameters say, and records how it ended. Progress goes to
``events.jsonl`` as it happens, so a reader follows the run from the files
alone. SIGTERM (a cancel) ends the run as ``cancelled``; anything raised
ends it as ``failed``, with the error.
"""

from __future__ import annotations

import os
import signal
import sys
import time
import traceback
from pathlib import Path
from types import FrameType
from typing import Any

from symphony_lab.conductor import Conductor, ConductorFileError, Evaluation
from symphony_lab.conductor.episode import record_episode
from symphony_lab.runs import record
from symphony_lab.runs.params import checkpoints


class Cancelled(BaseException):
    """SIGTERM arrived: the run was cancelled. A BaseException, so that no
    library's ``except Exception`` takes it for an error of its own."""


def _cancel(signum: int, frame: FrameType | None) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # once: the end is being recorded
    raise Cancelled


def resumed(folder: Path) -> Conductor:
    """The Conductor of the newest checkpoint that loads whole (one cut
    short by a crash fails its checksum and is passed over)."""
    for path in checkpoints(folder):
        try:
            return Conductor.load(path)
        except ConductorFileError:
            continue
    raise FileNotFoundError(f"no complete checkpoint in {folder / 'checkpoints'}")


def train(folder: Path, p: dict[str, Any]) -> None:
    resume = bool(p.get("resume"))
    conductor = resumed(folder) if resume else Conductor(seed=p["seed"])
    remaining = p["steps"] - conductor.num_timesteps
    if resume:
        record.append_event(folder, {"type": "resumed", "steps": conductor.num_timesteps})
    if remaining > 0:
        conductor.train(
            p["env"],
            total_steps=remaining,
            n_envs=p["n_envs"],
            seed=p["seed"],
            pretrain="expert" if p["pretrain"] and not resume else None,
            pretrain_episodes=p["pretrain_episodes"],
            checkpoint_every=p["checkpoint_every"],
            checkpoint_dir=folder / "checkpoints",
            threads=p["threads"],
            callbacks=[lambda row: record.append_event(folder, {"type": "train", **row})],
        )
    path = conductor.save(folder / "conductor.pt")
    record.append_event(folder, {"type": "saved", "path": path.name})
    for pack in p["packs"]:
        evaluated(folder, pack, conductor.evaluate(pack, seed=p["seed"]), conductor)


def evaluate(folder: Path, p: dict[str, Any]) -> None:
    conductor = Conductor.load(p["checkpoint"])
    for pack in p["packs"]:
        ev = conductor.evaluate(pack, episodes=p["episodes"], seed=p["seed"])
        evaluated(folder, pack, ev, conductor)


def evaluated(folder: Path, pack: str, ev: Evaluation, conductor: Conductor) -> None:
    """Records an evaluation: ``<pack>.csv``, an ``eval`` event with its
    summary, and an ``episode`` event: the Conductor's play of the pack's
    first level, each call with its reason, for the Lab's replay."""
    ev.frame.to_csv(folder / f"{pack}.csv", index=False)
    summary = ev.summary().reset_index().to_dict(orient="records")
    record.append_event(folder, {"type": "eval", "pack": pack, "summary": summary})
    try:
        episode = record_episode(conductor, pack)
    except Exception as e:  # a replay is an extra: the evaluation stands without it
        traceback.print_exc()
        record.append_event(folder, {"type": "note", "message": f"no episode for {pack}: {e!r}"})
        return
    record.append_event(folder, {"type": "episode", "pack": pack, **episode})


def run(folder: Path) -> int:
    rec = record.read(folder)
    rec.status, rec.started, rec.error, rec.pid = "running", time.time(), "", os.getpid()
    record.write(folder, rec)
    signal.signal(signal.SIGTERM, _cancel)
    try:
        (train if rec.kind == "train" else evaluate)(folder, rec.params)
        rec.status = "done"
    except Cancelled:
        rec.status = "cancelled"
    except BaseException as e:
        rec.status = "failed"
        rec.error = f"{type(e).__name__}: {e}"
        traceback.print_exc()
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    rec.ended = time.time()
    record.write(folder, rec)
    return 0 if rec.status == "done" else 1


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m symphony_lab.runs.worker <run folder>")
    sys.exit(run(Path(sys.argv[1])))
