"""Function Quest in the Lab, under ``/symphony/api/quest``: the packs and
their levels, a level's graph with the exact solver's plan, games played
call by call (a game is an env held by the server), and a trained
Conductor's play of the same level (in a worker process: PyTorch never
loads in the server).

Routes: ``GET quest/packs``, ``GET quest/packs/<pack>`` (its levels),
``GET quest/packs/<pack>/<index>`` (the level, its graph, the solver's
plan), ``POST quest/games`` (``{pack, index, seed}``: a new game),
``POST quest/games/<id>/call`` (``{function}``), ``DELETE quest/games/<id>``,
``POST quest/conductor`` (``{checkpoint, pack, index}``: the Conductor's play).
"""

from __future__ import annotations

import functools
import json
import secrets
import subprocess
import sys
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

from function_quest.catalog import resolve_levels
from function_quest.env import FunctionQuestEnv
from function_quest.generator import TIERS
from function_quest.packs import OOD, SPLITS
from jupyter_server.auth.decorator import authorized
from tornado import web

from symphony_jupyter.base import Busy, ServiceHandler
from symphony_lab.planning import Level, SearchLimitError, solve
from symphony_lab.runs.params import inside

#: States the solver may visit for a level's plan before it says it gave up.
PLAN_STATES = 200_000
#: Games kept at once; the oldest goes first.
MAX_GAMES = 64
#: Seconds a Conductor's play may take (PyTorch's start-up included).
CONDUCTOR_S = 180.0
#: Conductor plays at once (each a process that loads PyTorch); more are refused.
CONDUCTOR_PLAYS = 2
#: The graph's colours (js/src/dag_canvas.ts COLOURS), by meaning.
NOT_HELD, CALLABLE, CALLED, HELD, MISSED, GOAL = 0, 1, 2, 3, 4, 5
NAMES = ["not held / not callable", "callable", "last call", "held", "failed", "goal"]


class QuestError(ValueError):
    """A pack, level, game or call that is not there."""


@functools.lru_cache(maxsize=32)
def _levels(pack: str) -> tuple[Level, ...]:
    if pack not in packs():
        raise QuestError(f"no pack {pack!r}; packs: {', '.join(packs())}")
    return tuple(resolve_levels(pack))


@functools.cache
def packs() -> list[str]:
    return [f"{split}-{tier}" for split in SPLITS for tier in TIERS] + [f"ood-{f}" for f in OOD]


def level_of(pack: str, index: int) -> Level:
    levels = _levels(pack)
    if not 0 <= index < len(levels):
        raise QuestError(f"pack {pack} has levels 0 to {len(levels) - 1}, not {index}")
    return levels[index]


def graph(level: Level, held: set[str], callable_: set[str], last: str | None) -> dict[str, Any]:
    """The level as a layered drawing (js/src/dag_canvas.ts's Graph): kinds
    and functions, a kind's layer its depth from the start, a function's
    one past its deepest need; edges from needs to function to products."""
    depth: dict[str, int] = {k: 0 for k in level.initial}
    fdepth: dict[str, int] = {}
    changed = True
    while changed:
        changed = False
        for f in level.functions:
            if f.name in fdepth or not all(k in depth for k in f.needs):
                continue
            fdepth[f.name] = 1 + max((depth[k] for k in f.needs), default=0)
            changed = True
            for k in f.produces:
                if k not in depth:
                    depth[k] = fdepth[f.name] + 1
    deepest = max([*depth.values(), *fdepth.values(), 0]) + 1
    for k in level.kinds:
        depth.setdefault(k, deepest + 1)
    for f in level.functions:
        fdepth.setdefault(f.name, deepest)
    goals = {g.kind for g in level.goals}
    nodes: list[tuple[str, int, int]] = [
        (k, depth[k], _kind_state(k, held, goals)) for k in level.kinds
    ]
    for f in level.functions:
        state = CALLED if f.name == last else CALLABLE if f.name in callable_ else NOT_HELD
        nodes.append((f.name, fdepth[f.name], state))
    nodes.sort(key=lambda n: n[1])
    index = {name: i for i, (name, _, _) in enumerate(nodes)}
    across: dict[int, int] = {}
    x = []
    for _, layer, _ in nodes:
        x.append(across.get(layer, 0))
        across[layer] = across.get(layer, 0) + 1
    edges = []
    for f in level.functions:
        for k in f.needs:
            edges.append([index[k], index[f.name], []])
        for k in f.produces:
            edges.append([index[f.name], index[k], []])
    return {
        "keys": [name for name, _, _ in nodes],
        "layer": [layer for _, layer, _ in nodes],
        "x": x,
        "edges": edges,
        "states": [state for _, _, state in nodes],
        "names": NAMES,
        "height": 420,
        "functions": [f.name for f in level.functions],
    }


