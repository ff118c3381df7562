"""Training hooks: the learning curve, checkpoints, and plain-function
listeners (the live dashboard is one)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from stable_baselines3.common.callbacks import BaseCallback

if TYPE_CHECKING:
    from symphony_lab.conductor.conductor import Conductor

Listener = Callable[[dict[str, float]], object]


class TrainingLog(BaseCallback):
    """Appends one row per rollout to ``conductor.history``: steps so far,
    episodes ended, their solve rate, mean return, cost and calls; records
    the same under ``conductor/`` for TensorBoard; passes the row to each
    listener."""

    def __init__(self, conductor: Conductor, listeners: tuple[Listener, ...] = ()) -> None:
        super().__init__()
        self.conductor = conductor
        self.listeners = listeners
        self._start = time.perf_counter()
        self._returns: np.ndarray | None = None
        self._ended: list[tuple[bool, float, float, float, float]] = []

    def _on_training_start(self) -> None:
        self._returns = np.zeros(self.training_env.num_envs)

    def _on_step(self) -> bool:
        assert self._returns is not None
        self._returns += self.locals["rewards"]
        for i, done in enumerate(self.locals["dones"]):
            if done:
                info = self.locals["infos"][i]
                solved = not info.get("TimeLimit.truncated", False) and not info.get(
                    "truncated", False
                )
                optimal = info.get("optimal_cost")
                cost = float(info.get("cost", np.nan))
                # Known when the envs solve their levels (the dashboard asks).
                ratio = cost / optimal if solved and optimal else np.nan
                self._ended.append(
                    (solved, float(self._returns[i]), cost, float(info.get("calls", np.nan)), ratio)
                )
                self._returns[i] = 0.0
        return True

    def _on_rollout_end(self) -> None:
        ended = self._ended
        self._ended = []
        row = {
            "steps": float(self.num_timesteps),
            "episodes": float(len(ended)),
            "solve_rate": float(np.mean([e[0] for e in ended])) if ended else float("nan"),
            "mean_return": float(np.mean([e[1] for e in ended])) if ended else float("nan"),
            "mean_cost": float(np.mean([e[2] for e in ended])) if ended else float("nan"),
            "mean_calls": float(np.mean([e[3] for e in ended])) if ended else float("nan"),
            "cost_ratio": _nanmean([e[4] for e in ended]),
            "wall_s": time.perf_counter() - self._start,
        }
        self.conductor.history.append(row)
        for key in ("solve_rate", "mean_return", "mean_cost", "mean_calls"):
            self.logger.record(f"conductor/{key}", row[key])
        for listen in self.listeners:
            listen(row)


class CheckpointEvery(BaseCallback):
    """Saves the Conductor every ``every`` steps as ``conductor-<steps>.pt``."""

    def __init__(self, conductor: Conductor, every: int, folder: Path) -> None:
        super().__init__()
        if every < 1:
            raise ValueError(f"checkpoint_every must be >= 1, got {every}")
        self.conductor = conductor
        self.every = every
        self.folder = folder
        self._next = 0

    def _on_training_start(self) -> None:
        self._next = (self.num_timesteps // self.every + 1) * self.every

    def _on_step(self) -> bool:
        if self.num_timesteps >= self._next:
            self.conductor.num_timesteps = self.num_timesteps
            self.conductor.save(self.folder / f"conductor-{self.num_timesteps}.pt")
            self._next += self.every
        return True


def _nanmean(values: list[float]) -> float:
    known = [v for v in values if not np.isnan(v)]
    return float(np.mean(known)) if known else float("nan")


def split_callbacks(callbacks: tuple[Any, ...]) -> tuple[list[BaseCallback], tuple[Listener, ...]]:
    """SB3 callbacks, and plain functions to call with each history row."""
    sb3 = [c for c in callbacks if isinstance(c, BaseCallback)]
    plain = tuple(c for c in callbacks if not isinstance(c, BaseCallback))
    for c in plain:
        if not callable(c):
            raise TypeError(f"a callback must be an SB3 BaseCallback or a function, not {c!r}")
    return sb3, plain
