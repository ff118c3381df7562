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

import heapq
import itertools
import math
from collections.abc import Iterable
from dataclasses import dataclass

from function_quest.level import Level


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
    relevant = {g.kind for g in level.goals}
    changed = True
    while changed:
        changed = False
        for f in level.functions:
            if set(f.produces) & relevant and not f.needs <= relevant:
                relevant |= f.needs
                changed = True
    return [i for i, f in enumerate(level.functions) if set(f.produces) & relevant]


class _Compiled:
    """A level as bit masks, for the search; only its relevant functions."""

    def __init__(self, level: Level, *, prune: bool = True) -> None:
        self.level = level
        self.kinds = {k: i for i, k in enumerate(level.kinds)}
        bits = self._bits
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

    def _bits(self, kinds: object) -> int:
        mask = 0
        for k in kinds:  # type: ignore[attr-defined]
            mask |= 1 << self.kinds[k]
        return mask

    def bonus(self, held: int) -> float:
        return sum((r for bit, r in self.extras if held & bit), 0.0)

    def kinds_of(self, mask: int) -> frozenset[str]:
        return frozenset(k for k, i in self.kinds.items() if mask >> i & 1)

    def h_max(self, held: int) -> float:
        """Cost of the dearest missing essential kind in the delete relaxation."""
        missing = self.essential & ~held
        if not missing:
            return 0.0
        n = len(self.kinds)
        cost = [math.inf] * n
        for i in range(n):
            if held >> i & 1:
                cost[i] = 0.0
        changed = True
        while changed:
            changed = False
            for f, needs in enumerate(self.needs):
                c = 0.0
                for i in range(n):
                    if needs >> i & 1:
                        c = max(c, cost[i])
                        if c == math.inf:
                            break
                if c == math.inf:
                    continue
                c += self.cost[f]
                p = self.produces[f]
                for i in range(n):
                    if p >> i & 1 and c < cost[i]:
                        cost[i] = c
                        changed = True
        return max(cost[i] for i in range(n) if missing >> i & 1)


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
    probabilities are ignored: every call succeeds."""
    c = _Compiled(level)
    if held is not None:
        c.start = c._bits(held)
    names = [level.functions[i].name for i in c.index]
    warm_mask = 0
    for name in warm:
        if name in names:
            warm_mask |= 1 << names.index(name)
    limit = level.budget if budget is None else budget
    warmable = [w > 0 for w in c.warmup]
    h_cache: dict[int, float] = {}

    def h(held: int) -> float:
        v = h_cache.get(held)
        if v is None:
            v = h_cache[held] = c.h_max(held)
        return v

    tie = itertools.count()
    start = (c.start, warm_mask)
    best: dict[tuple[int, int], float] = {start: 0.0}
    parent: dict[tuple[int, int], tuple[tuple[int, int], int]] = {}
    # Entries: (f = g + h, tie, g, state, finished)
    frontier: list[tuple[float, int, float, tuple[int, int], bool]] = [
        (h(c.start), next(tie), 0.0, start, False)
    ]
    while frontier:
        _, _, g, state, finished = heapq.heappop(frontier)
        held, warm = state
        if finished:
            return _plan(c, parent, state, g)
        if g > best.get(state, math.inf):
            continue
        if held & c.essential == c.essential:
            # The episode ends the moment the essential goals are held.
            done = g + c.max_bonus - c.bonus(held)
            heapq.heappush(frontier, (done, next(tie), g, state, True))
            continue
        for f, needs in enumerate(c.needs):
            if held & needs != needs:
                continue
            nxt_held = (held & ~c.consumes[f]) | c.produces[f]
            nxt_warm = warm | (1 << f) if warmable[f] else warm
            nxt = (nxt_held, nxt_warm)
            if nxt == state:
                continue
            ng = g + c.cost[f] + (0.0 if warm >> f & 1 else c.warmup[f])
            if ng > limit + 1e-9 or ng >= best.get(nxt, math.inf):
                continue
            best[nxt] = ng
            parent[nxt] = (state, f)
            heapq.heappush(frontier, (ng + h(nxt_held), next(tie), ng, nxt, False))
    return None


def _plan(
    c: _Compiled,
    parent: dict[tuple[int, int], tuple[tuple[int, int], int]],
    state: tuple[int, int],
    cost: float,
) -> Plan:
    calls = []
    at = state
    while at in parent:
        at, f = parent[at]
        calls.append(c.level.functions[c.index[f]].name)
    calls.reverse()
    return Plan(tuple(calls), cost, c.bonus(state[0]), c.kinds_of(state[0]))


def brute_force(level: Level, *, max_calls: int) -> Plan | None:
    """Every call sequence up to ``max_calls`` long, tried in turn: the
    oracle the solver is tested against on small levels."""
    c = _Compiled(level, prune=False)
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
