"""The level model: a typed planning problem with a story.

Function Quest's levels and the Stage's goal runs are both levels: the
Conductor and the planner read them the same way.

Artifact *kinds* are what functions read, consume and produce. A state is
the set of kinds held. A call of a function needs every kind it reads or
consumes; it removes what it consumes and adds what it produces. The level
is won when every essential goal kind is held; recommended and optional
goals held at that moment add their reward. The schema of the TOML form is
in ``envs/README.md``.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

import tomli_w

#: Bumped when the level schema changes meaning.
LEVEL_SCHEMA_VERSION = 1


class LevelError(ValueError):
    """A level is malformed; the message names the file (when read from one),
    then the field at fault, e.g. ``door.toml: functions[2].cost: must be >= 0,
    got -1``."""

    def __init__(self, field: str, problem: str, source: str | None = None) -> None:
        super().__init__(f"{source}: {field}: {problem}" if source else f"{field}: {problem}")
        self.field = field
        self.problem = problem
        self.source = source

    def at(self, source: str) -> LevelError:
        """The same error, naming the file it came from."""
        return LevelError(self.field, self.problem, source)


Importance = Literal["essential", "recommended", "optional"]
IMPORTANCE: tuple[Importance, ...] = ("essential", "recommended", "optional")
DIFFICULTIES = ("tutorial", "easy", "medium", "hard", "expert", "custom")


@dataclass(frozen=True)
class Function:
    """A model or tool the Conductor may call."""

    name: str
    #: What a call shows, in words (the "return value" a player reads).
    returns: str = ""
    reads: tuple[str, ...] = ()
    consumes: tuple[str, ...] = ()
    produces: tuple[str, ...] = ()
    cost: float = 1.0
    latency: float = 1.0
    #: Probability that a call fails: its cost is paid, nothing changes.
    failure: float = 0.0
    #: Extra cost of the first call, while the function is cold.
    warmup: float = 0.0
    quality: float = 1.0
    #: The function this one is a fallback for (same outputs, other terms).
    fallback_for: str | None = None
    #: Rebuilds an earlier artifact from a later one.
    reverse: bool = False

    @property
    def needs(self) -> frozenset[str]:
        return frozenset(self.reads) | frozenset(self.consumes)


@dataclass(frozen=True)
class Goal:
    kind: str
    importance: Importance = "essential"
    reward: float = 0.0


@dataclass(frozen=True)
class Level:
    id: str
    title: str
    story: str
    #: Artifact kinds by name, each with a description.
    kinds: Mapping[str, str]
    initial: tuple[str, ...]
    goals: tuple[Goal, ...]
    functions: tuple[Function, ...]
    budget: float
    difficulty: str = "custom"
    seed: int | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check(self)

    # ---- views ----

    @property
    def kind_names(self) -> tuple[str, ...]:
        return tuple(self.kinds)

    def function(self, name: str) -> Function:
        for f in self.functions:
            if f.name == name:
                return f
        raise KeyError(f"no function {name!r} in level {self.id!r}")

    @property
    def essential(self) -> frozenset[str]:
        return frozenset(g.kind for g in self.goals if g.importance == "essential")

    @property
    def deterministic(self) -> bool:
        return all(f.failure == 0 for f in self.functions)

    def reward_for(self, held: Iterable[str]) -> float:
        """Rewards of the goals held, essential ones included."""
        have = set(held)
        return sum(g.reward for g in self.goals if g.kind in have)

    # ---- TOML ----

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Level:
        return _from_dict(data)

    @classmethod
    def from_toml(cls, source: str | Path) -> Level:
        """Reads a level from a ``.toml`` path or from TOML text; errors name
        the file."""
        path = Path(source) if isinstance(source, Path) or _is_path(source) else None
        if path is None:
            return _parse(str(source), None)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise LevelError("file", f"cannot be read: {e}", str(path)) from None
        return _parse(text, str(path))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "title": self.title,
            "difficulty": self.difficulty,
            "budget": self.budget,
            "story": self.story,
            "initial": list(self.initial),
            "kinds": dict(self.kinds),
            "goals": [asdict(g) for g in self.goals],
            "functions": [_function_dict(f) for f in self.functions],
        }
        if self.seed is not None:
            out["seed"] = self.seed
        if self.meta:
            out["meta"] = dict(self.meta)
        return out

    def to_toml(self, path: str | Path | None = None) -> str:
        """The level as TOML; also written to ``path`` when given."""
        text = tomli_w.dumps(self.to_dict(), multiline_strings=True)
        if path is not None:
            Path(path).write_text(text)
        return text


def _is_path(source: str) -> bool:
    return "\n" not in source and source.lower().endswith(".toml")


def _parse(text: str, source: str | None) -> Level:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise LevelError("toml", str(e), source) from None
    try:
        return _from_dict(data)
    except LevelError as e:
        raise (e.at(source) if source else e) from None


def _function_dict(f: Function) -> dict[str, Any]:
    d = asdict(f)
    for key in ("reads", "consumes", "produces"):
        d[key] = list(d[key])
    if d["fallback_for"] is None:
        del d["fallback_for"]
    return d


_FUNCTION_FIELDS = {f for f in Function.__dataclass_fields__}
_GOAL_FIELDS = {"kind", "importance", "reward"}
_LEVEL_FIELDS = {
    "id",
    "title",
    "story",
    "kinds",
    "initial",
    "goals",
    "functions",
    "budget",
    "difficulty",
    "seed",
    "meta",
}


def _unknown(where: str, data: Mapping[str, Any], allowed: set[str]) -> None:
    extra = sorted(set(data) - allowed)
    if extra:
        raise LevelError(f"{where}{extra[0]}", f"unknown field; expected one of {sorted(allowed)}")


def _strings(where: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise LevelError(where, f"must be a list of kind names, got {value!r}")
    return tuple(value)


def _number(where: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise LevelError(where, f"must be a number, got {value!r}")
    return float(value)


def _text(where: str, value: Any) -> str:
    if not isinstance(value, str):
        raise LevelError(where, f"must be a string, got {value!r}")
    return value


def _flag(where: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise LevelError(where, f"must be true or false, got {value!r}")
    return value


def _table(where: str, value: Any) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise LevelError(where, f"must be a table, got {value!r}")
    return value


def _tables(where: str, value: Any) -> list[Mapping[str, Any]]:
    if not isinstance(value, list):
        raise LevelError(where, f"must be a list of tables, got {value!r}")
    return [_table(f"{where}[{i}]", item) for i, item in enumerate(value)]


def _from_dict(data: Mapping[str, Any]) -> Level:
    _unknown("", data, _LEVEL_FIELDS)
    for key in ("id", "kinds", "initial", "goals", "functions", "budget"):
        if key not in data:
            raise LevelError(key, "missing")
    kinds = _table("kinds", data["kinds"])
    for name, description in kinds.items():
        _text(f"kinds.{name}", description)
    goals = []
    for i, g in enumerate(_tables("goals", data["goals"])):
        where = f"goals[{i}]."
        _unknown(where, g, _GOAL_FIELDS)
        if "kind" not in g:
            raise LevelError(f"{where}kind", "missing")
        # Any other importance is refused by check(), naming the field.
        importance = cast(Importance, _text(f"{where}importance", g.get("importance", "essential")))
        goals.append(
            Goal(
                kind=_text(f"{where}kind", g["kind"]),
                importance=importance,
                reward=_number(f"{where}reward", g.get("reward", 0.0)),
            )
        )
    functions = []
    for i, f in enumerate(_tables("functions", data["functions"])):
        where = f"functions[{i}]."
        _unknown(where, f, _FUNCTION_FIELDS)
        if "name" not in f:
            raise LevelError(f"{where}name", "missing")
        # The fields given, each checked; the rest keep Function's defaults.
        checked: dict[str, Any] = {
            k: _number(f"{where}{k}", f[k])
            for k in ("cost", "latency", "failure", "warmup", "quality")
            if k in f
        }
        checked |= {
            k: _strings(f"{where}{k}", f[k]) for k in ("reads", "consumes", "produces") if k in f
        }
        checked |= {k: _text(f"{where}{k}", f[k]) for k in ("returns", "fallback_for") if k in f}
        if "reverse" in f:
            checked["reverse"] = _flag(f"{where}reverse", f["reverse"])
        functions.append(Function(name=_text(f"{where}name", f["name"]), **checked))
    seed = data.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise LevelError("seed", f"must be an integer, got {seed!r}")
    return Level(
        id=_text("id", data["id"]),
        title=_text("title", data.get("title", data["id"])),
        story=_text("story", data.get("story", "")),
        kinds=dict(kinds),
        initial=_strings("initial", data["initial"]),
        goals=tuple(goals),
        functions=tuple(functions),
        budget=_number("budget", data["budget"]),
        difficulty=_text("difficulty", data.get("difficulty", "custom")),
        seed=seed,
        meta=dict(_table("meta", data.get("meta", {}))),
    )


def check(level: Level) -> None:
    """Refuses a malformed level with a `LevelError` naming the field."""
    kinds = set(level.kinds)
    if not level.id:
        raise LevelError("id", "must not be empty")
    if level.difficulty not in DIFFICULTIES:
        raise LevelError(
            "difficulty", f"must be one of {list(DIFFICULTIES)}, got {level.difficulty!r}"
        )
    if not (math.isfinite(level.budget) and level.budget > 0):
        raise LevelError("budget", f"must be finite and > 0, got {level.budget}")
    for i, k in enumerate(level.initial):
        if k not in kinds:
            raise LevelError(f"initial[{i}]", f"unknown kind {k!r}")
    if not level.goals:
        raise LevelError("goals", "a level needs at least one goal")
    seen_goals: set[str] = set()
    for i, g in enumerate(level.goals):
        if g.kind not in kinds:
            raise LevelError(f"goals[{i}].kind", f"unknown kind {g.kind!r}")
        if g.kind in seen_goals:
            raise LevelError(f"goals[{i}].kind", f"duplicate goal {g.kind!r}")
        seen_goals.add(g.kind)
        if g.importance not in IMPORTANCE:
            raise LevelError(
                f"goals[{i}].importance", f"must be one of {list(IMPORTANCE)}, got {g.importance!r}"
            )
        if not (math.isfinite(g.reward) and g.reward >= 0):
            raise LevelError(f"goals[{i}].reward", f"must be finite and >= 0, got {g.reward}")
    if not any(g.importance == "essential" for g in level.goals):
        raise LevelError("goals", "at least one goal must be essential")
    if level.essential <= set(level.initial):
        raise LevelError("initial", "already holds every essential goal: nothing to do")
    names: set[str] = set()
    for i, f in enumerate(level.functions):
        where = f"functions[{i}]"
        if not f.name:
            raise LevelError(f"{where}.name", "must not be empty")
        if f.name in names:
            raise LevelError(f"{where}.name", f"duplicate function name {f.name!r}")
        names.add(f.name)
        for key in ("reads", "consumes", "produces"):
            for j, k in enumerate(getattr(f, key)):
                if k not in kinds:
                    raise LevelError(f"{where}.{key}[{j}]", f"unknown kind {k!r}")
        if not f.produces:
            raise LevelError(f"{where}.produces", "a function must produce at least one kind")
        for key in ("cost", "latency", "warmup"):
            v = getattr(f, key)
            if not (math.isfinite(v) and v >= 0):
                raise LevelError(f"{where}.{key}", f"must be finite and >= 0, got {v}")
        for key in ("failure", "quality"):
            v = getattr(f, key)
            if not 0 <= v <= 1:
                raise LevelError(f"{where}.{key}", f"must be in [0, 1], got {v}")
        if f.failure >= 1:
            raise LevelError(f"{where}.failure", "a function that always fails can never help")
    for i, f in enumerate(level.functions):
        if f.fallback_for is not None and f.fallback_for not in names:
            raise LevelError(f"functions[{i}].fallback_for", f"unknown function {f.fallback_for!r}")
    reachable = relaxed_reachable(level)
    for i, g in enumerate(level.goals):
        if g.importance == "essential" and g.kind not in reachable:
            raise LevelError(
                f"goals[{i}].kind", f"goal {g.kind!r} is unreachable from the initial artifacts"
            )


def relaxed_reachable(level: Level) -> set[str]:
    """Kinds some sequence of calls could ever produce, ignoring consumption
    (a superset of what is truly reachable; equal when nothing is consumed)."""
    held = set(level.initial)
    changed = True
    while changed:
        changed = False
        for f in level.functions:
            if f.needs <= held and not set(f.produces) <= held:
                held |= set(f.produces)
                changed = True
    return held


def needed_kinds(level: Level, goals: Iterable[str] | None = None) -> set[str]:
    """Kinds that matter for ``goals`` (the essential goals by default): the
    goals, and what any function producing a needed kind needs, to a fixed
    point."""
    needed = set(level.essential if goals is None else goals)
    changed = True
    while changed:
        changed = False
        for f in level.functions:
            if set(f.produces) & needed and not f.needs <= needed:
                needed |= f.needs
                changed = True
    return needed
