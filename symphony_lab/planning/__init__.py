"""The planning model: what a run is about, independent of where it runs.

- :mod:`~symphony_lab.planning.level`: levels (kinds, functions, goals,
  budget), validated, in TOML and out;
- :mod:`~symphony_lab.planning.problem`: a level compiled once to the Pit's
  bit masks, and the :class:`State` of a run on it;
- :mod:`~symphony_lab.planning.solver`: the exact solver and the best
  policy's expectation when calls fail, searched in the Pit;
- :mod:`~symphony_lab.planning.observation`: the Conductor's observation of a
  problem in a state;
- :mod:`~symphony_lab.planning.protocol`: the :class:`Policy` a run asks for
  its next call, and the environment protocol the Conductor trains on;
- :mod:`~symphony_lab.planning.planner`: the exact planner as a Policy.

Function Quest (the game) and the Stage's goal runs both build on it, so a
policy trained in the one acts in the other.
"""

from symphony_lab.planning.level import (
    DIFFICULTIES,
    IMPORTANCE,
    LEVEL_SCHEMA_VERSION,
    Function,
    Goal,
    Level,
    LevelError,
    needed_kinds,
    relaxed_reachable,
)
from symphony_lab.planning.observation import (
    LIVE_KEYS,
    LIVE_KIND_KEYS,
    MAX_AMOUNT,
    OBSERVATION_VERSION,
    FunctionView,
    ObservationSpec,
    Observer,
)
from symphony_lab.planning.planner import Planner
from symphony_lab.planning.problem import MAX_BITS, Problem, State
from symphony_lab.planning.protocol import ConductorEnv, EnvPolicy, Observation, Policy
from symphony_lab.planning.solver import (
    Plan,
    SearchLimitError,
    brute_force,
    expected_costs,
    expected_optimum,
    solve,
    solve_from,
)

__all__ = [
    "DIFFICULTIES",
    "IMPORTANCE",
    "LEVEL_SCHEMA_VERSION",
    "LIVE_KEYS",
    "LIVE_KIND_KEYS",
    "MAX_AMOUNT",
    "MAX_BITS",
    "OBSERVATION_VERSION",
    "ConductorEnv",
    "EnvPolicy",
    "Function",
    "FunctionView",
    "Goal",
    "Level",
    "LevelError",
    "Observation",
    "ObservationSpec",
    "Observer",
    "Plan",
    "Planner",
    "Policy",
    "Problem",
    "SearchLimitError",
    "State",
    "brute_force",
    "expected_costs",
    "expected_optimum",
    "needed_kinds",
    "relaxed_reachable",
    "solve",
    "solve_from",
]
