"""What the layers above ask of a policy and of an environment.

- :class:`Policy`: chooses the next call of a run from a :class:`Problem` and
  a :class:`State`. The Stage's goal runs ask one (the exact planner, or a
  trained Conductor) at every step; no gymnasium environment is involved.
- :class:`ConductorEnv`: a gymnasium environment the Conductor trains in. Its
  observations are this package's (:class:`ObservationSpec`), and
  ``action_masks()`` says which actions are allowed, as sb3-contrib's
  ``MaskablePPO`` expects. Function Quest is one; a researcher's own env,
  registered with gymnasium, is another.

Both are protocols: nothing needs to inherit from them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from symphony_lab.planning.problem import Problem, State

if TYPE_CHECKING:
    import gymnasium as gym

Observation = dict[str, npt.NDArray[Any]]

#: A policy that plays an environment: ``(observation, action mask, env) -> action``.
EnvPolicy = Callable[[Observation, npt.NDArray[np.bool_], Any], int]


@runtime_checkable
class Policy(Protocol):
    """Chooses the next call of a run."""

    def choose(self, problem: Problem, state: State) -> int | None:
        """The index of the function to call in ``state``, or ``None`` when
        no call can help (the run ends there)."""
        ...


@runtime_checkable
class ConductorEnv(Protocol):
    """A gymnasium environment the Conductor can train in.

    Optional, for the Conductor's other verbs (found on ``env.unwrapped``):

    - ``expert_action() -> int``: what an expert would do now; imitation
      (``pretrain="expert"``) learns from it.
    - ``scenarios() -> list[dict]``: reset options that make one evaluation
      sweep (Function Quest: one per level); ``evaluate`` plays each once.
    - ``baselines() -> dict[str, EnvPolicy]``: policies to evaluate beside
      the Conductor.
    - the final step's ``info["score"]``: a mapping with ``solved``,
      ``cost``, ``optimal_cost``, ``cost_ratio``, ``calls`` and
      ``failures``, which ``evaluate`` reports.
    """

    observation_space: gym.Space[Any]
    action_space: gym.Space[Any]

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Observation, dict[str, Any]]: ...

    def step(self, action: Any) -> tuple[Observation, Any, bool, bool, dict[str, Any]]: ...

    def action_masks(self) -> npt.NDArray[np.bool_]: ...
