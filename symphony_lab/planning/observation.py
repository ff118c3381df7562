"""The Conductor's observation: one encoding for training and for real runs.

Function Quest and a real run on the Stage both observe a :class:`Problem`
through an :class:`Observer`, so a policy trained in the one acts in the
other without translation. Every array has a fixed maximum size with a
padding mask, so one policy serves problems of different sizes.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from symphony_lab.planning.problem import Problem, State
from symphony_lab.planning.solver import SearchLimitError, expected_costs, solve_from

if TYPE_CHECKING:
    from gymnasium import spaces

#: Bumped when the layout changes, so saved policies can refuse a mismatch.
OBSERVATION_VERSION = 2

#: Upper bound of costs and budgets in an observation.
MAX_AMOUNT = 1e6

#: Per-function arrays a live observation adds (an environment where calls
#: run side by side and outcomes teach, such as Function Quest's live tier;
#: ``NetworkConfig(live=True)`` reads them): a call in flight, calls landed,
#: calls failed, the price of a call's time, and the mark of the wait slot
#: (the action that lets the next call in flight land).
LIVE_KEYS = ("running", "tried", "failed", "time_price", "wait")
#: Per-kind arrays of a live observation: calls landed and failed among the
#: functions that read the kind (a shared service's record shows on its kind).
LIVE_KIND_KEYS = ("read_tried", "read_failed")


@functools.lru_cache(maxsize=1 << 14)
def bits(mask: int, size: int, dtype: type = np.int8) -> npt.NDArray[Any]:
    """``mask``'s low ``size`` bits as an array, read-only over immutable
    bytes (so no caller can make it writable): states recur, so each is
    computed once, and callers copy what they hand out."""
    raw = np.array([mask >> i & 1 for i in range(size)], dtype).tobytes()
    return np.frombuffer(raw, dtype)


@dataclass(frozen=True)
class FunctionView:
    """What the Conductor may know of one function before calling it."""

    reads: Sequence[int]
    consumes: Sequence[int]
    produces: Sequence[int]
    cost: float
    failure: float
    warmup: float
    warm: bool


def function_views(problem: Problem) -> list[FunctionView]:
    """What may be known of each function of ``problem`` before any call,
    kinds by index."""
    kind = problem.kinds
    return [
        FunctionView(
            reads=[kind[k] for k in f.reads],
            consumes=[kind[k] for k in f.consumes],
            produces=[kind[k] for k in f.produces],
            cost=f.cost,
            failure=f.failure,
            warmup=f.warmup,
            warm=False,
        )
        for f in problem.level.functions
    ]


@dataclass(frozen=True)
class ObservationSpec:
    """Maximum sizes of an observation."""

    max_functions: int = 32
    max_kinds: int = 32
    #: Add ``cost_to_go``: per function, its cost now plus the relaxed (h_add)
    #: cost from the state after it; ``MAX_AMOUNT`` where it cannot be called.
    cost_to_go: bool = False
    #: Add the exact planner's advice on expected costs, from where the run
    #: stands: ``plan_next`` marks its next call and ``plan_calls`` every call
    #: of its plan; both are zero where the search gives up (``PLAN_STATES``).
    plan: bool = False

    @classmethod
    def fitting(
        cls,
        problems: Sequence[Problem],
        *,
        at_least: int = 32,
        cost_to_go: bool = False,
        plan: bool = False,
    ) -> ObservationSpec:
        """The smallest spec, of at least ``at_least`` slots each, that holds
        every one of ``problems``."""
        return cls(
            max([at_least, *(len(p) for p in problems)]),
            max([at_least, *(len(p.kinds) for p in problems)]),
            cost_to_go,
            plan,
        )

    def check_fits(self, problem: Problem) -> None:
        n_f, n_k = len(problem), len(problem.kinds)
        if n_f > self.max_functions or n_k > self.max_kinds:
            raise ValueError(
                f"level {problem.level.id!r} has {n_f} functions and {n_k} kinds; "
                f"max_functions={self.max_functions}, max_kinds={self.max_kinds}"
            )

    def space(self) -> spaces.Dict:
        """The matching ``gymnasium.spaces.Dict``."""
        # gymnasium loads here: real runs observe problems without it.
        from gymnasium import spaces

        f, k = self.max_functions, self.max_kinds
        unit = spaces.Box(0.0, 1.0, (f,), np.float32)
        # Finite bounds, as gymnasium's checker asks; no cost comes near.
        nonneg = spaces.Box(0.0, MAX_AMOUNT, (f,), np.float32)
        extra: dict[str, spaces.Space[Any]] = {"cost_to_go": nonneg} if self.cost_to_go else {}
        if self.plan:
            extra |= {"plan_next": spaces.MultiBinary(f), "plan_calls": spaces.MultiBinary(f)}
        return spaces.Dict(
            {
                **extra,
                "held": spaces.MultiBinary(k),
                "goal": spaces.MultiBinary(k),
                "bonus_goal": spaces.MultiBinary(k),
                "reward": spaces.Box(0.0, MAX_AMOUNT, (k,), np.float32),
                "kind_mask": spaces.MultiBinary(k),
                "reads": spaces.MultiBinary((f, k)),
                "consumes": spaces.MultiBinary((f, k)),
                "produces": spaces.MultiBinary((f, k)),
                "cost": nonneg,
                "failure": unit,
                "warmup": nonneg,
                "warm": spaces.MultiBinary(f),
                "function_mask": spaces.MultiBinary(f),
                "budget_left": spaces.Box(0.0, MAX_AMOUNT, (1,), np.float32),
            }
        )

    def static(
        self,
        *,
        n_kinds: int,
        goal: Sequence[int],
        bonus_goal: Sequence[int],
        functions: Sequence[FunctionView],
        reward: Sequence[float] = (),
    ) -> dict[str, npt.NDArray[Any]]:
        """The parts of an observation that stay fixed through an episode,
        computed once and kept read-only; ``with_state`` copies them into
        each observation."""
        obs = self.encode(
            n_kinds=n_kinds,
            held=[],
            goal=goal,
            bonus_goal=bonus_goal,
            functions=functions,
            budget_left=0.0,
            reward=reward,
        )
        for key in ("held", "warm", "budget_left"):
            del obs[key]
        for array in obs.values():
            array.flags.writeable = False
        return obs

    def with_state(
        self,
        static: dict[str, npt.NDArray[Any]],
        *,
        held: int,
        warm: int,
        budget_left: float,
        cost_to_go: npt.NDArray[np.float64] | None = None,
        plan: tuple[int, int] = (0, 0),
    ) -> dict[str, npt.NDArray[Any]]:
        """A step's observation: copies of the static arrays (callers keep
        observations; none may share memory with another) plus the state:
        ``held`` as bits over kinds, ``warm`` as bits over functions, and
        ``plan`` as (next call, calls of the plan), bits over functions."""
        obs = {key: array.copy() for key, array in static.items()}
        obs["held"] = bits(held, self.max_kinds).copy()
        obs["warm"] = bits(warm, self.max_functions).copy()
        obs["budget_left"] = np.array([min(max(budget_left, 0.0), MAX_AMOUNT)], np.float32)
        if self.cost_to_go:
            if cost_to_go is None:
                raise ValueError("this observation has cost_to_go: pass it")
            obs["cost_to_go"] = np.full(self.max_functions, MAX_AMOUNT, np.float32)
            obs["cost_to_go"][: len(cost_to_go)] = np.minimum(cost_to_go, MAX_AMOUNT)
        if self.plan:
            obs["plan_next"] = bits(plan[0], self.max_functions).copy()
            obs["plan_calls"] = bits(plan[1], self.max_functions).copy()
        return obs

    def encode(
        self,
        *,
        n_kinds: int,
        held: Sequence[int],
        goal: Sequence[int],
        bonus_goal: Sequence[int],
        functions: Sequence[FunctionView],
        budget_left: float,
        reward: Sequence[float] = (),
    ) -> dict[str, npt.NDArray[Any]]:
        """The observation of one state; kinds are given by index, and
        ``reward`` is each bonus goal's (in ``bonus_goal``'s order)."""
        f, k = self.max_functions, self.max_kinds
        if n_kinds > k or len(functions) > f:
            raise ValueError(
                f"the problem has {n_kinds} kinds and {len(functions)} functions; this "
                f"observation holds at most {k} kinds and {f} functions"
            )
        obs: dict[str, npt.NDArray[Any]] = {
            "held": np.zeros(k, np.int8),
            "goal": np.zeros(k, np.int8),
            "bonus_goal": np.zeros(k, np.int8),
            "reward": np.zeros(k, np.float32),
            "kind_mask": np.zeros(k, np.int8),
            "reads": np.zeros((f, k), np.int8),
            "consumes": np.zeros((f, k), np.int8),
            "produces": np.zeros((f, k), np.int8),
            "cost": np.zeros(f, np.float32),
            "failure": np.zeros(f, np.float32),
            "warmup": np.zeros(f, np.float32),
            "warm": np.zeros(f, np.int8),
            "function_mask": np.zeros(f, np.int8),
            "budget_left": np.array([min(max(budget_left, 0.0), MAX_AMOUNT)], np.float32),
        }
        obs["kind_mask"][:n_kinds] = 1
        obs["held"][list(held)] = 1
        obs["goal"][list(goal)] = 1
        obs["bonus_goal"][list(bonus_goal)] = 1
        for kind, r in zip(bonus_goal, reward, strict=False):
            obs["reward"][kind] = min(max(r, 0.0), MAX_AMOUNT)
        for i, fn in enumerate(functions):
            obs["reads"][i, list(fn.reads)] = 1
            obs["consumes"][i, list(fn.consumes)] = 1
            obs["produces"][i, list(fn.produces)] = 1
            obs["cost"][i] = min(fn.cost, MAX_AMOUNT)
            obs["failure"][i] = fn.failure
            obs["warmup"][i] = min(fn.warmup, MAX_AMOUNT)
            obs["warm"][i] = fn.warm
            obs["function_mask"][i] = 1
        return obs


#: States the planner's advice may search, exactly and then guided by h_add
#: (``solve(fast=w)`` for each weight of ``FAST``), before it gives up (then
#: the observation carries no plan, and the policy reads the rest).
PLAN_STATES = 50_000
FAST = (1.0, 2.0)


class Observer:
    """Observations of one problem: its fixed arrays made once, then each
    state's observation on demand. ``idle_calls``: whether calls that would
    change nothing count as callable (for the cost-to-go), as in the env;
    ``plan_states``: where the planner's advice gives up."""

    def __init__(
        self,
        problem: Problem,
        spec: ObservationSpec,
        *,
        idle_calls: bool = False,
        plan_states: int = PLAN_STATES,
    ) -> None:
        spec.check_fits(problem)
        self.problem = problem
        self.spec = spec
        self.idle_calls = idle_calls
        self.plan_states = plan_states
        level, kind = problem.level, problem.kinds
        bonus = [g for g in level.goals if g.importance != "essential"]
        self.static = spec.static(
            n_kinds=len(kind),
            goal=[kind[g.kind] for g in level.goals if g.importance == "essential"],
            bonus_goal=[kind[g.kind] for g in bonus],
            reward=[g.reward for g in bonus],
            functions=function_views(problem),
        )
        self._expected: Problem | None = None
        self._plans: dict[tuple[int, int], tuple[int, int]] = {}

    def plan(self, state: State) -> tuple[int, int]:
        """The exact planner's advice in ``state``: its next call and the
        calls of its plan, as bits over functions; planned on expected
        costs (a call retried until it succeeds), budget aside, as the
        Conductor's expert plans. Where the exact search reaches
        ``plan_states``, ones guided by h_add (``FAST``) plan instead;
        ``(0, 0)`` when there is no plan or both give up. States recur, so
        each is planned once."""
        key = (state.held, state.warm)
        known = self._plans.get(key)
        if known is not None:
            return known
        if self._expected is None:
            self._expected = Problem(expected_costs(self.problem.level))
        found = None
        for fast in (None, *FAST):
            try:
                found = solve_from(
                    self._expected, state.held, state.warm, float("inf"), self.plan_states, fast
                )
                break
            except SearchLimitError:
                continue
        advice = (0, 0)
        if found is not None and found.calls:
            index = self.problem.index
            advice = (1 << index[found.calls[0]], sum(1 << index[c] for c in set(found.calls)))
        if len(self._plans) >= 1 << 14:
            self._plans.clear()
        self._plans[key] = advice
        return advice

    def observe(
        self,
        state: State,
        cost_to_go: npt.NDArray[np.float64] | None = None,
        *,
        plan: bool = True,
    ) -> dict[str, npt.NDArray[Any]]:
        """The observation of ``state``; ``cost_to_go`` is computed from the
        problem when the spec asks for it and none is given; ``plan=False``
        leaves the planner's advice out (zeros) where the spec has it."""
        if self.spec.cost_to_go and cost_to_go is None:
            cost_to_go = self.problem.cost_to_go(state, idle=self.idle_calls)
        return self.spec.with_state(
            self.static,
            held=state.held,
            warm=state.warm,
            budget_left=state.budget_left,
            cost_to_go=cost_to_go,
            plan=self.plan(state) if self.spec.plan and plan else (0, 0),
        )