def _kind_state(kind: str, held: set[str], goals: set[str]) -> int:
    if kind in held:
        return HELD
    return GOAL if kind in goals else NOT_HELD


class Game:
    """One level played call by call: an env of its own."""

    def __init__(self, pack: str, index: int, seed: int) -> None:
        self.pack, self.index = pack, index
        self.level = level_of(pack, index)
        self.env = FunctionQuestEnv([self.level], solve_optimal=False, max_steps=200)
        self.env.reset(seed=seed, options={"level": self.level})
        self.calls: list[dict[str, Any]] = []
        self.done = False
        self.won = False
        self.lock = threading.Lock()

    def call(self, function: str) -> dict[str, Any]:
        with self.lock:
            if self.done:
                raise QuestError("this game is over: start another")
            names = self.env.problem.names
            if function not in names:
                raise QuestError(f"level {self.level.id} has no function {function!r}")
            action = names.index(function)
            if not self.env.action_masks()[action]:
                raise QuestError(f"{function} cannot be called now: its inputs are not held")
            failures = self.env.failures
            _, reward, terminated, truncated, _ = self.env.step(action)
            failed = self.env.failures > failures
            self.calls.append({"call": function, "failed": failed, "reward": float(reward)})
            self.done = terminated or truncated
            self.won = (
                terminated and not truncated and self.level.essential <= self.env.held_kinds()
            )
            return self.state(last=function, failed=failed)

    def state(self, last: str | None = None, failed: bool = False) -> dict[str, Any]:
        env = self.env
        held = env.held_kinds()
        mask = env.action_masks()
        callable_ = {n for n, ok in zip(env.problem.names, mask, strict=False) if ok}
        drawn = graph(self.level, held, callable_, last)
        if failed and last is not None:
            drawn["states"][drawn["keys"].index(last)] = MISSED
        return {
            "held": sorted(held),
            "callable": sorted(callable_),
            "calls": self.calls,
            "spent": env.spent,
            "failures": env.failures,
            "done": self.done,
            "won": self.won,
            "graph": drawn,
        }


