"""Playing an environment's scenarios (Function Quest: each level of a
pack): the Conductor beside the env's baselines, one row per episode from
the score the env reports when the episode ends."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from symphony_lab.conductor.envs import EnvSpec
from symphony_lab.conductor.errors import ConductorError
from symphony_lab.planning import EnvPolicy

if TYPE_CHECKING:
    import gymnasium as gym
    from matplotlib.figure import Figure

    from symphony_lab.conductor.conductor import Conductor

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

    def breakdown(self) -> pd.DataFrame:
        """Per agent, what the out-of-distribution targets read: solve rate,
        mean cost ratio on solved levels whose calls never fail
        (``deterministic``) and on those where some can (``flaky``), and the
        share of episodes ending with the optional goals the best policy
        ends with (``bonus_match``, over levels that have any). Columns an
        env does not report (``flaky``, ``bonus_match``) read NaN."""
        f = self.frame.reset_index(drop=True)  # frames joined by concat repeat labels
        by = f.groupby("agent", sort=False)
        flaky = f["flaky"].astype(bool) if "flaky" in f else pd.Series(False, index=f.index)
        solved = f[f["solved"]]
        ratio = solved.groupby([solved["agent"], flaky[solved.index]], sort=False)["cost_ratio"]
        means = ratio.mean().unstack()
        match = f["bonus_match"] if "bonus_match" in f else pd.Series(np.nan, index=f.index)
        return pd.DataFrame(
            {
                "levels": by.size(),
                "solve_rate": by["solved"].mean(),
                "deterministic": means.get(False, pd.Series(dtype=float)),
                "flaky": means.get(True, pd.Series(dtype=float)),
                "bonus_match": match.groupby(f["agent"], sort=False).mean(),
            }
        )

    def plot(self, path: str | Path | None = None) -> Figure:
        """Solve rate by difficulty per agent, and each agent's cost-ratio
        distribution over solved levels; saved to ``path`` when given."""
        # A figure saved to a file needs no display: the backend is chosen
        # before pyplot first loads, which importing here leaves room for.
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


def play(
    env: gym.Env[Any, Any], policy: EnvPolicy, options: dict[str, Any] | None, seed: int
) -> dict[str, Any]:
    """One episode of ``policy``: a row of ``Evaluation.frame``, from the
    ``score`` the env reports at the episode's end."""
    game: Any = env.unwrapped  # the protocol's optional parts are found by name
    start = time.perf_counter()
    obs, _ = env.reset(seed=seed, options=options)
    terminated = truncated = False
    info: dict[str, Any] = {}
    while not (terminated or truncated):
        obs, _, terminated, truncated, info = env.step(policy(obs, game.action_masks(), game))
    wall = time.perf_counter() - start
    if "score" not in info:
        raise ConductorError(
            "the environment reports no info['score'] when an episode ends: evaluate needs it "
            "(see symphony_lab.planning.protocol.ConductorEnv; Function Quest reports it "
            "when made with solve_optimal=True, as evaluate makes it by id)"
        )
    row = dict(info["score"])
    row["recoveries"] = row["failures"] if row["solved"] else 0
    row["wall_ms"] = wall * 1e3
    return row


def evaluate(
    conductor: Conductor,
    env: EnvSpec,
    *,
    episodes: int | None = None,
    seed: int = 0,
    baselines: bool = True,
) -> Evaluation:
    """Plays every scenario of ``env`` once per agent, the same seed per
    scenario for all."""
    made = conductor.make_env(env, solve_optimal=True)
    game: Any = made.unwrapped
    scenarios: list[dict[str, Any] | None] = (
        list(game.scenarios()) if hasattr(game, "scenarios") else [None] * (episodes or 100)
    )
    if episodes is not None:
        scenarios = scenarios[:episodes]
    agents: dict[str, EnvPolicy] = {"conductor": conductor.policy()}
    if baselines and hasattr(game, "baselines"):
        agents |= game.baselines(seed)
    try:
        rows = [
            {"agent": name, **play(made, policy, options, seed + i)}
            for name, policy in agents.items()
            for i, options in enumerate(scenarios)
        ]
    finally:
        made.close()
    # Columns an env reports beyond the common ones (Function Quest: flaky,
    # bonus_match) follow them.
    extra = [c for c in dict.fromkeys(k for row in rows for k in row) if c not in COLUMNS]
    return Evaluation(pd.DataFrame(rows, columns=[*COLUMNS, *extra]))
