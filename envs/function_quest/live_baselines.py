"""Planners for the live tier: the baselines do not learn, the yardsticks
are told or fit what no level states.

- ``exact_replanning``: the exact planner on the stated numbers (expected
  costs, each call priced with its time: ``time_cost`` x latency), replanned
  at every decision from the kinds held and in flight; it starts every call
  of its plan whose needs are held, so independent branches run side by side.
- ``critical_path``: the strongest planner here that does not learn. It
  re-estimates each function's failure rate from the outcomes seen so far
  (a Beta prior centred on the stated rate, ``prior`` calls strong), prices
  each call at its expected cost and time until it succeeds, keeps the
  cheapest relaxed plan to the goal from the kinds held and in flight, and
  starts the ready calls of that plan longest critical path first.
- ``informed``: ``critical_path`` told the world's secret, the chance that a
  service is down and how badly it then fails; it infers each service's
  state from every outcome on it. A yardstick of what knowing the world is
  worth, not a baseline: no level states it.
- ``oracle``: ``critical_path`` on the true failure rates of the episode.
- ``learned_expert`` (in ``live``): ``informed`` on a world fitted to the
  outcomes of training episodes (``fit_world``), so nothing is told.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from function_quest.live_levels import SERVICES, World, timed_level
from symphony_lab.planning import EnvPolicy, Level, Observation, Problem, State, solve_from
from symphony_lab.planning.solver import expected_costs

if TYPE_CHECKING:
    from function_quest.live import LiveQuestEnv

#: A failure-rate estimate per function, from what the env shows.
Estimate = Callable[["LiveQuestEnv"], list[float]]


def baselines(seed: int = 0) -> dict[str, EnvPolicy]:
    """The planners an evaluation sets beside the Conductor."""
    return {
        "random": RandomLive(seed),
        "exact_replanning": ExactReplanningLive(),
        "critical_path": CriticalPath(reestimated),
    }


def yardsticks(world: World) -> dict[str, EnvPolicy]:
    """What knowing the world is worth: ``informed`` and ``oracle``."""
    return {"informed": CriticalPath(informed(world)), "oracle": CriticalPath(oracle)}


def fit_world(
    outcomes: list[tuple[Level, npt.NDArray[np.int64], npt.NDArray[np.int64]]],
    *,
    rounds: int = 50,
) -> World:
    """The world as outcomes show it: per service, the chance that it is
    down, and how often a call then fails, fitted by expectation
    maximisation over episodes (``(level, tried, failed)`` per episode,
    counts per function). Nothing but outcomes is read."""
    # Per (episode, service): each function's stated rate, tries and failures on it.
    rows: dict[str, list[list[tuple[float, float, float]]]] = {s: [] for s in SERVICES}
    for level, tried, failed in outcomes:
        for s in SERVICES:
            on = [
                (f.failure, float(tried[i]), float(failed[i]))
                for i, f in enumerate(level.functions)
                if s in f.reads and tried[i]
            ]
            if on:
                rows[s].append(on)
    outage = {s: 0.3 for s in SERVICES}
    down_failure = 0.5
    for _ in range(rounds):
        bad = calls = 0.0
        for s in SERVICES:
            weights = []
            for on in rows[s]:
                log_down = sum(
                    k * np.log(max(p, down_failure)) + (n - k) * np.log1p(-max(p, down_failure))
                    for p, n, k in on
                )
                log_up = sum(k * np.log(p) + (n - k) * np.log1p(-p) for p, n, k in on)
                q = outage[s]
                w = 1.0 / (1.0 + np.exp(np.log1p(-q) + log_up - np.log(q) - log_down))
                weights.append(w)
                bad += w * sum(k for _, _, k in on)
                calls += w * sum(n for _, n, _ in on)
            if weights:
                outage[s] = float(np.clip(np.mean(weights), 1e-3, 1 - 1e-3))
        down_failure = float(np.clip(bad / max(calls, 1.0), 0.01, 0.99))
    return World(outage=outage, outage_failure=down_failure)


def reestimated(env: LiveQuestEnv, prior: float = 2.0) -> list[float]:
    """Each function's failure rate: the posterior mean of a Beta prior of
    ``prior`` calls at the stated rate, after the outcomes seen."""
    stated = [f.failure for f in env.level.functions]
    return [
        (s * prior + float(env.failed[f])) / (prior + float(env.tried[f]))
        for f, s in enumerate(stated)
    ]


def informed(world: World) -> Estimate:
    """Failure rates inferred with the world's secret: per service, the
    posterior chance that it is down given every outcome on it."""

    def estimate(env: LiveQuestEnv) -> list[float]:
        fs = env.level.functions
        down_rate = [max(f.failure, world.outage_failure) for f in fs]
        odds: dict[str, float] = {}
        for s in SERVICES:
            on = [i for i, f in enumerate(fs) if s in f.reads]
            like_down = like_up = 1.0
            for i in on:
                ok, bad = float(env.tried[i] - env.failed[i]), float(env.failed[i])
                like_down *= down_rate[i] ** bad * (1 - down_rate[i]) ** ok
                like_up *= fs[i].failure ** bad * (1 - fs[i].failure) ** ok
            q = world.outage.get(s, 0.0)
            odds[s] = q * like_down / (q * like_down + (1 - q) * like_up)
        out = []
        for i, f in enumerate(fs):
            p_down = max((odds[s] for s in f.reads if s in odds), default=0.0)
            out.append(p_down * down_rate[i] + (1 - p_down) * f.failure)
        return out

    return estimate


def oracle(env: LiveQuestEnv) -> list[float]:
    return [env.true_failure_of(f) for f in range(len(env.problem))]


class RandomLive:
    def __init__(self, seed: int | None = None) -> None:
        self.rng = np.random.default_rng(seed)

    def __call__(self, obs: Observation, mask: npt.NDArray[np.bool_], env: LiveQuestEnv) -> int:
        return int(self.rng.choice(np.flatnonzero(mask)))


def _fallback(mask: npt.NDArray[np.bool_], env: LiveQuestEnv, cost: list[float]) -> int:
    """Wait when a call is in flight, else the cheapest call that may start."""
    if mask[env.wait_slot]:
        return env.wait_slot
    allowed = [int(a) for a in np.flatnonzero(mask)]
    return min(allowed, key=lambda a: (cost[a] if a < len(cost) else np.inf, a))


class CriticalPath:
    """See the module's docstring; ``estimate`` gives the failure rates."""

    def __init__(self, estimate: Estimate = reestimated) -> None:
        self.estimate = estimate

    def __call__(self, obs: Observation, mask: npt.NDArray[np.bool_], env: LiveQuestEnv) -> int:
        p = env.problem
        n = len(p)
        rate = self.estimate(env)
        success = [max(1.0 - r, 0.05) for r in rate]
        cost = [
            (p.price(f, State(env.held, env.warm)) + env.time_cost * p.latency[f]) / success[f]
            for f in range(n)
        ]
        have = env.held | env.in_flight_kinds()
        plan = _relaxed_plan(p, have, cost)
        if plan is None:
            return _fallback(mask, env, cost)
        # Expected time from each planned call to the goal along the plan.
        time = [p.latency[f] / success[f] for f in range(n)]
        path: dict[int, float] = {}

        def critical(f: int) -> float:
            if f not in path:
                path[f] = time[f]  # set first, so a cycle of needs ends here
                after = [g for g in plan if p.needs[g] & p.produces[f] and g != f]
                path[f] = time[f] + max((critical(g) for g in after), default=0.0)
            return path[f]

        ready = [f for f in plan if mask[f] and p.needs[f] & ~env.held == 0]
        if not ready:
            return _fallback(mask, env, cost)
        return max(ready, key=lambda f: (critical(f), -cost[f], -f))


