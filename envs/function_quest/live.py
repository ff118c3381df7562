"""The live tier: calls run side by side, and reliabilities are the world's.

Two things a planner on a level's stated numbers cannot handle:

- **Hidden reliabilities.** Each episode the :class:`World` decides how
  each service behaves: with its ``outage`` probability a service is down
  and every function on it fails with probability ``outage_failure``;
  otherwise its functions fail as stated. Nothing in the observation says
  which service is down; the outcomes of the calls made so far (``tried``,
  ``failed`` per function; per kind, those of the functions reading it)
  are all there is to go on.
- **Parallel calls and makespan.** Up to the level's ``capacity`` calls run
  at once on a virtual clock; a call is paid when it starts and its outcome
  lands ``latency`` later. The episode's cost is what the calls cost plus
  ``time_cost`` times the time until the goal is held.

A decision is taken whenever a pool slot is free and some call may start:
start one (slot ``f``), or ``wait`` (the slot after the level's functions)
for the next call in flight to land. Starting a call whose products are all
held is refused unless ``idle_calls``; starting a second producer of a kind
already in flight (a hedge) is allowed. Outcomes are drawn from the episode's
seed per function and attempt, so policies played on the same seed meet the
same world and the same luck.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np
import numpy.typing as npt

from function_quest.live_baselines import (
    CriticalPath,
    baselines,
    fit_world,
    informed,
    reestimated,
    yardsticks,
)
from function_quest.live_levels import World, live_levels, timed_level
from symphony_lab.planning import (
    EnvPolicy,
    FunctionView,
    Level,
    ObservationSpec,
    Problem,
    State,
    expected_optimum,
)
from symphony_lab.planning.observation import (
    LIVE_KEYS,
    LIVE_KIND_KEYS,
    MAX_AMOUNT,
    bits,
    function_views,
)
from symphony_lab.planning.solver import expected_costs


class LiveQuestEnv(gym.Env[dict[str, Any], np.int64]):
    """One episode plays one live level in a freshly drawn world.

    ``levels``: levels with ``capacity`` and ``time_cost`` in their meta
    (default: the live training sweep; ``"live-train"``/``"live-test"``).
    ``world``: the hidden behaviour of services. ``masked``: the action mask
    allows only legal starts (and ``wait`` while a call is in flight);
    unmasked, an illegal action changes nothing and costs
    ``illegal_penalty``. ``expert``: the policy ``expert_action`` asks:
    ``"critical_path"`` (the strongest planner that does not learn, the
    default), ``"learned"`` (``learned_expert``, what the Conductor imitates),
    or a yardstick (``"informed"``, ``"oracle"``).
    The other keywords are the Conductor's settings (``plan`` is refused:
    the exact planner's advice is about the stated numbers).
    """

    metadata = {"render_modes": []}  # noqa: RUF012 - gymnasium's convention

    def __init__(
        self,
        levels: Sequence[Level] | str | None = None,
        *,
        world: World | None = None,
        masked: bool = True,
        idle_calls: bool = False,
        max_steps: int = 64,
        goal_bonus: float = 10.0,
        illegal_penalty: float = 1.0,
        cost_to_go: bool = True,
        plan: bool = False,
        solve_optimal: bool = True,
        expert: str = "critical_path",
        repeats: int = 4,
    ) -> None:
        if plan:
            raise ValueError("the live tier observes no planner's advice: make it with plan=False")
        if isinstance(levels, str) or levels is None:
            which = "train" if levels in (None, "live-train") else "test"
            if levels not in (None, "live-train", "live-test"):
                raise ValueError(f"live levels are 'live-train' or 'live-test', not {levels!r}")
            levels = live_levels(which)
        self.levels = list(levels)
        if not self.levels:
            raise ValueError("no levels to play")
        self.world = world or World()
        self.masked = masked
        self.idle_calls = idle_calls
        self.max_steps = max_steps
        self.goal_bonus = goal_bonus
        self.illegal_penalty = illegal_penalty
        self.solve_optimal = solve_optimal
        self.repeats = repeats
        self._games = {id(level): _Game(level) for level in self.levels}
        n_f = max(len(g.problem) for g in self._games.values()) + 1  # + the wait slot
        n_k = max(len(g.problem.kinds) for g in self._games.values())
        self.spec_obs = ObservationSpec(max(32, n_f), max(32, n_k), cost_to_go, False)
        for game in self._games.values():
            game.compile(self.spec_obs)
        self.observation_space = self.spec_obs.space()
        for key in LIVE_KEYS:
            self.observation_space[key] = gym.spaces.Box(
                0.0, MAX_AMOUNT, (self.spec_obs.max_functions,), np.float32
            )
        for key in LIVE_KIND_KEYS:
            self.observation_space[key] = gym.spaces.Box(
                0.0, MAX_AMOUNT, (self.spec_obs.max_kinds,), np.float32
            )
        self.action_space = gym.spaces.Discrete(self.spec_obs.max_functions)
        experts = {"learned", *baselines(), *yardsticks(self.world)}
        if expert not in experts:
            raise ValueError(f"expert must be one of {sorted(experts)}, not {expert!r}")
        self._expert_name = expert
        self._expert: EnvPolicy | None = None
        self._start(self.levels[0], np.random.default_rng(0))

    # ---- episode ----

    def _start(self, level: Level, rng: np.random.Generator) -> None:
        game = self._games.get(id(level))
        if game is None:
            game = self._games[id(level)] = _Game(level)
            game.compile(self.spec_obs)
        self.game = game
        self.level = level
        self.down, self.true_failure = self.world.draw(level, rng)
        n = len(game.problem)
        # One draw per function and attempt: the same seed, the same luck.
        self._luck = rng.random((n, self.max_steps + 1))
        self.held = game.problem.start
        self.warm = 0
        self.clock = 0.0
        self.spent = 0.0
        self.running: list[tuple[float, int, int, bool]] = []  # (lands at, order, f, succeeds)
        self.tried = np.zeros(n, np.int64)
        self.failed = np.zeros(n, np.int64)
        self.calls: list[int] = []
        self.steps = 0
        self.won = False

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, npt.NDArray[Any]], dict[str, Any]]:
        super().reset(seed=seed)
        level = (options or {}).get("level")
        if level is None:
            level = self.levels[int(self.np_random.integers(len(self.levels)))]
        self._start(level, np.random.default_rng(self.np_random.bit_generator.random_raw()))
        return self._observe(), self._info()

    def step(
        self, action: np.int64 | int
    ) -> tuple[dict[str, npt.NDArray[Any]], SupportsFloat, bool, bool, dict[str, Any]]:
        a = int(action)
        self.steps += 1
        before = self.spent + self.time_cost * self.clock
        legal = self.legal_actions()
        illegal = not (0 <= a < len(legal) and legal[a])
        if not illegal:
            if a == self.wait_slot:
                self._land()
            else:
                self._launch(a)
            self._settle()
        reward = before - (self.spent + self.time_cost * self.clock)
        if illegal:
            reward -= self.illegal_penalty
        if self.won:
            reward += self.goal_bonus
        stuck = not self.won and not self.legal_actions().any()
        truncated = not self.won and (stuck or self.steps >= self.max_steps)
        info = self._info()
        info["illegal"] = illegal
        if self.won or truncated:
            info["score"] = self.report(solved=self.won)
        return self._observe(), reward, self.won, truncated, info

    def _launch(self, f: int) -> None:
        p = self.game.problem
        self.spent += p.cost[f] + (0.0 if self.warm >> f & 1 else p.warmup[f])
        self.warm |= 1 << f
        attempt = int(self.tried[f] + sum(1 for r in self.running if r[2] == f))
        succeeds = self._luck[f, min(attempt, self._luck.shape[1] - 1)] >= self.true_failure[f]
        heapq.heappush(self.running, (self.clock + p.latency[f], len(self.calls), f, succeeds))
        self.calls.append(f)

    def _land(self) -> None:
        """Advances the clock to the next landing and applies every call
        landing then."""
        p = self.game.problem
        lands = self.running[0][0]
        while self.running and self.running[0][0] <= lands:
            _, _, f, succeeds = heapq.heappop(self.running)
            self.tried[f] += 1
            if succeeds:
                self.held = (self.held & ~p.consumes[f]) | p.produces[f]
            else:
                self.failed[f] += 1
        self.clock = lands
        self.won = p.essential & ~self.held == 0

    def _settle(self) -> None:
        """Lands calls until there is a decision to take: the goal held, or
        a call that may start, or nothing in flight."""
        while not self.won and self.running and not self._startable():
            self._land()

    # ---- state ----

    @property
    def problem(self) -> Problem:
        return self.game.problem

    @property
    def wait_slot(self) -> int:
        """The action that waits for the next call in flight to land."""
        return len(self.game.problem)

    @property
    def capacity(self) -> int:
        return int(self.level.meta.get("capacity", 1))

    @property
    def time_cost(self) -> float:
        return float(self.level.meta.get("time_cost", 0.0))

    @property
    def failures(self) -> int:
        return int(self.failed.sum())

    def held_kinds(self) -> set[str]:
        return set(self.game.problem.kinds_of(self.held))

    @property
    def in_flight(self) -> int:
        """Functions with a call in flight, as bits."""
        return sum({1 << r[2] for r in self.running})

    def in_flight_kinds(self) -> int:
        """Kinds some call in flight would make, as bits."""
        p = self.game.problem
        out = 0
        for r in self.running:
            out |= p.produces[r[2]]
        return out

    def _startable(self) -> int:
        """Functions that may start now, as bits."""
        if self.won or len(self.running) >= self.capacity:
            return 0
        p = self.game.problem
        room = self.level.budget - self.spent + 1e-9
        busy = self.in_flight
        mask = 0
        for f in range(len(p)):
            if (
                p.needs[f] & ~self.held == 0
                and not busy >> f & 1
                and p.cost[f] + (0.0 if self.warm >> f & 1 else p.warmup[f]) <= room
                and (self.idle_calls or p.produces[f] & ~self.held != 0)
            ):
                mask |= 1 << f
        return mask

    def legal_actions(self) -> npt.NDArray[np.bool_]:
        """Calls that may start, and ``wait`` while a call is in flight."""
        out = bits(self._startable(), self.spec_obs.max_functions, np.bool_).copy()
        out[self.wait_slot] = bool(self.running) and not self.won
        return out

    def action_masks(self) -> npt.NDArray[np.bool_]:
        if self.masked:
            return self.legal_actions()
        return self.game.real.copy()

    def true_failure_of(self, f: int) -> float:
        """What the world makes ``f``'s failure rate this episode (for the
        oracle only: no policy that is compared may read it)."""
        return self.true_failure[f]

    def _observe(self) -> dict[str, npt.NDArray[Any]]:
        g, spec = self.game, self.spec_obs
        p = g.problem
        n = len(p)
        obs = {key: array.copy() for key, array in g.static.items()}
        obs["held"] = bits(self.held, spec.max_kinds).copy()
        obs["warm"] = bits(self.warm, spec.max_functions).copy()
        obs["budget_left"] = np.array([self.level.budget - self.spent], np.float32)
        flying = self.in_flight_kinds() & ~self.held
        obs["reads"][n, :] = bits(flying, spec.max_kinds)
        if spec.cost_to_go:
            obs["cost_to_go"] = self._cost_to_go(flying)
        running = np.zeros(spec.max_functions, np.float32)
        running[[r[2] for r in self.running]] = 1.0
        obs["running"] = running
        for key, counts in (("tried", self.tried), ("failed", self.failed)):
            obs[key] = np.zeros(spec.max_functions, np.float32)
            obs[key][:n] = counts
        for key, counts in (("read_tried", self.tried), ("read_failed", self.failed)):
            obs[key] = np.zeros(spec.max_kinds, np.float32)
            obs[key][: len(p.kinds)] = counts @ g.reads
        obs["time_price"] = g.time_price.copy()
        if self.running:
            obs["time_price"][n] = self.time_cost * (self.running[0][0] - self.clock)
        obs["wait"] = g.wait_mark
        return obs

    def _cost_to_go(self, flying: int) -> npt.NDArray[np.float32]:
        p = self.game.problem
        out = np.full(self.spec_obs.max_functions, MAX_AMOUNT, np.float32)
        legal = self._startable()
        calls = [f for f in range(len(p)) if legal >> f & 1]
        to_go = p.h_add([p.after(f, self.held) | flying for f in calls] + [self.held | flying])
        for f, h in zip(calls, to_go, strict=False):
            out[f] = min(p.price(f, State(0, self.warm)) + self.game.time_price[f] + h, MAX_AMOUNT)
        out[self.wait_slot] = min(to_go[-1], MAX_AMOUNT)
        return out

    # ---- scores ----

    @property
    def cost(self) -> float:
        """The episode's cost so far: calls paid plus the time price."""
        return self.spent + self.time_cost * self.clock

    def report(self, *, solved: bool) -> dict[str, Any]:
        reference = self.game.reference
        return {
            "level": self.level.id,
            "difficulty": "live",
            "solved": solved,
            "calls": len(self.calls),
            "cost": self.cost,
            "optimal_cost": reference,
            "cost_ratio": self.cost / reference,
            "failures": self.failures,
            "flaky": True,
            "bonus_match": float("nan"),
            "makespan": self.clock,
            "degraded": len(self.down),
        }

    def _info(self) -> dict[str, Any]:
        return {"level": self.level.id, "calls": len(self.calls), "cost": self.cost}

    # ---- what the Conductor asks of an environment ----

    def expert_action(self) -> int:
        """The call of the expert (``expert``): ``"learned"``, the planner
        that uses a world fitted to outcomes (``learned_expert``), or a name
        of ``baselines()`` or of ``live_baselines.yardsticks``."""
        if self._expert is None:
            if self._expert_name == "learned":
                self._expert = learned_expert(self.levels, self.world)
            else:
                self._expert = (self.baselines() | yardsticks(self.world))[self._expert_name]
        return self._expert(self._observe(), self.action_masks(), self)

    def scenarios(self) -> list[dict[str, Any]]:
        """Each level ``repeats`` times: the seed differs, so the world does."""
        return [{"level": level} for level in self.levels for _ in range(self.repeats)]

    def baselines(self, seed: int = 0) -> dict[str, EnvPolicy]:
        """The policies an evaluation sets beside the Conductor."""
        return baselines(seed)


