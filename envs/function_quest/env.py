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

from function_quest.baselines import (
    ExactReplanningPolicy,
    GreedyPolicy,
    RandomPolicy,
    RelaxedPlanPolicy,
)
from function_quest.catalog import LEVELS, load, resolve_levels
from function_quest.scoring import Score, score
from symphony_lab.pit import DagTracker, PoolManager, QuestEpisode
from symphony_lab.planning import (
    EnvPolicy,
    Level,
    ObservationSpec,
    Observer,
    Plan,
    Planner,
    Problem,
    State,
    expected_optimum,
)
from symphony_lab.planning.observation import bits


class FunctionQuestEnv(gym.Env[dict[str, Any], np.int64]):
    """One episode plays one level; see the module's docstring.

    ``levels``: a level, a list of them, or a name (a tier's ``train`` pack,
    ``"split-tier"``, a shipped level; see ``function_quest.resolve_levels``);
    by default the shipped levels. ``max_functions``/``max_kinds``: the
    observation's slots; ``None`` fits the largest level (at least 32).
    ``idle_calls``: a call that would change nothing (it consumes nothing and
    everything it produces is held) is refused and never offered unless this
    is true (the old rules, where an agent could repeat one until the budget
    or the step limit ended the episode). ``plan``: observe the exact
    planner's advice (``plan_next``, ``plan_calls``; see
    ``ObservationSpec.plan``), hidden in a ``plan_dropout`` share of the
    episodes, so that a policy learns to act where the search gives up.
    """

    metadata = {"render_modes": ["ansi"], "render_fps": 4}  # noqa: RUF012 - gymnasium's convention

    def __init__(
        self,
        levels: Level | Sequence[Level] | str | None = None,
        *,
        masked: bool = True,
        max_functions: int | None = None,
        max_kinds: int | None = None,
        max_steps: int = 64,
        goal_bonus: float = 10.0,
        fail_penalty: float = 1.0,
        illegal_penalty: float = 1.0,
        render_mode: str | None = None,
        solve_optimal: bool = True,
        cost_to_go: bool = False,
        idle_calls: bool = False,
        plan: bool = False,
        plan_dropout: float = 0.0,
    ) -> None:
        if levels is None:
            levels = [load(name) for name in LEVELS]
        self.levels: list[Level] = resolve_levels(levels)
        if render_mode not in (None, "ansi"):
            raise ValueError(f"render_mode must be None or 'ansi', not {render_mode!r}")
        problems = [Problem(level) for level in self.levels]
        if not 0.0 <= plan_dropout <= 1.0:
            raise ValueError(f"plan_dropout must be in [0, 1], got {plan_dropout}")
        fit = ObservationSpec.fitting(problems, cost_to_go=cost_to_go, plan=plan)
        self.spec_obs = ObservationSpec(
            fit.max_functions if max_functions is None else max_functions,
            fit.max_kinds if max_kinds is None else max_kinds,
            cost_to_go,
            plan,
        )
        self.plan_dropout = plan_dropout
        self._plan_shown = True
        for problem in problems:
            self.spec_obs.check_fits(problem)
        self.masked = masked
        self.idle_calls = idle_calls
        self.max_steps = max_steps
        self.goal_bonus = goal_bonus
        self.fail_penalty = fail_penalty
        self.illegal_penalty = illegal_penalty
        self.render_mode = render_mode
        # The exact solve is fast (it runs in the Pit) but not free; callers
        # that do not need info["optimal_cost"] may turn it off.
        self.solve_optimal = solve_optimal
        self.observation_space = self.spec_obs.space()
        self.action_space = gym.spaces.Discrete(self.spec_obs.max_functions)
        self._optimal: dict[int, tuple[Level, Plan | None]] = {}
        self._compiled: dict[int, tuple[Level, _Compiled]] = {
            id(level): (level, _Compiled(problem, self.spec_obs, idle_calls))
            for level, problem in zip(self.levels, problems, strict=True)
        }
        self._expert = Planner(expected_costs=True)
        self.level = self.levels[0]
        self._start(self.level)

    # ---- episode ----

    def _start(self, level: Level) -> None:
        compiled = self._compiled.get(id(level))
        if compiled is None or compiled[0] is not level:
            # Validated before anything changes, so a refused level leaves the
            # episode as it was.
            compiled = (level, _Compiled(Problem(level), self.spec_obs, self.idle_calls))
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
        if self.plan_dropout:
            self._plan_shown = bool(self.np_random.random() >= self.plan_dropout)
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
        if (won or truncated) and self.solve_optimal:
            info["score"] = self.report(solved=won)
        return self._observe(), reward, won, truncated, info

    # ---- state ----

    @property
    def problem(self) -> Problem:
        """The level being played, compiled: what planning policies read."""
        return self._c.problem

    def state(self) -> State:
        """Where the episode stands, as planning policies read it."""
        core = self._core
        return State(core.held, core.warm, core.budget_left)

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
        names = self._c.problem.names
        return [names[a] for a in self._core.calls]

    def legal_actions(self) -> npt.NDArray[np.bool_]:
        """Calls whose needs are held and whose cost fits the budget left
        (and which change something, unless ``idle_calls``)."""
        return bits(self._core.legal, self.spec_obs.max_functions, np.bool_).copy()

    def action_masks(self) -> npt.NDArray[np.bool_]:
        """For sb3-contrib's MaskablePPO. Masked mode: only legal calls.
        Unmasked mode: every real function (an illegal call is penalised), so
        the mask does not give preconditions away."""
        if self.masked:
            return self.legal_actions()
        return self._c.real.copy()

    def held_kinds(self) -> set[str]:
        """Kinds held now."""
        return set(self._c.problem.kinds_of(self._core.held))

    def warm_functions(self) -> set[str]:
        """Functions with a hot instance in the pool now."""
        return set(self._c.problem.functions_of(self._core.warm))

    def cost_to_go(self) -> npt.NDArray[np.float64]:
        """Per function: its cost now (warm-up if cold) plus the relaxed
        (h_add) cost-to-goal after it, computed in the Pit; ``inf`` where it
        cannot be called."""
        return np.array(self._core.cost_to_go())

    def _observe(self) -> dict[str, npt.NDArray[Any]]:
        return self._c.observer.observe(
            self.state(),
            self.cost_to_go() if self.spec_obs.cost_to_go else None,
            plan=self._plan_shown,
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
            known = self._optimal[id(self.level)] = (self.level, expected_optimum(self.problem))
        return known[1]

    def score(self, *, solved: bool) -> Score:
        """The episode played so far, against the best policy on its level
        (an unsolvable level scores as unsolved)."""
        plan = self.optimum()
        if plan is None:
            return Score(False, 0.0, float("inf"))
        extras = {g.kind: g.reward for g in self.level.goals if g.importance != "essential"}
        held = self.held_kinds()
        return score(
            solved=solved,
            calls=len(self.calls),
            cost=self.spent,
            optimal_calls=len(plan.calls),
            optimal_cost=plan.cost,
            forgone=sum(r for k, r in extras.items() if k not in held),
            optimal_forgone=sum(extras.values()) - plan.bonus,  # expected, where calls fail
        )

    def report(self, *, solved: bool) -> dict[str, Any]:
        """The episode's row for an evaluation (``info["score"]`` at its end)."""
        plan = self.optimum()
        return {
            "level": self.level.id,
            "difficulty": self.level.difficulty,
            "solved": solved,
            "calls": len(self.calls),
            "cost": self.spent,
            "optimal_cost": plan.cost if plan else float("nan"),
            # No best policy to compare with: no ratio.
            "cost_ratio": self.score(solved=solved).cost_ratio if plan else float("nan"),
            "failures": self.failures,
            "flaky": any(f.failure > 0 for f in self.level.functions),
            "bonus_match": self._bonus_match(plan),
        }

    def _bonus_match(self, plan: Plan | None) -> float:
        """1.0 when the episode ends holding the same optional goals as the
        best policy does (when every call succeeds), 0.0 when not, NaN on a
        level with no optional goal or no best policy."""
        extras = {g.kind for g in self.level.goals if g.importance != "essential"}
        if not extras or plan is None:
            return float("nan")
        return float(extras & self.held_kinds() == extras & plan.held)

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

    # ---- what the Conductor asks of an environment (symphony_lab.planning.protocol) ----

    def expert_action(self) -> int:
        """The exact planner's next call on expected costs (what the
        Conductor imitates), or the greedy one where it finds no plan."""
        call = self._expert.choose(self.problem, self.state())
        if call is not None and self.action_masks()[call]:
            return call
        return GreedyPolicy()(self._observe(), self.action_masks(), self)

    def scenarios(self) -> list[dict[str, Any]]:
        """One reset option per level: an evaluation plays each once."""
        return [{"level": level} for level in self.levels]

    def baselines(self, seed: int = 0) -> dict[str, EnvPolicy]:
        """The policies an evaluation sets beside the Conductor."""
        return {
            "random": RandomPolicy(seed),
            "greedy": GreedyPolicy(),
            "relaxed_greedy": RelaxedPlanPolicy(),
            "exact_replanning": ExactReplanningPolicy(),
        }

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


class _Compiled:
    """A level made ready once: its problem, its Pit episode core (bit masks,
    costs, latencies, failure rates) and its observer."""

    def __init__(self, problem: Problem, spec: ObservationSpec, idle_calls: bool) -> None:
        self.problem = problem
        self.observer = Observer(problem, spec, idle_calls=idle_calls)
        p = problem
        self.core = QuestEpisode(
            needs=p.needs,
            consumes=p.consumes,
            produces=p.produces,
            cost=p.cost,
            warmup=p.warmup,
            latency=p.latency,
            failure=p.failure,
            essential=p.essential,
            start=p.start,
            budget=p.level.budget,
            names=p.names,
            allow_idle=idle_calls,
        )
        self.real = np.zeros(spec.max_functions, bool)
        self.real[: len(p)] = True