class QuestService:
    def __init__(self, runs_dir: Path) -> None:
        self.runs_dir = runs_dir
        self._games: OrderedDict[str, Game] = OrderedDict()
        self._lock = threading.Lock()
        self._plays = threading.BoundedSemaphore(CONDUCTOR_PLAYS)

    def levels(self, pack: str) -> list[dict[str, Any]]:
        return [
            {
                "index": i,
                "id": lv.id,
                "title": lv.title,
                "difficulty": lv.difficulty,
                "functions": len(lv.functions),
                "flaky": not lv.deterministic,
            }
            for i, lv in enumerate(_levels(pack))
        ]

    def level(self, pack: str, index: int) -> dict[str, Any]:
        lv = level_of(pack, index)
        try:
            plan = solve(lv, max_states=PLAN_STATES)
            found: dict[str, Any] | None = (
                None
                if plan is None
                else {"calls": list(plan.calls), "cost": plan.cost, "bonus": plan.bonus}
            )
            why = "" if plan else "no plan wins this level within its budget"
        except SearchLimitError:
            found, why = None, f"the solver gave up after {PLAN_STATES:,} states"
        return {
            "pack": pack,
            "index": index,
            "level": lv.to_dict(),
            "graph": graph(lv, set(lv.initial), set(), None),
            "plan": found,
            "plan_note": why,
        }

    def new_game(self, pack: str, index: int, seed: int) -> dict[str, Any]:
        game = Game(pack, index, seed)
        gid = secrets.token_hex(8)
        with self._lock:
            self._games[gid] = game
            while len(self._games) > MAX_GAMES:
                self._games.popitem(last=False)
        return {"game": gid, **game.state()}

    def call(self, gid: str, function: str) -> dict[str, Any]:
        return {"game": gid, **self._game(gid).call(function)}

    def end(self, gid: str) -> None:
        with self._lock:
            if self._games.pop(gid, None) is None:
                raise LookupError(f"no game {gid!r}")

    def _game(self, gid: str) -> Game:
        with self._lock:
            game = self._games.get(gid)
            if game is not None:
                self._games.move_to_end(gid)  # the least recently played go first
        if game is None:
            raise LookupError(f"no game {gid!r} (games end when {MAX_GAMES} newer ones start)")
        return game

    def conductor(self, checkpoint: str, pack: str, index: int) -> dict[str, Any]:
        """The Conductor of ``checkpoint`` (a path inside the runs folder)
        plays the level, in a process of its own."""
        level_of(pack, index)
        path = inside(self.runs_dir, checkpoint)
        if not self._plays.acquire(blocking=False):
            raise Busy(f"{CONDUCTOR_PLAYS} Conductor plays are running: try again when one ends")
        try:
            # subprocess.run kills the process when the time is up.
            command = [sys.executable, "-P", "-m", "symphony_lab.conductor.episode"]
            done = subprocess.run(
                [*command, str(path), pack, str(index)],
                capture_output=True,
                text=True,
                timeout=CONDUCTOR_S,
            )
        except subprocess.TimeoutExpired:
            raise TimeoutError(f"the Conductor took over {CONDUCTOR_S:.0f} s") from None
        finally:
            self._plays.release()
        if done.returncode != 0:
            raise QuestError(f"the Conductor could not play: {done.stderr.strip()[-2000:]}")
        episode: dict[str, Any] = json.loads(done.stdout)
        return episode


class QuestHandler(ServiceHandler):
    def initialize(self, service: QuestService) -> None:
        self.service = service


class PacksHandler(QuestHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        self.finish(json.dumps({"packs": packs()}))


class LevelsHandler(QuestHandler):
    @web.authenticated
    @authorized
    async def get(self, pack: str) -> None:
        await self.answer(self.service.levels, pack)


class LevelHandler(QuestHandler):
    @web.authenticated
    @authorized
    async def get(self, pack: str, index: str) -> None:
        await self.answer(self.service.level, pack, int(index))


class GamesHandler(QuestHandler):
    @web.authenticated
    @authorized
    async def post(self) -> None:
        data = self.body()
        pack = self.field(data, "pack", str)
        index = self.field(data, "index", int)
        seed = self.field(data, "seed", int, 0)
        await self.answer(self.service.new_game, pack, index, seed)


class GameCallHandler(QuestHandler):
    @web.authenticated
    @authorized
    async def post(self, gid: str) -> None:
        function = self.field(self.body(), "function", str)
        await self.answer(self.service.call, gid, function)


class GameHandler(QuestHandler):
    @web.authenticated
    @authorized
    async def delete(self, gid: str) -> None:
        await self.answer(self.service.end, gid)


class ConductorPlayHandler(QuestHandler):
    @web.authenticated
    @authorized
    async def post(self) -> None:
        data = self.body()
        checkpoint = self.field(data, "checkpoint", str)
        pack = self.field(data, "pack", str)
        index = self.field(data, "index", int)
        await self.answer(self.service.conductor, checkpoint, pack, index)


def routes(base: str, service: QuestService) -> list[tuple[str, type, dict[str, Any]]]:
    options = {"service": service}
    q = f"{base}/quest"
    return [
        (f"{q}/packs", PacksHandler, options),
        (rf"{q}/packs/(?P<pack>[^/]+)", LevelsHandler, options),
        (rf"{q}/packs/(?P<pack>[^/]+)/(?P<index>\d+)", LevelHandler, options),
        (f"{q}/games", GamesHandler, options),
        (rf"{q}/games/(?P<gid>[0-9a-f]+)/call", GameCallHandler, options),
        (rf"{q}/games/(?P<gid>[0-9a-f]+)", GameHandler, options),
        (f"{q}/conductor", ConductorPlayHandler, options),
    ]
