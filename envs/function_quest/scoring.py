"""Scores of an episode, and the curriculum that promotes between tiers."""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

TIERS = ("tutorial", "easy", "medium", "hard", "expert")


@dataclass(frozen=True)
class Score:
    solved: bool
    #: optimal calls / max(optimal calls, calls); 0 when not solved.
    efficiency: float
    #: (cost + reward forgone) / the optimum's; ``inf`` when not solved.
    cost_ratio: float


def score(
    *,
    solved: bool,
    calls: int,
    cost: float,
    optimal_calls: int,
    optimal_cost: float,
    forgone: float = 0.0,
    optimal_forgone: float = 0.0,
) -> Score:
    """One episode against the best policy. ``forgone`` is the reward of the
    recommended and optional goals not held at the end: the solver minimises
    cost plus forgone reward, so skipping a goal worth more than it costs is
    no saving."""
    if not solved:
        return Score(False, 0.0, float("inf"))
    efficiency = optimal_calls / max(optimal_calls, calls, 1)
    ours, best = cost + forgone, optimal_cost + optimal_forgone
    ratio = ours / best if best > 0 else (1.0 if ours == 0 else float("inf"))
    return Score(True, efficiency, ratio)


class Curriculum:
    """Promotes an agent to the next tier once, over the last ``window``
    consecutive episodes, its solve rate is at least ``solve_rate`` and its
    mean efficiency at least ``efficiency``."""

    def __init__(
        self,
        tiers: Sequence[str] = TIERS,
        *,
        solve_rate: float = 0.95,
        efficiency: float = 0.8,
        window: int = 10,
        start: str | None = None,
    ) -> None:
        if not tiers:
            raise ValueError("tiers must not be empty")
        if window < 1:
            raise ValueError(f"window must be >= 1, got {window}")
        self.tiers = tuple(tiers)
        self.solve_rate = solve_rate
        self.efficiency = efficiency
        self.window = window
        self.index = self.tiers.index(start) if start is not None else 0
        self._recent: deque[Score] = deque(maxlen=window)

    @property
    def tier(self) -> str:
        return self.tiers[self.index]

    @property
    def finished(self) -> bool:
        """At the last tier and meeting the thresholds there."""
        return self.index == len(self.tiers) - 1 and self._meets()

    def _meets(self) -> bool:
        if len(self._recent) < self.window:
            return False
        solved = sum(s.solved for s in self._recent) / self.window
        efficiency = sum(s.efficiency for s in self._recent) / self.window
        return solved >= self.solve_rate and efficiency >= self.efficiency

    def record(self, result: Score) -> bool:
        """Adds an episode; returns True when it promoted to the next tier."""
        self._recent.append(result)
        if self._meets() and self.index < len(self.tiers) - 1:
            self.index += 1
            self._recent.clear()
            return True
        return False
