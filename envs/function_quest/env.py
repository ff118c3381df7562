"""The gymnasium environment: one episode plays one level.

Reward: each call costs ``-(cost + warm-up if the function was cold)``; a
failed call also costs ``-fail_penalty``; an illegal call (needs not held,
or a padding slot) changes nothing and costs ``-illegal_penalty``; winning
pays ``+goal_bonus`` plus the rewards of the goals held. ``terminated`` on a
win; ``truncated`` when the budget is spent, no call is legal any more, or
``max_steps`` is reached. State lives in Pit objects: a ``PoolManager`` on a
virtual clock knows which functions are warm, a ``DagTracker`` records the
calls made and what each one built on (``env.unwrapped.dag()``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np
import numpy.typing as npt

from function_quest.level import Level
from function_quest.solver import expected_optimum
from symphony_lab._pit import quest_h_add
from symphony_lab.observation import FunctionView, ObservationSpec
from symphony_lab.pit import DagTracker, PoolManager


class FunctionQuestEnv(gym.Env[dict[str, npt.NDArray[Any]], np.int64]):
    metadata = {"render_modes": ["ansi"], "render_fps": 4}  # noqa: RUF012 - gymnasium's convention

    def __init__(
        self,
        levels: Level | Sequence[Level] | None = None,
        *,
        masked: bool = True,
        max_functions: int = 32,
        max_kinds: int = 32,
        max_steps: int = 64,
        goal_bonus: float = 10.0,
        fail_penalty: float = 1.0,
        illegal_penalty: float = 1.0,
        render_mode: str | None = None,
        solve_optimal: bool = True,
        cost_to_go: bool = False,
    ) -> None:
        if levels is None:
            from function_quest import LEVELS, load

            levels = [load(name) for name in LEVELS]
        self.levels: list[Level] = [levels] if isinstance(levels, Level) else list(levels)
        if not self.levels:
            raise ValueError("levels must hold at least one level")
        if render_mode not in (None, "ansi"):
            raise ValueError(f"render_mode must be None or 'ansi', not {render_mode!r}")
        self.spec_obs = ObservationSpec(max_functions, max_kinds, cost_to_go)
        for level in self.levels:
            if len(level.functions) > max_functions or len(level.kinds) > max_kinds:
                raise ValueError(
                    f"level {level.id!r} has {len(level.functions)} functions and "
                    f"{len(level.kinds)} kinds; "
                    f"max_functions={max_functions}, max_kinds={max_kinds}"
                )
        self.masked = masked
        self.max_steps = max_steps
        self.goal_bonus = goal_bonus
        self.fail_penalty = fail_penalty
        self.illegal_penalty = illegal_penalty
        self.render_mode = render_mode
        # The exact solve is fast (it runs in the Pit) but not free; callers
        # that do not need info["optimal_cost"] may turn it off.
        self.solve_optimal = solve_optimal
        self.observation_space = self.spec_obs.space()
        self.action_space = gym.spaces.Discrete(max_functions)
        self._optimal: dict[int, tuple[Level, float | None]] = {}
        self._compiled: dict[int, tuple[Level, _Arrays]] = {}
        self.level = self.levels[0]
        self._start(self.level)

    # ---- episode ----

    def _start(self, level: Level) -> None:
        compiled = self._compiled.get(id(level))
        if compiled is None or compiled[0] is not level:
            # Validated before anything changes, so a refused level leaves the
            # episode as it was.
            compiled = (level, _Arrays(level, self.spec_obs))
            if len(self._compiled) > 4096:
                self._compiled.clear()
            self._compiled[id(level)] = compiled
        self.level = level
        self._a = a = compiled[1]
        self._mask: npt.NDArray[np.bool_] | None = None
        self._warm: npt.NDArray[np.bool_] | None = None
        self._held = a.initial.copy()
        self.spent = 0.0
        self.calls: list[str] = []
        self.failures = 0
        self.steps = 0
        self.pool = PoolManager(clock="virtual", reaper_interval=None, event_capacity=0)
        for f in level.functions:
            self.pool.register(f.name, warmup=f.warmup, idle_timeout=None)
        self._dag = DagTracker()
        self._made_by: dict[int, int] = {}

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, npt.NDArray[Any]], dict[str, Any]]:
        super().reset(seed=seed)
        level = (options or {}).get("level")
        if level is None:
            level = self.levels[int(self.np_random.integers(len(self.levels)))]
        self._start(level)
        return self._observe(), self._info()

    def step(
        self, action: np.int64 | int
    ) -> tuple[dict[str, npt.NDArray[Any]], SupportsFloat, bool, bool, dict[str, Any]]:
        a = int(action)
        self.steps += 1
        level = self.level
        reward = 0.0
        illegal = not self._legal(a)
        if illegal:
            reward -= self.illegal_penalty
        else:
            f = level.functions[a]
            lease = self.pool.acquire(f.name, timeout=0)
            cost = f.cost + (f.warmup if lease.cold_start else 0.0)
            self.pool.advance_to(max(lease.ready_at, self.pool.now) + f.latency)
            failed = bool(self.np_random.random() < f.failure)
            key = len(self.calls)
            self._dag.add_task(key, cost=cost, payload=f.name.encode())
            for k in self._a.needs[a]:
                if k in self._made_by:
                    self._dag.add_edge(self._made_by[k], key)
            self._dag.start(key)
            self.calls.append(f.name)
            self.spent += cost
            self._mask = self._warm = None
            reward -= cost
            if failed:
                lease.fail()
                self._dag.fail(key)
                self.failures += 1
                reward -= self.fail_penalty
            else:
                lease.release()
                self._dag.done(key)
                self._held &= ~self._a.consumes_m[a]
                self._held |= self._a.produces_m[a]
                for k in f.produces:
                    self._made_by[self._a.kind[k]] = key
        won = self._won()
        if won:
            reward += self.goal_bonus + level.reward_for(self.held_kinds())
        # A spent budget shows as no legal call (a free call may still be legal).
        truncated = not won and (self.steps >= self.max_steps or not self._legal_mask().any())
        info = self._info()
        info["illegal"] = illegal
        return self._observe(), reward, won, truncated, info

    # ---- masks and views ----

    def _legal_mask(self) -> npt.NDArray[np.bool_]:
        """Per real function: its needs are held and its cost fits the budget
        left. Computed once per state."""
        if self._mask is None:
            a = self._a
            needs_met = ~(a.needs_m & ~self._held).any(axis=1)
            price = a.costs + np.where(self._warm_now(), 0.0, a.warmups)
            self._mask = needs_met & (self.spent + price <= self.level.budget + 1e-9)
        return self._mask

    def _warm_now(self) -> npt.NDArray[np.bool_]:
        """Per function: a hot instance in the pool. Asked once per state."""
        if self._warm is None:
            self._warm = np.array(self.pool.hot_counts()) > 0
        return self._warm

    def _legal(self, a: int) -> bool:
        return 0 <= a < len(self.level.functions) and bool(self._legal_mask()[a])

    def legal_actions(self) -> npt.NDArray[np.bool_]:
        """Calls whose needs are held and whose cost fits the budget left."""
        mask = np.zeros(self.action_space.n, bool)
        mask[: len(self.level.functions)] = self._legal_mask()
        return mask

    def action_masks(self) -> npt.NDArray[np.bool_]:
        """For sb3-contrib's MaskablePPO. Masked mode: only legal calls.
        Unmasked mode: every real function (an illegal call is penalised), so
        the mask does not give preconditions away."""
        if self.masked:
            return self.legal_actions()
        mask = np.zeros(self.action_space.n, bool)
        mask[: len(self.level.functions)] = True
        return mask

    def held_kinds(self) -> set[str]:
        """Kinds held now."""
        names = list(self.level.kinds)
        return {names[i] for i in np.flatnonzero(self._held)}

    def warm_functions(self) -> set[str]:
        """Functions with a hot instance in the pool now."""
        return {
            f.name for f, hot in zip(self.level.functions, self._warm_now(), strict=True) if hot
        }

    def _won(self) -> bool:
        return not (self._a.essential & ~self._held).any()

    def _observe(self) -> dict[str, npt.NDArray[Any]]:
        warm = self._warm_now()
        return self.spec_obs.with_state(
            self._a.static,
            held=self._held.astype(np.int8),
            warm=warm.astype(np.int8),
            budget_left=self.level.budget - self.spent,
            cost_to_go=self._cost_to_go(warm) if self.spec_obs.cost_to_go else None,
        )

    def _cost_to_go(self, warm: npt.NDArray[np.bool_]) -> npt.NDArray[np.float64]:
        """Per function: its cost now (warm-up if cold) plus h_add after it,
        computed in the Pit in one call; inf where it cannot be called."""
        out = np.full(len(self.level.functions), np.inf)
        legal = np.flatnonzero(self._legal_mask())
        if legal.size == 0:
            return out
        x = self._a
        afters = [(self._held & ~x.consumes_m[a]) | x.produces_m[a] for a in legal]
        to_go = quest_h_add(
            x.needs_bits,
            x.produces_bits,
            list(x.costs),
            x.essential_bits,
            [int(x.bit[h].sum()) for h in afters],
        )
        for a, h in zip(legal, to_go, strict=True):
            f = self.level.functions[a]
            out[a] = f.cost + (0.0 if warm[a] else f.warmup) + h
        return out

    def optimal_cost(self) -> float | None:
        """The best policy's expected cost on this level (``expected_optimum``:
        the exact optimum on a deterministic level); ``None`` when unsolvable
        or when ``solve_optimal`` is off."""
        if not self.solve_optimal:
            return None
        known = self._optimal.get(id(self.level))
        if known is None or known[0] is not self.level:
            plan = expected_optimum(self.level)
            known = self._optimal[id(self.level)] = (
                self.level,
                None if plan is None else plan.cost,
            )
        return known[1]

    def _info(self) -> dict[str, Any]:
        return {
            "level": self.level.id,
            "calls": len(self.calls),
            "cost": self.spent,
            "optimal_cost": self.optimal_cost(),
            "failures": self.failures,
        }

    def dag(self) -> DagTracker:
        """The calls made so far as a Pit DagTracker: one task per call (key:
        call number, payload: function name), an edge from the call that made
        each kind a later call needed."""
        return self._dag

    def render(self) -> str | None:
        if self.render_mode != "ansi":
            return None
        level = self.level
        list(level.kinds)
        lines = [
            f"{level.title} [{level.id}]  spent {self.spent:g} of {level.budget:g}, "
            f"{len(self.calls)} calls, {self.failures} failed",
            "held:  " + ", ".join(sorted(self.held_kinds())),
            "goals: "
            + ", ".join(
                f"{g.kind}{'*' if self._held[self._a.kind[g.kind]] else ''} ({g.importance})"
                for g in level.goals
            ),
        ]
        legal = self.legal_actions()
        for a, f in enumerate(level.functions):
            mark = ">" if legal[a] else " "
            lines.append(f" {mark} {a:2d} {f.name:24s} cost {f.cost:g}")
        return "\n".join(lines)


class _Arrays:
    """A level as arrays, built once per level: masks and moves are then a
    few numpy operations, and the static part of the observation is ready."""

    def __init__(self, level: Level, spec: ObservationSpec) -> None:
        self.kind = kind = {k: i for i, k in enumerate(level.kinds)}
        self.needs = [[kind[k] for k in f.needs] for f in level.functions]
        n_f, n_k = len(level.functions), len(level.kinds)
        self.needs_m = np.zeros((n_f, n_k), bool)
        self.consumes_m = np.zeros((n_f, n_k), bool)
        self.produces_m = np.zeros((n_f, n_k), bool)
        for i, f in enumerate(level.functions):
            self.needs_m[i, self.needs[i]] = True
            self.consumes_m[i, [kind[k] for k in f.consumes]] = True
            self.produces_m[i, [kind[k] for k in f.produces]] = True
        if n_f > spec.max_functions or n_k > spec.max_kinds:
            raise ValueError(
                f"level {level.id!r} has {n_f} functions and {n_k} kinds; "
                f"max_functions={spec.max_functions}, max_kinds={spec.max_kinds}"
            )
        self.costs = np.array([f.cost for f in level.functions])
        self.warmups = np.array([f.warmup for f in level.functions])
        self.bit = np.uint64(1) << np.arange(n_k, dtype=np.uint64)
        self.needs_bits = [int(self.bit[row].sum()) for row in self.needs_m]
        self.produces_bits = [int(self.bit[row].sum()) for row in self.produces_m]
        self.essential_bits = sum(1 << kind[k] for k in level.essential)
        self.essential = np.zeros(n_k, bool)
        self.essential[[kind[k] for k in level.essential]] = True
        self.initial = np.zeros(n_k, bool)
        self.initial[[kind[k] for k in level.initial]] = True
        self.static = spec.static(
            n_kinds=n_k,
            goal=[kind[g.kind] for g in level.goals if g.importance == "essential"],
            bonus_goal=[kind[g.kind] for g in level.goals if g.importance != "essential"],
            functions=[
                FunctionView(
                    reads=[kind[k] for k in f.reads],
                    consumes=[kind[k] for k in f.consumes],
                    produces=[kind[k] for k in f.produces],
                    cost=f.cost,
                    failure=f.failure,
                    warmup=f.warmup,
                    warm=False,
                )
                for f in level.functions
            ],
        )
