"""Function Quest: orchestration puzzles where functions turn artifacts into
other artifacts, and the Conductor must reach the goal at the least cost.

``gymnasium.make("function_quest:FunctionQuest-v0", levels=...)`` makes the
environment. Also: the level model (``Level``, TOML in and out, validation), the two
hand-written levels (``load("key_and_door")``, ``load("software_delivery")``)
and the exact solver for deterministic levels (``solve``).
"""

from importlib.resources import files

import gymnasium

from function_quest.errors import LevelError
from function_quest.level import Function, Goal, Level
from function_quest.solver import Plan, brute_force, expected_optimum, solve

LEVELS = ("key_and_door", "software_delivery")


def load(name: str) -> Level:
    """One of the hand-written levels shipped with the package, by name."""
    if name not in LEVELS:
        raise KeyError(f"no level {name!r}; shipped levels: {', '.join(LEVELS)}")
    return Level.from_toml(files("function_quest").joinpath("levels", f"{name}.toml").read_text())


# gymnasium >= 1.0 registers at import: gymnasium.make("function_quest:FunctionQuest-v0")
# imports this module, which makes the id known.
gymnasium.register(id="FunctionQuest-v0", entry_point="function_quest.env:FunctionQuestEnv")

__all__ = [
    "LEVELS",
    "Function",
    "Goal",
    "Level",
    "LevelError",
    "Plan",
    "brute_force",
    "expected_optimum",
    "load",
    "solve",
]