def sweep(env: LiveQuestEnv, policy: EnvPolicy) -> tuple[npt.NDArray[np.float64], float]:
    """Plays every scenario of ``env`` with ``policy``, seeds 0.. in order
    (so every policy meets the same worlds and luck): each episode's cost,
    and the share of episodes solved."""
    costs, solved = [], 0
    for seed, options in enumerate(env.scenarios()):
        obs, _ = env.reset(seed=seed, options=options)
        done = False
        while not done:
            obs, _, won, cut, info = env.step(policy(obs, env.action_masks(), env))
            done = won or cut
        costs.append(float(info["score"]["cost"]))
        solved += bool(info["score"]["solved"])
    return np.array(costs), solved / len(costs)


def learned_expert(levels: Sequence[Level], world: World, *, episodes: int = 600) -> EnvPolicy:
    """A planner that learns how services fail: it plays ``episodes``
    episodes with ``critical_path``, fits the world to their outcomes
    (``fit_world``: per service, how often it is down and how it then fails;
    never the world's own numbers), and plans as ``informed`` does with
    what it fitted."""
    env = LiveQuestEnv(levels, world=world)
    planner = CriticalPath(reestimated)
    outcomes = []
    for episode in range(episodes):
        obs, _ = env.reset(seed=_FIT_SEED + episode)
        done = False
        while not done:
            obs, _, won, cut, _ = env.step(planner(obs, env.action_masks(), env))
            done = won or cut
        outcomes.append((env.level, env.tried.copy(), env.failed.copy()))
    return CriticalPath(informed(fit_world(outcomes)))


