"""One episode played by the Conductor and kept for a replay: each call
with the reason for it (the probabilities the policy gave the functions it
could call, the critic's value, the call the env's expert would make), and
the episode's DAG of calls as the page draws it."""

from __future__ import annotations

import json
import math
import sys
from typing import Any

import numpy as np
import torch

from symphony_lab.conductor.conductor import Conductor
from symphony_lab.conductor.envs import EnvSpec
from symphony_lab.pit.dag_drawing import drawing

#: Alternatives kept per call.
TOP = 4


def record_episode(
    conductor: Conductor, env: EnvSpec, *, scenario: int = 0, seed: int = 0
) -> dict[str, Any]:
    """Plays scenario ``scenario`` of ``env`` (Function Quest: its level of
    that index) as :meth:`Conductor.decide` would, and returns ``level``,
    ``score`` (the env's report), ``steps`` (per call: ``call``, ``reward``,
    ``probabilities`` as ``[name, p]`` best first, ``value``, ``expert``)
    and ``graph`` (the DAG of calls, :func:`symphony_lab.pit.dag_drawing.drawing`;
    None when the env keeps none)."""
    made = conductor.make_env(env, solve_optimal=True)
    try:
        game: Any = made.unwrapped
        scenarios = game.scenarios() if hasattr(game, "scenarios") else [None]
        options = scenarios[scenario % len(scenarios)]
        obs, _ = made.reset(seed=seed, options=options)
        names: list[str] = list(game.problem.names) if hasattr(game, "problem") else []
        name = (lambda i: names[i]) if names else str
        steps: list[dict[str, Any]] = []
        info: dict[str, Any] = {}
        done = False
        while not done:
            mask = game.action_masks()
            probabilities, value = conductor.explain(obs, mask)
            action = int(np.argmax(probabilities))
            expert = game.expert_action() if hasattr(game, "expert_action") else None
            best = np.argsort(-probabilities, kind="stable")[:TOP]
            obs, reward, terminated, truncated, info = made.step(action)
            done = terminated or truncated
            steps.append(
                {
                    "call": name(action),
                    "reward": float(reward),
                    "probabilities": [
                        [name(int(i)), round(float(probabilities[i]), 4)]
                        for i in best
                        if probabilities[i] > 0
                    ],
                    "value": round(value, 4),
                    "expert": None if expert is None else name(int(expert)),
                }
            )
        graph = None
        if hasattr(game, "dag"):
            dag = game.dag()
            graph = drawing(dag, height=360)
            # Named by call: "3: fetch_data" (a task's payload is its function).
            graph["keys"] = [f"{k}: {dag.payload(int(k)).decode()}" for k in graph["keys"]]
        # JSON has no infinity (an unsolved level's cost ratio): None.
        score = {
            k: None if isinstance(v, float) and not math.isfinite(v) else v
            for k, v in info.get("score", {}).items()
        }
        return {"level": score.get("level"), "score": score, "steps": steps, "graph": graph}
    finally:
        made.close()


def main(argv: list[str]) -> int:
    """``python -m symphony_lab.conductor.episode <checkpoint> <env> [scenario]``:
    the episode as JSON on stdout (the Lab's Quest view asks for it so, so
    that PyTorch loads in a process of its own, not in the server)."""
    if len(argv) not in (2, 3):
        print(main.__doc__, file=sys.stderr)
        return 2
    torch.set_num_threads(1)
    conductor = Conductor.load(argv[0])
    episode = record_episode(conductor, argv[1], scenario=int(argv[2]) if len(argv) == 3 else 0)
    json.dump(episode, sys.stdout, allow_nan=False)
    return 0


__all__ = ["TOP", "record_episode"]

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