def _relaxed_plan(p: Problem, have: int, cost: list[float]) -> list[int] | None:
    """The calls of the cheapest relaxed plan (needs counted once per
    consumer, consumption ignored) to the essential kinds from ``have``."""
    best: dict[int, tuple[float, int]] = {}  # kind bit -> (cost to make, function)
    reach = have
    changed = True
    while changed:
        changed = False
        for f in range(len(p)):
            if p.needs[f] & ~reach:
                continue
            needs = sum(best[b][0] for b in _bits(p.needs[f] & ~have))
            total = cost[f] + needs
            for b in _bits(p.produces[f] & ~have):
                if b not in best or total < best[b][0] - 1e-12:
                    best[b] = (total, f)
                    changed = True
            reach |= p.produces[f]
    if p.essential & ~reach:
        return None
    plan: list[int] = []
    todo = list(_bits(p.essential & ~have))
    seen: set[int] = set()
    while todo:
        b = todo.pop()
        if b in seen:
            continue
        seen.add(b)
        f = best[b][1]
        if f not in plan:
            plan.append(f)
            todo.extend(_bits(p.needs[f] & ~have))
    return plan


def _bits(mask: int) -> list[int]:
    out = []
    while mask:
        low = mask & -mask
        out.append(low)
        mask ^= low
    return out


class ExactReplanningLive:
    """See the module's docstring."""

    def __init__(self) -> None:
        self._twins: dict[str, Problem] = {}

    def __call__(self, obs: Observation, mask: npt.NDArray[np.bool_], env: LiveQuestEnv) -> int:
        p = env.problem
        twin = self._twins.get(env.level.id)
        if twin is None:
            twin = self._twins[env.level.id] = Problem(expected_costs(timed_level(env.level)))
        have = env.held | env.in_flight_kinds()
        plan = solve_from(twin, have, env.warm, float("inf"))
        cost = [p.cost[f] + env.time_cost * p.latency[f] for f in range(len(p))]
        if plan is None:
            return _fallback(mask, env, cost)
        for name in plan.calls:
            f = p.index[name]
            if mask[f] and p.needs[f] & ~env.held == 0:
                return f
        return _fallback(mask, env, cost)
