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
from collections.abc import Iterable
from dataclasses import dataclass, replace

from function_quest.level import Level, needed_kinds
from symphony_lab._pit import quest_expected, quest_solve


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


def relevant_functions(level: Level) -> list[int]:
    """Indices of the functions that can matter for some goal: those that
    produce a kind in the backward closure of the goals through the needs of
    producers. The rest (distractors, dead ends) never help a plan, so the
    search leaves them out."""
    relevant = needed_kinds(level, [g.kind for g in level.goals])
    return [i for i, f in enumerate(level.functions) if set(f.produces) & relevant]


class Compiled:
    """A level as bit masks, for the search; only its relevant functions."""

    def __init__(self, level: Level, *, prune: bool = True) -> None:
        if len(level.kinds) > 64:
            raise ValueError(
                f"the solver plans over at most 64 kinds; {level.id!r} has {len(level.kinds)}"
            )
        self.level = level
        self.kinds = {k: i for i, k in enumerate(level.kinds)}
        bits = self.bits
        self.index = relevant_functions(level) if prune else list(range(len(level.functions)))
        functions = [level.functions[i] for i in self.index]
        self.needs = [bits(f.needs) for f in functions]
        self.consumes = [bits(f.consumes) for f in functions]
        self.produces = [bits(f.produces) for f in functions]
        self.cost = [f.cost for f in functions]
        self.warmup = [f.warmup for f in functions]
        self.essential = bits(level.essential)
        self.extras = [
            (bits([g.kind]), g.reward) for g in level.goals if g.importance != "essential"
        ]
        self.max_bonus = sum(r for _, r in self.extras)
        self.start = bits(level.initial)

    def bits(self, kinds: Iterable[str]) -> int:
        mask = 0
        for k in kinds:
            mask |= 1 << self.kinds[k]
        return mask

    def bonus(self, held: int) -> float:
        return sum((r for bit, r in self.extras if held & bit), 0.0)

    def kinds_of(self, mask: int) -> frozenset[str]:
        return frozenset(k for k, i in self.kinds.items() if mask >> i & 1)


def solve(
    level: Level,
    *,
    budget: float | None = None,
    held: Iterable[str] | None = None,
    warm: Iterable[str] = (),
) -> Plan | None:
    """The plan of least ``cost - bonus`` that holds every essential goal
    within ``budget`` (the level's by default); ``None`` if there is none.
    Starts from the level's initial kinds, or from ``held`` with the
    functions in ``warm`` already warm (to replan mid-episode). Failure
    probabilities are ignored: every call succeeds. The search runs in the
    Pit (``pit-quest``), over the level's relevant functions only."""
    c = Compiled(level)
    if held is not None:
        unknown = sorted(set(held) - set(level.kinds))
        if unknown:
            raise KeyError(f"held names unknown kinds: {unknown}")
        c.start = c.bits(held)
    names = [level.functions[i].name for i in c.index]
    warm_mask = 0
    for name in warm:
        if name in names:
            warm_mask |= 1 << names.index(name)
    found = quest_solve(
        c.needs,
        c.consumes,
        c.produces,
        c.cost,
        c.warmup,
        c.essential,
        c.extras,
        c.start,
        warm_mask,
        level.budget if budget is None else budget,
    )
    if found is None:
        return None
    calls, cost, bonus, end_held = found
    return Plan(tuple(names[f] for f in calls), cost, bonus, c.kinds_of(end_held))


def expected_optimum(
    level: Level, *, max_states: int = 200_000, episodes: int = 200, seed: int = 0
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
    if not any(f.failure > 0 for f in level.functions):
        return solve(level, budget=float("inf"))
    if not any(f.failure > 0 and f.warmup > 0 for f in level.functions):
        return _as(solve(expected_costs(level), budget=float("inf")), "retry")
    c = Compiled(level)
    found = quest_expected(
        c.needs,
        c.consumes,
        c.produces,
        c.cost,
        c.warmup,
        [level.functions[i].failure for i in c.index],
        c.essential,
        c.extras,
        c.start,
        0,
        max_states,
    )
    if found is None:
        return None
    if isinstance(found, str):
        warnings.warn(
            f"value iteration on {level.id!r} gave up ({found}); "
            "sampling the exact replanner instead",
            stacklevel=2,
        )
        return _replanning(level, episodes, seed)
    calls, cost, bonus, _ = found
    names = tuple(level.functions[c.index[f]].name for f in calls)
    return Plan(names, cost, bonus, _held_after(level, names), "value_iteration")


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


def _replanning(level: Level, episodes: int, seed: int, max_calls: int = 100_000) -> Plan | None:
    """Replanning with the exact solver after each failure, sampled. A run
    that has not won after ``max_calls`` calls is refused, not averaged in."""
    first = solve(level, budget=float("inf"))
    if first is None:
        return None
    rng = random.Random(seed)
    essential = set(level.essential)
    extras = {g.kind: g.reward for g in level.goals if g.importance != "essential"}
    costs, bonuses = [], []
    for _ in range(episodes):
        held, warm, cost = set(level.initial), set[str](), 0.0
        for _ in range(max_calls):
            if essential <= held:
                break
            plan = solve(level, held=held, warm=warm, budget=float("inf"))
            if plan is None:
                return None  # a failure can strand the replanner: no sure win
            f = level.function(plan.calls[0])
            cost += f.cost + (0.0 if f.name in warm else f.warmup)
            if rng.random() < f.failure:
                warm.discard(f.name)
            else:
                held = (held - set(f.consumes)) | set(f.produces)
                if f.warmup > 0:
                    warm.add(f.name)
        if not essential <= held:
            raise ValueError(
                f"level {level.id!r}: a replanning run had not won after {max_calls} calls; "
                "its failures are too likely to estimate the expected cost by sampling"
            )
        costs.append(cost)
        bonuses.append(sum(r for k, r in extras.items() if k in held))
    mean = sum(costs) / len(costs)
    return Plan(first.calls, mean, sum(bonuses) / len(bonuses), first.held, "replanning")


def brute_force(level: Level, *, max_calls: int) -> Plan | None:
    """Every call sequence up to ``max_calls`` long, tried in turn: the
    oracle the solver is tested against on small levels."""
    c = Compiled(level, prune=False)
    best: Plan | None = None
    stack: list[tuple[int, int, float, tuple[str, ...]]] = [(c.start, 0, 0.0, ())]
    while stack:
        held, warm, cost, calls = stack.pop()
        if held & c.essential == c.essential:
            plan = Plan(calls, cost, c.bonus(held), c.kinds_of(held))
            if best is None or plan.objective < best.objective - 1e-9:
                best = plan
            continue
        if len(calls) == max_calls:
            continue
        for f, needs in enumerate(c.needs):
            if held & needs != needs:
                continue
            ncost = cost + c.cost[f] + (0.0 if warm >> f & 1 else c.warmup[f])
            if ncost > level.budget + 1e-9:
                continue
            nwarm = warm | (1 << f) if c.warmup[f] > 0 else warm
            nheld = (held & ~c.consumes[f]) | c.produces[f]
            stack.append((nheld, nwarm, ncost, (*calls, level.functions[f].name)))
    return best
