"""Baseline policies, with the interface the Conductor will have: a policy
is called with the environment's observation and action mask, and (being
baselines, allowed to look at the level itself) the environment.

- ``RandomPolicy``: a uniformly random legal call.
- ``GreedyPolicy``: the cheapest legal call that produces a needed kind not held.
- ``RelaxedPlanPolicy``: the legal call minimising its cost plus the h_add
  cost-to-goal (delete relaxation) of the state after it.

A call's cost here is what it costs now: its cost plus its warm-up if cold.
- ``ExactReplanningPolicy``: the first call of the exact solver's plan from
  the current state, replanned after every call (so after every failure).
"""

from __future__ import annotations

import math
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from function_quest.env import FunctionQuestEnv
from function_quest.level import Level
from function_quest.scoring import Score, score
from function_quest.solver import solve

Observation = dict[str, npt.NDArray[Any]]


class Policy(Protocol):
    def __call__(
        self, obs: Observation, mask: npt.NDArray[np.bool_], env: FunctionQuestEnv
    ) -> int: ...


def _legal(mask: npt.NDArray[np.bool_], env: FunctionQuestEnv) -> list[int]:
    return [a for a in np.flatnonzero(mask) if env.legal_actions()[a]] or list(np.flatnonzero(mask))


def _progressing(mask: npt.NDArray[np.bool_], env: FunctionQuestEnv) -> list[int]:
    """Legal calls that make a kind not yet held; all legal calls if none do.
    (A call that makes nothing new can only look good to h_add, which
    overestimates, so the relaxed greedy would otherwise idle on it.)"""
    held = env.held_kinds()
    legal = _legal(mask, env)
    return [a for a in legal if not set(env.level.functions[a].produces) <= held] or legal


class RandomPolicy:
    def __init__(self, seed: int | None = None) -> None:
        self.rng = np.random.default_rng(seed)

    def __call__(self, obs: Observation, mask: npt.NDArray[np.bool_], env: FunctionQuestEnv) -> int:
        return int(self.rng.choice(np.flatnonzero(mask)))


def needed_kinds(level: Level) -> set[str]:
    """Kinds that matter for the essential goals: the goals, and what any
    function producing a needed kind needs, to a fixed point."""
    needed = set(level.essential)
    changed = True
    while changed:
        changed = False
        for f in level.functions:
            if set(f.produces) & needed and not f.needs <= needed:
                needed |= f.needs
                changed = True
    return needed


def call_cost(env: FunctionQuestEnv, a: int, warm: set[str]) -> float:
    """What calling function ``a`` costs now: its cost, plus its warm-up if cold."""
    f = env.level.functions[a]
    return f.cost + (0.0 if f.name in warm else f.warmup)


class GreedyPolicy:
    def __call__(self, obs: Observation, mask: npt.NDArray[np.bool_], env: FunctionQuestEnv) -> int:
        level = env.level
        held = env.held_kinds()
        warm = env.warm_functions()
        missing = needed_kinds(level) - held
        legal = _progressing(mask, env)
        useful = [a for a in legal if set(level.functions[a].produces) & missing]
        pool = useful or legal
        return min(pool, key=lambda a: (call_cost(env, a, warm), a))


def h_add(level: Level, held: set[str]) -> float:
    """Sum over the missing essential kinds of their cheapest relaxed cost
    (consumption ignored, costs of shared needs counted again: h_add)."""
    cost = {k: 0.0 for k in held}
    changed = True
    while changed:
        changed = False
        for f in level.functions:
            if not all(k in cost for k in f.needs):
                continue
            c = f.cost + sum(cost[k] for k in f.needs)
            for k in f.produces:
                if c < cost.get(k, math.inf):
                    cost[k] = c
                    changed = True
    return sum(cost.get(k, math.inf) for k in level.essential if k not in held)


class RelaxedPlanPolicy:
    def __call__(self, obs: Observation, mask: npt.NDArray[np.bool_], env: FunctionQuestEnv) -> int:
        level = env.level
        held = env.held_kinds()
        warm = env.warm_functions()

        def value(a: int) -> tuple[float, int]:
            f = level.functions[a]
            after = (held - set(f.consumes)) | set(f.produces)
            return call_cost(env, a, warm) + h_add(level, after), a

        return min(_progressing(mask, env), key=value)


class ExactReplanningPolicy:
    def __call__(self, obs: Observation, mask: npt.NDArray[np.bool_], env: FunctionQuestEnv) -> int:
        level = env.level
        plan = solve(
            level,
            held=env.held_kinds(),
            warm=env.warm_functions(),
            budget=level.budget - env.spent,
        )
        if plan is None or not plan.calls:
            return GreedyPolicy()(obs, mask, env)
        return [f.name for f in level.functions].index(plan.calls[0])


def run_episode(env: FunctionQuestEnv, policy: Policy, *, seed: int | None = None) -> Score:
    """Plays one episode; scores it against the exact solver's plan."""
    obs, _ = env.reset(seed=seed)
    terminated = truncated = False
    while not (terminated or truncated):
        obs, _, terminated, truncated, _ = env.step(policy(obs, env.action_masks(), env))
    plan = solve(env.level)
    if plan is None:
        return Score(False, 0.0, float("inf"))
    return score(
        solved=terminated,
        calls=len(env.calls),
        cost=env.spent,
        optimal_calls=len(plan.calls),
        optimal_cost=plan.cost,
    )
