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

from collections.abc import Iterable
from dataclasses import dataclass

from function_quest.level import Function, Level, needed_kinds
from symphony_lab._pit import quest_solve


@dataclass(frozen=True)
class Plan:
    """A sequence of calls that wins a level, and what it costs."""

    calls: tuple[str, ...]
    #: Sum of the calls' costs and warm-ups.
    cost: float
    #: Reward of the recommended and optional goals held at the end.
    bonus: float
    held: frozenset[str]

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


def expected_optimum(level: Level) -> Plan | None:
    """The best retrying policy's plan and expected ``cost - bonus`` on a level
    with failures, budget aside. A failed call changes nothing but the
    function's warmth (the failed instance goes cold), so a policy that
    retries each call until it succeeds has an expected cost that is a
    shortest path: a call of cost ``c``, warm-up ``w`` and failure ``p`` costs
    ``(c + w) / (1 - p)`` in expectation from cold and ``c + p (c + w) / (1 - p)``
    from warm. Exact when no function has both a warm-up and a failure chance
    (every shipped and generated level); otherwise switching to a fallback
    after a failure can do better, and this is an upper bound. Equal to
    ``solve`` on a deterministic level."""
    expected = tuple(
        Function(
            **{
                **f.__dict__,
                "cost": f.cost + f.failure * (f.cost + f.warmup) / (1 - f.failure),
                "failure": 0.0,
            }
        )
        for f in level.functions
    )
    return solve(Level(**{**level.__dict__, "functions": expected}), budget=float("inf"))


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
