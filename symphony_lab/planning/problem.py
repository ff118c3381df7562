"""A level compiled to the Pit's problem: bit masks over its kinds and
functions, made once and shared by the solver, the observation and every
policy, in Function Quest and in real runs alike.

A :class:`State` is where a run stands on it: the kinds held, the functions
warm (bits by index) and the budget left.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from symphony_lab.pit import quest_h_add
from symphony_lab.planning.level import Level

#: The Pit plans over at most this many kinds and functions (one bit each).
MAX_BITS = 64

#: Rounding allowance of the budget: a plan costing exactly the budget fits
#: (the same allowance as the Pit's episode).
BUDGET_SLACK = 1e-9


@dataclass(frozen=True)
class State:
    """Where a run stands: kinds held and functions warm, as bits by index,
    and the budget left."""

    held: int
    warm: int = 0
    budget_left: float = math.inf


class Problem:
    """``level`` as bit masks: per function, the kinds it needs, consumes and
    produces, its cost, warm-up, latency and failure probability; the
    essential goals, the bonus goals with their rewards, and the start."""

    def __init__(self, level: Level) -> None:
        if len(level.kinds) > MAX_BITS or len(level.functions) > MAX_BITS:
            raise ValueError(
                f"level {level.id!r} has {len(level.kinds)} kinds and {len(level.functions)} "
                f"functions; the Pit plans over at most {MAX_BITS} of each"
            )
        self.level = level
        self.kinds: dict[str, int] = {k: i for i, k in enumerate(level.kinds)}
        fs = level.functions
        self.names: list[str] = [f.name for f in fs]
        self.index: dict[str, int] = {name: i for i, name in enumerate(self.names)}
        self.needs = [self.bits(f.needs) for f in fs]
        self.consumes = [self.bits(f.consumes) for f in fs]
        self.produces = [self.bits(f.produces) for f in fs]
        self.cost = [f.cost for f in fs]
        self.warmup = [f.warmup for f in fs]
        self.latency = [f.latency for f in fs]
        self.failure = [f.failure for f in fs]
        self.essential = self.bits(level.essential)
        self.extras: list[tuple[int, float]] = [
            (self.bits([g.kind]), g.reward) for g in level.goals if g.importance != "essential"
        ]
        self.start = self.bits(level.initial)

    def __len__(self) -> int:
        return len(self.names)

    def __repr__(self) -> str:
        return f"<Problem {self.level.id!r}: {len(self)} functions, {len(self.kinds)} kinds>"

    # ---- names and bits ----

    def bits(self, kinds: Iterable[str]) -> int:
        """``kinds`` as a mask; ``KeyError`` naming an unknown kind."""
        mask = 0
        for k in kinds:
            try:
                mask |= 1 << self.kinds[k]
            except KeyError:
                raise KeyError(f"level {self.level.id!r} has no kind {k!r}") from None
        return mask

    def kinds_of(self, mask: int) -> frozenset[str]:
        return frozenset(k for k, i in self.kinds.items() if mask >> i & 1)

    def functions_of(self, mask: int) -> list[str]:
        return [name for i, name in enumerate(self.names) if mask >> i & 1]

    def function_bits(self, names: Iterable[str]) -> int:
        """Functions by name as a mask; names the level lacks are ignored."""
        return sum(1 << self.index[n] for n in set(names) if n in self.index)

    # ---- states ----

    def start_state(self) -> State:
        """Where an episode starts: the initial kinds, nothing warm, the whole budget."""
        return State(self.start, 0, self.level.budget)

    def state(
        self, held: Iterable[str], warm: Iterable[str] = (), budget_left: float = math.inf
    ) -> State:
        """A state from names: kinds held, functions warm."""
        return State(self.bits(held), self.function_bits(warm), budget_left)

    def won(self, state: State) -> bool:
        return self.essential & ~state.held == 0

    def bonus(self, held: int) -> float:
        """Rewards of the bonus goals among the kinds ``held``."""
        return sum((r for bit, r in self.extras if held & bit), 0.0)

    def price(self, f: int, state: State) -> float:
        """What calling ``f`` costs now: its cost, plus its warm-up when cold."""
        return self.cost[f] + (0.0 if state.warm >> f & 1 else self.warmup[f])

    def idle(self, f: int, held: int) -> bool:
        """Whether calling ``f`` would change nothing: it consumes nothing and
        everything it produces is held already."""
        return self.consumes[f] == 0 and self.produces[f] & ~held == 0

    def legal(self, state: State, *, idle: bool = False) -> int:
        """The calls possible now, as bits: needs held, price within the
        budget left, and (unless ``idle``) something changed by the call.
        The same rule as Function Quest's episode."""
        held, room = state.held, state.budget_left + BUDGET_SLACK
        mask = 0
        for f, needs in enumerate(self.needs):
            if (
                needs & ~held == 0
                and self.price(f, state) <= room
                and (idle or not self.idle(f, held))
            ):
                mask |= 1 << f
        return mask

    def after(self, f: int, held: int) -> int:
        """The kinds held after ``f`` succeeds."""
        return (held & ~self.consumes[f]) | self.produces[f]

    def cost_to_go(self, state: State, *, idle: bool = False) -> npt.NDArray[np.float64]:
        """Per function: its price now plus the relaxed (h_add) cost to the
        goal from the state after it, computed in the Pit; ``inf`` where it
        cannot be called. The same numbers as Function Quest's episode gives."""
        legal = self.legal(state, idle=idle)
        calls = [f for f in range(len(self)) if legal >> f & 1]
        out = np.full(len(self), np.inf)
        to_go = self.h_add([self.after(f, state.held) for f in calls])
        for f, h in zip(calls, to_go, strict=True):
            out[f] = self.price(f, state) + h
        return out

    def h_add(self, helds: list[int]) -> list[float]:
        """The relaxed cost to the goal from each of ``helds`` (consumption
        ignored, shared needs counted again: h_add), in one Pit call."""
        if not helds:
            return []
        return quest_h_add(self.needs, self.produces, self.cost, self.essential, helds)

    # ---- what matters ----

    @functools.cached_property
    def relevant(self) -> list[int]:
        """Indices of the functions that can matter for some goal, which the
        search keeps (distractors and dead ends never help a plan):

        - those that produce a kind in the backward closure of the goals
          through the needs of the functions kept;
        - where a bonus goal can be collected, those that consume an
          essential kind: the win comes the moment every essential kind is
          held, so taking one away can make room to collect a bonus first.

        Consuming any other kind only ever takes something away, which no
        plan needs."""
        fs = self.level.functions
        needed = {g.kind for g in self.level.goals}
        essential = self.level.essential if self.extras else frozenset()
        kept: set[int] = set()
        grew = True
        while grew:
            grew = False
            for i, f in enumerate(fs):
                serves = needed.intersection(f.produces) or essential.intersection(f.consumes)
                if i in kept or not serves:
                    continue
                kept.add(i)
                needed |= f.needs
                grew = True
        return sorted(kept)
