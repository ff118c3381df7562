"""Goal runs on the shipped extensions, really called: a trained Conductor
beside the exact planner (its peer), goal by goal, in one process.

Each goal starts from files made in a temporary folder (a CSV, a text, a git
repository with a change). Printed per goal and agent: solved, calls, failed
and wasted calls (a call the goal's artifacts did not come from), and cost;
then the totals and the Conductor's cost over the planner's.

The Conductor is ``--checkpoint`` (e.g. ``runs/<stamp>/conductor.pt`` from
``./lab run``), or one trained here on the medium pack first.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from measured import record

from symphony_lab.conductor import Conductor
from symphony_lab.planning import Planner, Policy
from symphony_lab.stage import Stage

Goal = tuple[list[str], dict[str, Any], dict[str, dict[str, Any]]]


def goals(folder: Path) -> dict[str, Goal]:
    """Name -> (goal kinds, inputs, extra arguments per function)."""
    folder.mkdir()
    csv = folder / "people.csv"
    csv.write_text("name,age,city\nada,36,london\nalan,41,wilmslow\ngrace,85,arlington\n")
    txt = folder / "notes.txt"
    txt.write_text("the conductor chooses each call\nthe planner knows the numbers\n")
    repo = folder / "repo"
    repo.mkdir()
    git = ["git", "-C", str(repo), "-c", "user.name=bench", "-c", "user.email=b@e"]
    subprocess.run([*git, "init", "-q"], check=True)
    (repo / "a.txt").write_text("one\n")
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "first"], check=True)
    (repo / "a.txt").write_text("one\ntwo\n")
    commit = {"git.commit": {"message": "bench", "add_all": True, "author_name": "bench",
                             "author_email": "b@e"}}  # fmt: skip
    texts = ["good film", "great acting", "bad plot", "awful sound", "good sound", "bad acting"]
    labels = ["pos", "pos", "neg", "neg", "pos", "neg"]
    return {
        "records of a CSV": (["records"], {"path": str(csv)}, {}),
        "words of a text": (["texts"], {"path": str(txt)}, {}),
        "records and words": (["records", "texts"], {"path": str(csv)}, {}),
        "embeddings of a text": (["embeddings"], {"path": str(txt)}, {}),
        "similarity": (["similarity"], {"path": str(txt)}, {}),
        "status of a repo": (["git-status"], {"path": str(repo)}, {}),
        "diff of a repo": (["diff"], {"path": str(repo)}, {}),
        "commit a change": (["commit"], {"path": str(repo)}, commit),
        "text files": (["paths"], {"path": str(folder)}, {"files.glob": {"pattern": "*.txt"}}),
        "a classifier": (["classifier"], {"texts": texts, "labels": labels}, {}),
    }


def run(stage: Stage, policy: Policy, goal: Goal) -> dict[str, Any]:
    kinds, inputs, extra = goal
    start = time.perf_counter()
    perf = stage.perform(kinds, inputs, policy=policy, args=extra, retries=0)
    row = perf.summary()
    row["wall_s"] = time.perf_counter() - start
    row["path"] = " > ".join(s.target for s in perf.steps)
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, help="a saved Conductor (else one is trained)")
    parser.add_argument("--steps", type=int, default=8192, help="PPO steps when training here")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    if args.checkpoint:
        conductor = Conductor.load(args.checkpoint)
    else:
        start = time.perf_counter()
        conductor = Conductor(seed=0).train(
            "medium", total_steps=args.steps, pretrain="expert", threads=1
        )
        print(f"trained a Conductor on the medium pack in {time.perf_counter() - start:.0f} s")
    agents: dict[str, Policy] = {"conductor": conductor, "planner": Planner()}
    rows = []
    with (
        tempfile.TemporaryDirectory() as tmp,
        Stage(
            builtin=True,
            store=Path(tmp) / "store",
            # The goals' files are there: the sandbox lets them reach it.
            grants={name: {"read": [tmp], "write": [tmp]} for name in ("files", "tables", "git")},
        ) as stage,
    ):
        # Each agent gets files of its own: a commit changes the repository.
        fixtures = {agent: goals(Path(tmp, agent)) for agent in agents}
        for name in fixtures["planner"]:
            for agent, policy in agents.items():
                row = run(stage, policy, fixtures[agent][name])
                rows.append({**row, "name": name, "agent": agent})
    print(f"{'goal':22s} {'agent':10s} solved calls failed wasted   cost  path")
    for r in rows:
        print(
            f"{r['name']:22s} {r['agent']:10s} {r['solved']!s:6s} {r['calls']:5d} "
            f"{r['failed_calls']:6d} {r['wasted_calls']:6d} {r['cost']:6.2f}  {r['path']}"
        )
    totals = {}
    for agent in agents:
        mine = [r for r in rows if r["agent"] == agent]
        totals[agent] = {
            "solved": sum(r["solved"] for r in mine) / len(mine),
            "cost": sum(r["cost"] for r in mine),
            "failed": sum(r["failed_calls"] for r in mine),
            "wasted": sum(r["wasted_calls"] for r in mine),
        }
        t = totals[agent]
        print(
            f"{agent:10s} solved {t['solved']:.0%} of {len(mine)} goals, total cost "
            f"{t['cost']:.2f}, failed calls {t['failed']}, wasted calls {t['wasted']}"
        )
    ratio = totals["conductor"]["cost"] / totals["planner"]["cost"]
    print(f"conductor / planner, total cost: {ratio:.3f}x")
    record("real_runs", {"goals": len(fixtures["planner"]), "totals": totals}, parser, args)
    return 0 if totals["conductor"]["solved"] >= totals["planner"]["solved"] else 1


if __name__ == "__main__":
    sys.exit(main())
