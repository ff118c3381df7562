"""The exact solver for deterministic levels.

A* over states ``(kinds held, functions warm)``: a call of a function whose
needs are held moves to ``(held - consumes + produces, warm + function)`` at
its cost plus, when cold, its warm-up. A state holding every essential goal
ends the episode (as in the environment), paying ``max_bonus - bonus(held)``,
where the bonus is the reward of the recommended and optional goals held; so
the solver minimises ``cost - bonus`` with non-negative edges. The heuristic
is h_max of the delete relaxation from the state's kinds (warm-ups and
consumption ignored), which never overestimates, so the plan is optimal.
"""

from __future__ import annotations

import random
import warnings
import weakref
from collections.abc import Iterable
from dataclasses import dataclass, replace

from symphony_lab.pit import quest_expected, quest_solve
from symphony_lab.planning.level import Level
from symphony_lab.planning.problem import Problem

#: A level, or the same level compiled once (cheaper to plan on repeatedly).
Levelish = Level | Problem


@dataclass(frozen=True)
class Plan:
    """A sequence of calls that wins a level, and what it costs."""

    calls: tuple[str, ...]
    #: Sum of the calls' costs and warm-ups.
    cost: float
    #: Reward of the recommended and optional goals held at the end.
    bonus: float
    held: frozenset[str]
    #: How ``cost`` was found: ``"exact"`` (the optimum of a deterministic
    #: level), ``"retry"`` (the exact expectation when no function both warms
    #: up and fails), ``"value_iteration"`` (the exact expectation over every
    #: reachable state), or ``"replanning"`` (a sampled estimate of replanning
    #: with the exact solver after each failure, where value iteration would
    #: be too large).
    method: str = "exact"

    @property
    def objective(self) -> float:
        """What the solver minimises: ``cost - bonus``."""
        return self.cost - self.bonus


def compiled(level: Levelish) -> Problem:
    """``level`` compiled, or as it is when it already is."""
    return level if isinstance(level, Problem) else Problem(level)


class _Pruned:
    """A problem's relevant functions only, as the search takes them."""

    def __init__(self, p: Problem) -> None:
        self.index = p.relevant
        pick = self.index
        self.needs = [p.needs[f] for f in pick]
        self.consumes = [p.consumes[f] for f in pick]
        self.produces = [p.produces[f] for f in pick]
        self.cost = [p.cost[f] for f in pick]
        self.warmup = [p.warmup[f] for f in pick]
        self.failure = [p.failure[f] for f in pick]
        self.names = [p.names[f] for f in pick]


_PRUNED: weakref.WeakKeyDictionary[Problem, _Pruned] = weakref.WeakKeyDictionary()


def _pruned(p: Problem) -> _Pruned:
    found = _PRUNED.get(p)
    if found is None:
        found = _PRUNED[p] = _Pruned(p)
    return found


class SearchLimitError(RuntimeError):
    """The exact search reached its ``max_states`` before an answer."""


def solve(
    level: Levelish,
    *,
    budget: float | None = None,
    held: Iterable[str] | None = None,
    warm: Iterable[str] = (),
    max_states: int | None = None,
    fast: float | None = None,
) -> Plan | None:
    """The plan of least ``cost - bonus`` that holds every essential goal
    within ``budget`` (the level's by default); ``None`` if there is none.
    Starts from the level's initial kinds, or from ``held`` with the
    functions in ``warm`` already warm (to replan mid-episode). Failure
    probabilities are ignored: every call succeeds. The search runs in the
    Pit (``pit-quest``), over the level's relevant functions only; with
    ``max_states``, it raises ``SearchLimitError`` once it has reached that
    many states (a level of many independent parts can need more than
    memory holds). ``fast`` (a weight >= 1) follows the h_add bound times
    that weight instead of the admissible one: a good plan, not always the
    best, in far fewer states where a goal has many independent parts."""
    p = compiled(level)
    if held is not None:
        unknown = sorted(set(held) - set(p.kinds))
        if unknown:
            raise KeyError(f"held names unknown kinds: {unknown}")
    start = p.start if held is None else p.bits(held)
    return solve_from(p, start, p.function_bits(warm), budget, max_states, fast)


def solve_from(
    p: Problem,
    held: int,
    warm: int = 0,
    budget: float | None = None,
    max_states: int | None = None,
    fast: float | None = None,
) -> Plan | None:
    """``solve`` from a state in bits: kinds ``held``, functions ``warm``."""
    q = _pruned(p)
    warm_mask = 0
    for i, f in enumerate(q.index):
        if warm >> f & 1:
            warm_mask |= 1 << i
    found = quest_solve(
        q.needs,
        q.consumes,
        q.produces,
        q.cost,
        q.warmup,
        p.essential,
        p.extras,
        held,
        warm_mask,
        p.level.budget if budget is None else budget,
        max_states,
        fast,
    )
    if found is None:
        return None
    if isinstance(found, str):
        raise SearchLimitError(f"level {p.level.id!r}: {found}")
    calls, cost, bonus, end_held = found
    return Plan(tuple(q.names[f] for f in calls), cost, bonus, p.kinds_of(end_held))


