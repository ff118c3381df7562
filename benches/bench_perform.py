"""One decision of a goal run on the Stage: what the Conductor (and the exact
planner) spend choosing each call, against choosing through a Function Quest
environment built for the decision (how goal runs decided before the Policy
protocol), in one process.

The Stage hosts the shipped extensions; no process is started (a decision
reads the manifests and the extensions' states, not the extensions).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch

from symphony_lab.conductor import Conductor
from symphony_lab.pit import ArtifactStore
from symphony_lab.planning import Planner, Problem
from symphony_lab.stage import Performer, Stage

GOAL = ["embeddings"]
INPUTS = {"path": "/tmp/some.txt"}


def median_us(fn: Callable[[], object], n: int) -> float:
    times = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decisions", type=int, default=500, help="timed decisions per agent")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        # Not entered as a context: that would start the extensions' processes.
        stage = Stage(builtin=True, store=ArtifactStore(Path(tmp) / "store"))
        try:
            _time(stage, args.decisions)
        finally:
            stage.close()
    return 0


def _time(stage: Stage, decisions: int) -> None:
    conductor = Conductor(seed=0)
    performer = Performer(stage)
    problem = Problem(performer.level(GOAL, INPUTS))
    state = performer._state(problem, INPUTS, 0.0)
    level = problem.level
    print(f"a goal run over {len(problem)} functions of the shipped extensions, median of")
    print(f"{decisions} decisions, one thread:")

    def through_an_env() -> int:
        env = conductor.make_env([level], solve_optimal=False)
        obs, _ = env.reset(seed=0)
        return conductor.decide(obs, env.unwrapped.action_masks())

    planner = Planner()
    rows = [
        ("Conductor, Policy protocol", lambda: conductor.choose(problem, state)),
        ("Conductor, an env per decision", through_an_env),
        ("exact planner, Policy protocol", lambda: planner.choose(problem, state)),
        ("state of the run (per decision)", lambda: performer._state(problem, INPUTS, 0.0)),
    ]
    results = {}
    for name, fn in rows:
        fn()  # warm: observers and compiled problems are made once per problem
        results[name] = median_us(fn, decisions)
        print(f"  {name:34s} {results[name]:8.1f} us")
    ours = results["Conductor, Policy protocol"] + results["state of the run (per decision)"]
    peer = results["Conductor, an env per decision"]
    print(f"  Conductor decision (state + choose) / an env per decision = {ours / peer:.2f}x")


if __name__ == "__main__":
    sys.exit(main())
