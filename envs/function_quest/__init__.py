"""Function Quest: orchestration puzzles where functions turn artifacts into
other artifacts, and the Conductor must reach the goal at the least cost.

``gymnasium.make("function_quest:FunctionQuest-v0", levels=...)`` makes the
environment. The level model and the exact solver come from
``symphony_lab.planning`` (re-exported here, as the game's own vocabulary);
this package adds the environment, the two hand-written levels
(``load("key_and_door")``, ``load("software_delivery")``), the generator,
the committed packs and the baselines.
"""

import gymnasium

from function_quest.catalog import LEVELS, load, resolve_levels
from symphony_lab.planning import (
    Function,
    Goal,
    Level,
    LevelError,
    Plan,
    brute_force,
    expected_optimum,
    solve,
)

# gymnasium >= 1.0 registers at import: gymnasium.make("function_quest:FunctionQuest-v0")
# imports this module, which makes the id known. The env has no order to
# enforce (it starts a level when made), so make() returns it unwrapped and
# its action_masks() stays in reach.
gymnasium.register(
    id="FunctionQuest-v0",
    entry_point="function_quest.env:FunctionQuestEnv",
    order_enforce=False,
)
# The live tier (function_quest.live): its training sweep, and the held-out one.
gymnasium.register(
    id="LiveQuest-v0",
    entry_point="function_quest.live:LiveQuestEnv",
    order_enforce=False,
)
gymnasium.register(
    id="LiveQuestTest-v0",
    entry_point="function_quest.live:LiveQuestEnv",
    order_enforce=False,
    kwargs={"levels": "live-test"},
)

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
    "resolve_levels",
    "solve",
]