def expected_optimum(
    level: Levelish, *, max_states: int = 200_000, episodes: int = 200, seed: int = 0
) -> Plan | None:
    """The best policy on a level whose calls can fail: its expected cost and
    bonus, budget aside, and its calls when every call succeeds; ``None`` when
    no policy wins for sure. ``Plan.method`` says how it was found:

    - no failures: the exact optimum (``solve``);
    - no function both warms up and fails: a failed call then changes
      nothing that matters, so retrying is optimal and the expectation is a
      shortest path where a call of cost ``c``, warm-up ``w`` and failure
      ``p`` costs ``c + p (c + w) / (1 - p)`` from warm, plus ``w`` from cold
      (every shipped and generated level);
    - otherwise a failure cools a function, switching to a fallback may pay,
      and value iteration over every reachable state (in the Pit) gives the
      exact expectation, up to ``max_states`` states;
    - beyond that, the mean cost over ``episodes`` sampled runs of replanning
      with the exact solver after each failure, an estimate named as such.
    """
    p = compiled(level)
    fs = p.level.functions
    if not any(f.failure > 0 for f in fs):
        return solve(p, budget=float("inf"))
    if not any(f.failure > 0 and f.warmup > 0 for f in fs):
        return _as(solve(expected_costs(p.level), budget=float("inf")), "retry")
    q = _pruned(p)
    found = quest_expected(
        q.needs,
        q.consumes,
        q.produces,
        q.cost,
        q.warmup,
        q.failure,
        p.essential,
        p.extras,
        p.start,
        0,
        max_states,
    )
    if found is None:
        return None
    if isinstance(found, str):
        warnings.warn(
            f"value iteration on {p.level.id!r} gave up ({found}); "
            "sampling the exact replanner instead",
            stacklevel=2,
        )
        return _replanning(p, episodes, seed)
    calls, cost, bonus, _ = found
    names = tuple(q.names[f] for f in calls)
    return Plan(names, cost, bonus, _held_after(p.level, names), "value_iteration")


def expected_costs(level: Level) -> Level:
    """The level with each call's expected cost when retried until it
    succeeds, and no failures: ``c + p (c + w) / (1 - p)``, warm-up ``w`` on
    top from cold. Planning on it is exact where no function both warms up
    and fails, and a good guide elsewhere."""
    expected = tuple(
        replace(f, cost=f.cost + f.failure * (f.cost + f.warmup) / (1 - f.failure), failure=0)
        for f in level.functions
    )
    return replace(level, functions=expected)


def _as(plan: Plan | None, method: str) -> Plan | None:
    return None if plan is None else replace(plan, method=method)


def _held_after(level: Level, calls: Iterable[str]) -> frozenset[str]:
    held = set(level.initial)
    for name in calls:
        f = level.function(name)
        held = (held - set(f.consumes)) | set(f.produces)
    return frozenset(held)


def _replanning(p: Problem, episodes: int, seed: int, max_calls: int = 100_000) -> Plan | None:
    """Replanning with the exact solver after each failure, sampled. A run
    that has not won after ``max_calls`` calls is refused, not averaged in."""
    first = solve_from(p, p.start, 0, float("inf"))
    if first is None:
        return None
    rng = random.Random(seed)
    costs, bonuses = [], []
    for _ in range(episodes):
        held, warm, cost = p.start, 0, 0.0
        for _ in range(max_calls):
            if p.essential & ~held == 0:
                break
            plan = solve_from(p, held, warm, float("inf"))
            if plan is None:
                return None  # a failure can strand the replanner: no sure win
            f = p.index[plan.calls[0]]
            cost += p.cost[f] + (0.0 if warm >> f & 1 else p.warmup[f])
            if rng.random() < p.failure[f]:
                warm &= ~(1 << f)
            else:
                held = p.after(f, held)
                if p.warmup[f] > 0:
                    warm |= 1 << f
        if p.essential & ~held:
            raise ValueError(
                f"level {p.level.id!r}: a replanning run had not won after {max_calls} calls; "
                "its failures are too likely to estimate the expected cost by sampling"
            )
        costs.append(cost)
        bonuses.append(p.bonus(held))
    mean = sum(costs) / len(costs)
    return Plan(first.calls, mean, sum(bonuses) / len(bonuses), first.held, "replanning")


def brute_force(level: Levelish, *, max_calls: int) -> Plan | None:
    """Every call sequence up to ``max_calls`` long, tried in turn: the
    oracle the solver is tested against on small levels."""
    p = compiled(level)
    budget = p.level.budget + 1e-9
    best: Plan | None = None
    stack: list[tuple[int, int, float, tuple[str, ...]]] = [(p.start, 0, 0.0, ())]
    while stack:
        held, warm, cost, calls = stack.pop()
        if held & p.essential == p.essential:
            plan = Plan(calls, cost, p.bonus(held), p.kinds_of(held))
            if best is None or plan.objective < best.objective - 1e-9:
                best = plan
            continue
        if len(calls) == max_calls:
            continue
        for f, needs in enumerate(p.needs):
            if held & needs != needs:
                continue
            ncost = cost + p.cost[f] + (0.0 if warm >> f & 1 else p.warmup[f])
            if ncost > budget:
                continue
            nwarm = warm | (1 << f) if p.warmup[f] > 0 else warm
            stack.append((p.after(f, held), nwarm, ncost, (*calls, p.names[f])))
    return best