#: Seeds of the episodes the learned expert fits its world to, apart from
#: any an evaluation plays.
_FIT_SEED = 1 << 30


class _Game:
    """A live level made ready once: its problem and static observation."""

    def __init__(self, level: Level) -> None:
        capacity, time_cost = level.meta.get("capacity", 1), level.meta.get("time_cost", 0.0)
        if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1:
            raise ValueError(f"level {level.id!r}: meta.capacity must be an integer >= 1, "
                             f"got {capacity!r}")  # fmt: skip
        if isinstance(time_cost, bool) or not isinstance(time_cost, int | float) or time_cost < 0:
            raise ValueError(f"level {level.id!r}: meta.time_cost must be a number >= 0, "
                             f"got {time_cost!r}")  # fmt: skip
        self.level = level
        self.problem = Problem(level)
        self.time_prices = [time_cost * f.latency for f in level.functions]
        plan = expected_optimum(Problem(expected_costs(timed_level(level))))
        #: The stated numbers' best serial plan's expected cost (a fixed yardstick).
        self.reference = plan.cost if plan is not None else float("nan")

    def compile(self, spec: ObservationSpec) -> None:
        p, n = self.problem, len(self.problem)
        if n + 1 > spec.max_functions:
            raise ValueError(f"level {self.level.id!r} has {n} functions; one slot must wait")
        kind = p.kinds
        views = function_views(p)
        wait = FunctionView(reads=[], consumes=[], produces=[], cost=0.0, failure=0.0,
                            warmup=0.0, warm=True)  # fmt: skip
        static = spec.static(
            n_kinds=len(kind),
            goal=[kind[k] for k in self.level.essential],
            bonus_goal=[],
            functions=[*views, wait],
        )
        self.static = {k: v.copy() for k, v in static.items()}
        self.time_price = np.zeros(spec.max_functions, np.float32)
        self.time_price[:n] = self.time_prices
        self.wait_mark = np.zeros(spec.max_functions, np.float32)
        self.wait_mark[n] = 1.0
        #: [functions, kinds]: 1 where the function reads the kind.
        self.reads = np.zeros((n, len(kind)), np.float32)
        for f, fn in enumerate(self.level.functions):
            self.reads[f, [kind[k] for k in fn.reads]] = 1.0
        self.real = np.zeros(spec.max_functions, bool)
        self.real[: n + 1] = True
