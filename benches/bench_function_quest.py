"""Function Quest: environment steps per second against CartPole, and solver time.

- Steps/s with a random masked policy (``action_masks()`` then a uniform legal
  call, as MaskablePPO's rollout does), on one environment and on a
  ``gymnasium.make_vec`` sync vector of 8; peer in the same run: gymnasium's
  ``CartPole-v1`` raw step rate with random actions. Target: ours >= 0.5x.
- The exact solver's median time per shipped level.

Until the level generator lands, the levels are the shipped ones
(``software_delivery`` is the medium-sized one).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import function_quest as fq
import gymnasium as gym
import numpy as np
from function_quest.env import FunctionQuestEnv

TARGET = 0.5


def fq_rate(steps: int, seed: int = 0) -> float:
    env = FunctionQuestEnv(fq.load("software_delivery"))
    rng = np.random.default_rng(seed)
    env.reset(seed=seed)
    start = time.perf_counter()
    for _ in range(steps):
        action = int(rng.choice(np.flatnonzero(env.action_masks())))
        _, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            env.reset()
    return steps / (time.perf_counter() - start)


def fq_vec_rate(steps: int, n: int = 8, seed: int = 0) -> float:
    envs = gym.make_vec(
        "function_quest:FunctionQuest-v0",
        num_envs=n,
        vectorization_mode="sync",
        levels=fq.load("software_delivery"),
    )
    rng = np.random.default_rng(seed)
    envs.reset(seed=seed)
    inner = envs.unwrapped.envs  # type: ignore[attr-defined]

    def pick(env: gym.Env) -> int:
        legal = np.flatnonzero(env.unwrapped.action_masks())  # type: ignore[attr-defined]
        # An episode that just ended has no legal call; the vector resets it.
        return int(rng.choice(legal)) if legal.size else 0

    start = time.perf_counter()
    for _ in range(steps // n):
        envs.step(np.array([pick(e) for e in inner]))
    rate = (steps // n) * n / (time.perf_counter() - start)
    envs.close()
    return rate


def cartpole_rate(steps: int, seed: int = 0) -> float:
    env = gym.make("CartPole-v1").unwrapped
    rng = np.random.default_rng(seed)
    env.reset(seed=seed)
    start = time.perf_counter()
    for _ in range(steps):
        _, _, terminated, truncated, _ = env.step(int(rng.integers(2)))
        if terminated or truncated:
            env.reset()
    return steps / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)

    rates: dict[str, list[float]] = {
        "function quest": [],
        "function quest, vec 8": [],
        "CartPole-v1": [],
    }
    for _ in range(args.repeat):
        rates["function quest"].append(fq_rate(args.steps))
        rates["function quest, vec 8"].append(fq_vec_rate(args.steps))
        rates["CartPole-v1"].append(cartpole_rate(args.steps))
    med = {k: statistics.median(v) for k, v in rates.items()}
    print(f"Steps per second, random masked policy, median of {args.repeat}")
    for k, v in med.items():
        print(f"  {k:22s} {v:10,.0f} steps/s")
    ratio = med["function quest"] / med["CartPole-v1"]
    ok = ratio >= TARGET
    print(
        f"  [{'PASS' if ok else 'FAIL'}] function quest / CartPole = {ratio:.2f}x"
        f" (target >= {TARGET}x)"
    )

    print("\nExact solver, median of 20 solves")
    for name in fq.LEVELS:
        level = fq.load(name)
        times = []
        for _ in range(20):
            start = time.perf_counter()
            fq.solve(level)
            times.append(time.perf_counter() - start)
        print(f"  {name:20s} {statistics.median(times) * 1e3:8.2f} ms")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
