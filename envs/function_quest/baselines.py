"""Baseline policies, with the interface the Conductor will have: a policy
is called with the environment's observation and action mask, and (being
baselines, allowed to look at the level itself) the environment.

- ``RandomPolicy``: a uniformly random legal call.
- ``GreedyPolicy``: the cheapest legal call that produces a needed kind not held.
- ``RelaxedPlanPolicy``: the legal call minimising its cost plus the h_add
  cost-to-goal (delete relaxation) of the state after it.

A call's cost here is what it costs now: its cost plus its warm-up if cold.
- ``ExactReplanningPolicy``: the first call of the exact solver's plan from
  the current state, replanned after every call (so after every failure);
  with ``expected_costs=True``, planned on expected costs.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from function_quest.env import FunctionQuestEnv
from function_quest.level import Level, needed_kinds
from function_quest.scoring import Score, score
from function_quest.solver import Compiled, expected_costs, solve
from symphony_lab._pit import quest_h_add

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
    (consumption ignored, costs of shared needs counted again: h_add),
    computed in the Pit."""
    c = Compiled(level, prune=False)
    return quest_h_add(c.needs, c.produces, c.cost, c.essential, [c.bits(held)])[0]


class RelaxedPlanPolicy:
    def __call__(self, obs: Observation, mask: npt.NDArray[np.bool_], env: FunctionQuestEnv) -> int:
        options = _progressing(mask, env)
        to_go = env.cost_to_go()  # price now + h_add after, from the Pit
        return min(options, key=lambda a: (to_go[a], a))


class ExactReplanningPolicy:
    """The first call of the exact plan from here, as if nothing fails. With
    ``expected_costs=True`` it plans on expected costs instead (each call
    retried until it succeeds), which is the best policy wherever no
    function both warms up and fails; the Conductor imitates that one."""

    def __init__(self, *, expected_costs: bool = False) -> None:
        self.expected_costs = expected_costs
        self._levels: dict[int, tuple[Level, Level]] = {}

    def __call__(self, obs: Observation, mask: npt.NDArray[np.bool_], env: FunctionQuestEnv) -> int:
        level = env.level
        planned = level
        if self.expected_costs:
            known = self._levels.get(id(level))
            if known is None or known[0] is not level:
                known = self._levels[id(level)] = (level, expected_costs(level))
            planned = known[1]
        plan = solve(
            planned,
            held=env.held_kinds(),
            warm=env.warm_functions(),
            budget=float("inf") if self.expected_costs else level.budget - env.spent,
        )
        if plan is None or not plan.calls:
            return GreedyPolicy()(obs, mask, env)
        call = [f.name for f in level.functions].index(plan.calls[0])
        return call if mask[call] else GreedyPolicy()(obs, mask, env)


def run_episode(env: FunctionQuestEnv, policy: Policy, *, seed: int | None = None) -> Score:
    """Plays one episode; scores it against the best policy's expected cost
    (``expected_optimum``, the exact optimum on deterministic levels)."""
    obs, _ = env.reset(seed=seed)
    terminated = truncated = False
    while not (terminated or truncated):
        obs, _, terminated, truncated, _ = env.step(policy(obs, env.action_masks(), env))
    return score_episode(env, solved=terminated)


def score_episode(env: FunctionQuestEnv, *, solved: bool) -> Score:
    """The episode the env has just played, against the best policy on its
    level; an unsolvable level scores as unsolved."""
    plan = env.optimum()
    if plan is None:
        return Score(False, 0.0, float("inf"))
    extras = {g.kind: g.reward for g in env.level.goals if g.importance != "essential"}
    held = env.held_kinds()
    return score(
        solved=solved,
        calls=len(env.calls),
        cost=env.spent,
        optimal_calls=len(plan.calls),
        optimal_cost=plan.cost,
        forgone=sum(r for k, r in extras.items() if k not in held),
        optimal_forgone=sum(extras.values()) - plan.bonus,  # expected, where calls fail
    )
