"""Function Quest: environment steps per second against CartPole, and solver time.

- Steps/s with a random masked policy (``action_masks()`` then a uniform legal
  call, as MaskablePPO's rollout does; the pick indexes the legal calls with
  ``rng.integers``, as CartPole's side draws its action), on one environment and on a
  ``gymnasium.make_vec`` sync vector of 8; peer in the same run: gymnasium's
  ``CartPole-v1`` raw step rate with random actions. Target: ours >= 0.5x.
- The exact solver's median time per tier of generated levels (target: hard
  <= 20 ms), and per tier the relaxed-plan (h_add) greedy's cost over the
  exact optimum, on the levels with failures turned off so that the optimum
  is exact (target >= 1.25x on hard and expert).

Steps/s are measured on the shipped ``software_delivery`` level.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import function_quest as fq
import gymnasium as gym
import numpy as np
from function_quest.baselines import RelaxedPlanPolicy, run_episode
from function_quest.env import FunctionQuestEnv
from function_quest.generator import TIERS, generate
from measured import record

from symphony_lab.planning import Function, Level

TARGET = 0.5


def fq_rate(steps: int, seed: int = 0) -> float:
    env = FunctionQuestEnv(fq.load("software_delivery"))
    rng = np.random.default_rng(seed)
    env.reset(seed=seed)
    start = time.perf_counter()
    for _ in range(steps):
        legal = np.flatnonzero(env.action_masks())
        action = int(legal[rng.integers(legal.size)])
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
        return int(legal[rng.integers(legal.size)]) if legal.size else 0

    start = time.perf_counter()
    for _ in range(steps // n):
        envs.step(np.array([pick(e) for e in inner]))
    rate = (steps // n) * n / (time.perf_counter() - start)
    envs.close()
    return rate


def greedy_ratio(level: Level) -> float:
    """The relaxed-plan greedy's cost over the optimum, failures turned off."""
    sure = Level(
        **{
            **level.__dict__,
            "functions": tuple(Function(**{**f.__dict__, "failure": 0.0}) for f in level.functions),
        }
    )
    env = FunctionQuestEnv(sure, max_steps=500, solve_optimal=False)
    return run_episode(env, RelaxedPlanPolicy(), seed=0).cost_ratio


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
    parser.add_argument("--levels", type=int, default=50, help="generated levels per tier")
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
    ok = bool(ratio >= TARGET)
    print(
        f"  [{'PASS' if ok else 'FAIL'}] function quest / CartPole = {ratio:.2f}x"
        f" (target >= {TARGET}x)"
    )

    print(f"\nGenerated levels, {args.levels} seeds per tier: exact solver, h_add greedy")
    tiers = {}
    for tier in TIERS:
        times, ratios = [], []
        for seed in range(args.levels):
            level = generate(seed, tier)
            start = time.perf_counter()
            plan = fq.solve(level)
            times.append(time.perf_counter() - start)
            ratios.append(greedy_ratio(level))
            assert plan is not None
        median_ms = statistics.median(times) * 1e3
        ratio = statistics.median(ratios)
        marks = []
        if tier == "hard":
            marks.append(f"[{'PASS' if median_ms <= 20 else 'FAIL'}] solve <= 20 ms")
            ok &= median_ms <= 20
        if tier in ("hard", "expert"):
            marks.append(f"[{'PASS' if ratio >= 1.25 else 'FAIL'}] greedy >= 1.25x")
            ok &= ratio >= 1.25
        print(
            f"  {tier:9s} solve median {median_ms:7.2f} ms, max {max(times) * 1e3:7.1f} ms;"
            f" greedy/optimal median {ratio:5.3f}  {'  '.join(marks)}"
        )
        tiers[tier] = {"solve_ms": median_ms, "solve_max_ms": max(times) * 1e3, "greedy": ratio}
    figures = {"steps_per_s": med, "vs_cartpole": med["function quest"] / med["CartPole-v1"],
               "target": TARGET, "tiers": tiers}  # fmt: skip
    record("function_quest", figures, parser, args)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
