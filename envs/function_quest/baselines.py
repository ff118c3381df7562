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

from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from function_quest.scoring import Score
from symphony_lab.planning import EnvPolicy, Level, Observation, Planner, Problem, needed_kinds

if TYPE_CHECKING:
    from function_quest.env import FunctionQuestEnv


def _legal(mask: npt.NDArray[np.bool_], env: FunctionQuestEnv) -> list[int]:
    allowed = [int(a) for a in np.flatnonzero(mask)]
    legal = env.legal_actions()
    return [a for a in allowed if legal[a]] or allowed


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


class GreedyPolicy:
    def __call__(self, obs: Observation, mask: npt.NDArray[np.bool_], env: FunctionQuestEnv) -> int:
        level, problem, state = env.level, env.problem, env.state()
        missing = needed_kinds(level) - env.held_kinds()
        legal = _progressing(mask, env)
        useful = [a for a in legal if set(level.functions[a].produces) & missing]
        pool = useful or legal
        return min(pool, key=lambda a: (problem.price(a, state), a))


def h_add(level: Level, held: set[str]) -> float:
    """Sum over the missing essential kinds of their cheapest relaxed cost
    (consumption ignored, costs of shared needs counted again: h_add),
    computed in the Pit."""
    p = Problem(level)
    return p.h_add([p.bits(held)])[0]


class RelaxedPlanPolicy:
    def __call__(self, obs: Observation, mask: npt.NDArray[np.bool_], env: FunctionQuestEnv) -> int:
        options = _progressing(mask, env)
        to_go = env.cost_to_go()  # price now + h_add after, from the Pit
        return min(options, key=lambda a: (to_go[a], a))


class ExactReplanningPolicy:
    """The first call of the exact plan from here, as if nothing fails
    (:class:`~symphony_lab.planning.Planner` on the env's problem and
    state). With ``expected_costs=True`` it plans on expected costs instead
    (each call retried until it succeeds), which is the best policy wherever
    no function both warms up and fails; the Conductor imitates that one."""

    def __init__(self, *, expected_costs: bool = False) -> None:
        self.planner = Planner(expected_costs=expected_costs)

    def __call__(self, obs: Observation, mask: npt.NDArray[np.bool_], env: FunctionQuestEnv) -> int:
        call = self.planner.choose(env.problem, env.state())
        if call is None or not mask[call]:
            return GreedyPolicy()(obs, mask, env)
        return call


def run_episode(env: FunctionQuestEnv, policy: EnvPolicy, *, seed: int | None = None) -> Score:
    """Plays one episode; scores it against the best policy's expected cost
    (``expected_optimum``, the exact optimum on deterministic levels)."""
    obs, _ = env.reset(seed=seed)
    terminated = truncated = False
    while not (terminated or truncated):
        obs, _, terminated, truncated, _ = env.step(policy(obs, env.action_masks(), env))
    return env.score(solved=terminated)
