"""Playing packs of levels: the Conductor beside every baseline."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from function_quest.level import Level
    from matplotlib.figure import Figure

    from symphony_lab.conductor.conductor import Conductor

Policy = Callable[[dict[str, Any], Any, Any], int]

#: Column order of ``Evaluation.frame``.
COLUMNS = (
    "agent",
    "level",
    "difficulty",
    "solved",
    "calls",
    "cost",
    "optimal_cost",
    "cost_ratio",
    "failures",
    "recoveries",
    "wall_ms",
)


@dataclass
class Evaluation:
    """One row per (agent, level) episode; ``summary()`` and ``plot()``."""

    frame: pd.DataFrame

    def summary(self) -> pd.DataFrame:
        """Per agent: levels played, solve rate, mean and median cost ratio
        over solved levels (cost plus reward forgone, over the best policy's
        expectation), mean calls, failures met and failures recovered from
        (met on the way to a win), mean wall time per episode."""
        f = self.frame
        solved = f[f["solved"]]
        out = pd.DataFrame(
            {
                "levels": f.groupby("agent", sort=False).size(),
                "solve_rate": f.groupby("agent", sort=False)["solved"].mean(),
                "cost_ratio": solved.groupby("agent", sort=False)["cost_ratio"].mean(),
                "median_ratio": solved.groupby("agent", sort=False)["cost_ratio"].median(),
                "calls": f.groupby("agent", sort=False)["calls"].mean(),
                "failures": f.groupby("agent", sort=False)["failures"].mean(),
                "recoveries": f.groupby("agent", sort=False)["recoveries"].mean(),
                "wall_ms": f.groupby("agent", sort=False)["wall_ms"].mean(),
            }
        )
        return out

    def plot(self, path: str | Path | None = None) -> Figure:
        """Solve rate by difficulty per agent, and each agent's cost-ratio
        distribution over solved levels; saved to ``path`` when given."""
        import matplotlib

        if path is not None:
            matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt

        f = self.frame
        agents = list(dict.fromkeys(f["agent"]))
        fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
        rates = f.pivot_table(index="difficulty", columns="agent", values="solved", aggfunc="mean")
        rates = rates[[a for a in agents if a in rates.columns]]
        rates.plot.bar(ax=left, rot=0)
        left.set_ylim(0, 1.3)
        left.legend(loc="upper center", ncol=3, fontsize="small", frameon=False)
        left.set_ylabel("solve rate")
        left.set_title("Solved, by difficulty")
        solved = f[f["solved"]]
        data = [solved.loc[solved["agent"] == a, "cost_ratio"].to_numpy() for a in agents]
        right.boxplot([d if len(d) else np.array([np.nan]) for d in data], showfliers=False)
        right.set_xticks(range(1, len(agents) + 1), agents, rotation=20)
        right.axhline(1.0, color="grey", lw=0.8, ls="--")
        right.set_ylabel("cost / best policy's expected cost")
        right.set_title("Cost ratio, solved levels")
        fig.tight_layout()
        if path is not None:
            fig.savefig(path, dpi=120)
        return fig


def play(env: Any, policy: Policy, level: Level, seed: int) -> dict[str, Any]:
    """One episode of ``policy`` on ``level``: a row of ``Evaluation.frame``."""
    from function_quest.baselines import score_episode

    start = time.perf_counter()
    obs, _ = env.reset(seed=seed, options={"level": level})
    terminated = truncated = False
    while not (terminated or truncated):
        obs, _, terminated, truncated, _ = env.step(policy(obs, env.action_masks(), env))
    wall = time.perf_counter() - start
    plan = env.optimum()
    # No best policy to compare with: no ratio.
    ratio = score_episode(env, solved=terminated).cost_ratio if plan else float("nan")
    return {
        "level": level.id,
        "difficulty": level.difficulty,
        "solved": bool(terminated),
        "calls": len(env.calls),
        "cost": env.spent,
        "optimal_cost": plan.cost if plan else float("nan"),
        "cost_ratio": ratio,
        "failures": env.failures,
        "recoveries": env.failures if terminated else 0,
        "wall_ms": wall * 1e3,
    }


def evaluate(
    conductor: Conductor, levels: Sequence[Level], *, seed: int = 0, baselines: bool = True
) -> Evaluation:
    """Plays every level once per agent, the same seed per level for all."""
    from function_quest.baselines import (
        ExactReplanningPolicy,
        GreedyPolicy,
        RandomPolicy,
        RelaxedPlanPolicy,
    )

    agents: dict[str, Policy] = {"conductor": conductor.policy()}
    if baselines:
        agents |= {
            "random": RandomPolicy(seed),
            "greedy": GreedyPolicy(),
            "relaxed_greedy": RelaxedPlanPolicy(),
            "exact_replanning": ExactReplanningPolicy(),
        }
    env = conductor.make_env(levels, solve_optimal=False)
    rows = [
        {"agent": name, **play(env, policy, level, seed + i)}
        for name, policy in agents.items()
        for i, level in enumerate(levels)
    ]
    return Evaluation(pd.DataFrame(rows, columns=list(COLUMNS)))
