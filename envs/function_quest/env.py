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
from function_quest.solver import Plan, expected_optimum
from symphony_lab._pit import QuestEpisode
from symphony_lab.observation import FunctionView, ObservationSpec, bits
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
            _check_fits(level, self.spec_obs)
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
        self._optimal: dict[int, tuple[Level, Plan | None]] = {}
        self._compiled: dict[int, tuple[Level, _Compiled]] = {}
        self.level = self.levels[0]
        self._start(self.level)

    # ---- episode ----

    def _start(self, level: Level) -> None:
        compiled = self._compiled.get(id(level))
        if compiled is None or compiled[0] is not level:
            # Validated before anything changes, so a refused level leaves the
            # episode as it was.
            compiled = (level, _Compiled(level, self.spec_obs))
            if len(self._compiled) > 4096:
                self._compiled.clear()
            self._compiled[id(level)] = compiled
        self.level = level
        self._c = compiled[1]
        self._core = self._c.core
        self.steps = 0
        self.pool = PoolManager(clock="virtual", reaper_interval=None, event_capacity=0)
        self._dag = DagTracker()
        self._core.reset(self.pool, self._dag, self.np_random.bit_generator.random_raw())

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
        # One Pit call: legality, the pool's lease and clock, the failure
        # draw, the DAG record and the next legal set.
        cost, illegal, failed, won, stuck = self._core.step(int(action))
        self.steps += 1
        reward = -cost
        if illegal:
            reward -= self.illegal_penalty
        if failed:
            reward -= self.fail_penalty
        if won:
            reward += self.goal_bonus + self.level.reward_for(self.held_kinds())
        # A spent budget shows as no legal call (a free call may still be legal).
        truncated = not won and (stuck or self.steps >= self.max_steps)
        info = self._info()
        info["illegal"] = illegal
        return self._observe(), reward, won, truncated, info

    # ---- state ----

    @property
    def spent(self) -> float:
        """Cost paid so far this episode, warm-ups and failed calls included."""
        return float(self._core.spent)

    @property
    def failures(self) -> int:
        return int(self._core.failures)

    @property
    def calls(self) -> list[str]:
        """Functions called so far, in order, failed calls included."""
        names = self._c.names
        return [names[a] for a in self._core.calls]

    def legal_actions(self) -> npt.NDArray[np.bool_]:
        """Calls whose needs are held and whose cost fits the budget left."""
        return bits(self._core.legal, self.action_space.n, np.bool_).copy()

    def action_masks(self) -> npt.NDArray[np.bool_]:
        """For sb3-contrib's MaskablePPO. Masked mode: only legal calls.
        Unmasked mode: every real function (an illegal call is penalised), so
        the mask does not give preconditions away."""
        if self.masked:
            return self.legal_actions()
        return self._c.real.copy()

    def held_kinds(self) -> set[str]:
        """Kinds held now."""
        held = self._core.held
        return {k for i, k in enumerate(self.level.kinds) if held >> i & 1}

    def warm_functions(self) -> set[str]:
        """Functions with a hot instance in the pool now."""
        warm = self._core.warm
        return {name for i, name in enumerate(self._c.names) if warm >> i & 1}

    def cost_to_go(self) -> npt.NDArray[np.float64]:
        """Per function: its cost now (warm-up if cold) plus the relaxed
        (h_add) cost-to-goal after it, computed in the Pit; ``inf`` where it
        cannot be called."""
        return np.array(self._core.cost_to_go())

    def _observe(self) -> dict[str, npt.NDArray[Any]]:
        core = self._core
        return self.spec_obs.with_state(
            self._c.static,
            held=core.held,
            warm=core.warm,
            budget_left=core.budget_left,
            cost_to_go=self.cost_to_go() if self.spec_obs.cost_to_go else None,
        )

    def optimal_cost(self) -> float | None:
        """The best policy's expected cost on this level (``expected_optimum``:
        the exact optimum on a deterministic level); ``None`` when unsolvable
        or when ``solve_optimal`` is off."""
        if not self.solve_optimal:
            return None
        plan = self.optimum()
        return None if plan is None else plan.cost

    def optimum(self) -> Plan | None:
        """The best policy on this level (``expected_optimum``), computed once
        per level; ``None`` when no policy wins for sure."""
        known = self._optimal.get(id(self.level))
        if known is None or known[0] is not self.level:
            known = self._optimal[id(self.level)] = (self.level, expected_optimum(self.level))
        return known[1]

    def _info(self) -> dict[str, Any]:
        core = self._core
        return {
            "level": self.level.id,
            "calls": core.call_count,
            "cost": core.spent,
            "optimal_cost": self.optimal_cost(),
            "failures": core.failures,
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
        held = self.held_kinds()
        lines = [
            f"{level.title} [{level.id}]  spent {self.spent:g} of {level.budget:g}, "
            f"{len(self.calls)} calls, {self.failures} failed",
            "held:  " + ", ".join(sorted(held)),
            "goals: "
            + ", ".join(
                f"{g.kind}{'*' if g.kind in held else ''} ({g.importance})" for g in level.goals
            ),
        ]
        legal = self.legal_actions()
        for a, f in enumerate(level.functions):
            mark = ">" if legal[a] else " "
            lines.append(f" {mark} {a:2d} {f.name:24s} cost {f.cost:g}")
        return "\n".join(lines)


def _check_fits(level: Level, spec: ObservationSpec) -> None:
    n_f, n_k = len(level.functions), len(level.kinds)
    if n_f > spec.max_functions or n_k > spec.max_kinds:
        raise ValueError(
            f"level {level.id!r} has {n_f} functions and {n_k} kinds; "
            f"max_functions={spec.max_functions}, max_kinds={spec.max_kinds}"
        )
    if n_f > 64 or n_k > 64:
        raise ValueError(
            f"level {level.id!r} has {n_f} functions and {n_k} kinds; the Pit "
            "plays levels of at most 64 of each"
        )


class _Compiled:
    """A level made ready once: its Pit episode core (bit masks, costs,
    latencies, failure rates) and the static part of its observation."""

    def __init__(self, level: Level, spec: ObservationSpec) -> None:
        _check_fits(level, spec)
        n_f, n_k = len(level.functions), len(level.kinds)
        kind = {k: i for i, k in enumerate(level.kinds)}

        def mask(kinds: Sequence[str]) -> int:
            return sum(1 << kind[k] for k in set(kinds))

        fs = level.functions
        self.names = [f.name for f in fs]
        self.core = QuestEpisode(
            needs=[mask(f.needs) for f in fs],
            consumes=[mask(f.consumes) for f in fs],
            produces=[mask(f.produces) for f in fs],
            cost=[f.cost for f in fs],
            warmup=[f.warmup for f in fs],
            latency=[f.latency for f in fs],
            failure=[f.failure for f in fs],
            essential=mask(level.essential),
            start=mask(level.initial),
            budget=level.budget,
            names=self.names,
        )
        self.real = np.zeros(spec.max_functions, bool)
        self.real[:n_f] = True
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
                for f in fs
            ],
        )
