"""The live tier: where learning has to earn its place (``function_quest.live``).

Calls run side by side up to a pool's capacity with time priced into the
cost, and each episode some services are down, which only outcomes reveal.
Every agent plays the same held-out levels (``live-test``, never trained
on) on the same seeds, so each meets the same worlds and the same luck;
differences are given with their standard error over those episodes.

1. The planners that do not learn: ``exact_replanning`` (stated numbers)
   and ``critical_path`` (re-estimates each function from its own outcomes,
   schedules by critical path), beside ``random``.
2. The Conductor: imitation of ``critical_path``, then PPO on the true
   cost, which is where it learns how services fail. Targets: mean cost
   <= 0.85x ``exact_replanning``'s and below ``critical_path``'s; PPO below
   imitation alone.
3. Ablations on the same budget: no imitation (PPO alone), no PPO
   (imitation alone), the old mask (idle calls offered); and the training
   curves (``benches/results/live_training.png``).
4. Another teacher: imitation of the learned expert (a world fitted by EM to
   the outcomes of training episodes, and planned with).
5. Yardsticks, not baselines: ``learned`` (that expert itself),
   ``informed`` (told the world's outage rates), ``oracle`` (told the
   episode's true failure rates).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import numpy.typing as npt
import torch
from function_quest.live import LiveQuestEnv, learned_expert, sweep
from function_quest.live_baselines import yardsticks
from function_quest.live_levels import live_levels
from measured import record

from symphony_lab.conductor import Conductor
from symphony_lab.conductor.conductor import ConductorConfig
from symphony_lab.conductor.imitation import imitate_expert
from symphony_lab.planning import EnvPolicy


class Bench:
    def __init__(self, args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
        self.args = args
        self.parser = parser
        self.test = LiveQuestEnv("live-test", repeats=args.repeats)
        self.quick = LiveQuestEnv("live-test", repeats=max(1, args.repeats // 2))
        self.train_levels = live_levels("train")
        self.costs: dict[str, npt.NDArray[np.float64]] = {}
        self.solved: dict[str, float] = {}
        self.curves: dict[str, list[tuple[int, float]]] = {}
        self.planners: dict[str, EnvPolicy] = {}

    def score(self, name: str, policy: EnvPolicy) -> None:
        self.costs[name], self.solved[name] = sweep(self.test, policy)

    def conductor(
        self, name: str, *, expert: str | None, ppo: bool = True, idle_calls: bool = False
    ) -> Conductor:
        """Trains one variant, its curve on the quick sweep as PPO goes."""
        args = self.args
        conductor = Conductor(ConductorConfig.live(idle_calls=idle_calls), seed=0)
        levels = self.train_levels

        def make() -> LiveQuestEnv:
            return LiveQuestEnv(levels, idle_calls=idle_calls, expert=expert or "critical_path")

        start = time.perf_counter()
        if expert is not None:
            imitate_expert(conductor, make(), episodes=args.imitation, seed=0)
        curve = self.curves.setdefault(name, [])
        curve.append((0, float(sweep(self.quick, conductor.policy())[0].mean())))
        while ppo and conductor.num_timesteps < args.steps:
            chunk = min(args.every, args.steps - conductor.num_timesteps)
            conductor.train(make, total_steps=chunk, n_envs=4)
            curve.append(
                (conductor.num_timesteps, float(sweep(self.quick, conductor.policy())[0].mean()))
            )
            print(f"  {name}: {curve[-1][0]:>7,} steps, mean cost {curve[-1][1]:.2f}", flush=True)
        print(f"  {name}: trained in {time.perf_counter() - start:.0f} s", flush=True)
        self.score(name, conductor.policy())
        return conductor

    def plot(self, path: Path) -> None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(8, 4))
        for name, curve in self.curves.items():
            if len(curve) > 1:
                xs, ys = zip(*curve, strict=True)
                ax.plot(xs, ys, marker="o", label=name)
        for name in ("exact_replanning", "critical_path", "learned"):
            y = float(sweep(self.quick, self.planners[name])[0].mean())
            ax.axhline(y, ls="--", lw=0.8, color="grey")
            ax.annotate(name, (0, y), fontsize="small", va="bottom")
        ax.set_xlabel("PPO steps")
        ax.set_ylabel("mean episode cost (held-out levels)")
        ax.set_title("The live tier: the Conductor as PPO goes")
        ax.legend(fontsize="small")
        fig.tight_layout()
        path.parent.mkdir(exist_ok=True)
        fig.savefig(path, dpi=120)

    def run(self) -> int:
        world = self.test.world
        self.planners = {
            **self.test.baselines(0),
            "learned": learned_expert(self.train_levels, world),
            **yardsticks(world),
        }
        for name, policy in self.planners.items():
            self.score(name, policy)
        self.conductor("conductor", expert="critical_path")
        self.conductor("no PPO", expert="critical_path", ppo=False)
        self.conductor("no imitation", expert=None)
        self.conductor("old mask", expert="critical_path", idle_calls=True)
        self.conductor("imitating learned", expert="learned", ppo=False)
        self.plot(Path(__file__).with_name("results") / "live_training.png")
        return self.report()

    def report(self) -> int:
        n = len(self.test.scenarios())
        print(f"\nlive-test: {len(self.test.levels)} levels x {self.args.repeats} worlds = {n} "
              "episodes, the same seeds for every agent")  # fmt: skip
        head = ("agent", "mean cost", "solved", "vs replanning", "vs critical_path (± s.e.)")
        print(f"{head[0]:20s} {head[1]:>10s} {head[2]:>7s} {head[3]:>14s}   {head[4]}")
        replanning, critical = self.costs["exact_replanning"], self.costs["critical_path"]
        agents = {}
        for name, cost in self.costs.items():
            diff = cost - critical
            agents[name] = {
                "mean_cost": float(cost.mean()),
                "solved": float(self.solved[name]),
                "vs_replanning": float(cost.mean() / replanning.mean()),
                "vs_critical_path": float(cost.mean() / critical.mean()),
                "diff_critical_path": float(diff.mean()),
                "diff_se": float(diff.std() / np.sqrt(n)),
            }
            print(f"{name:20s} {cost.mean():10.2f} {self.solved[name]:7.3f} "
                  f"{cost.mean() / replanning.mean():13.3f}x   "
                  f"{cost.mean() / critical.mean():.3f}x ({diff.mean():+.2f} ± "
                  f"{diff.std() / np.sqrt(n):.2f})")  # fmt: skip
        ours, imitation = self.costs["conductor"], self.costs["no PPO"]
        gain = imitation - ours
        print(f"PPO over imitation alone: {gain.mean():.2f} ± {gain.std() / np.sqrt(n):.2f}")
        checks = [
            ("conductor <= 0.85x exact_replanning", ours.mean() <= 0.85 * replanning.mean()),
            ("conductor < critical_path", ours.mean() < critical.mean()),
            ("PPO improves on imitation", ours.mean() < imitation.mean()),
        ]
        for text, ok in checks:
            print(f"{'PASS' if ok else 'FAIL'}  {text}")
        figures = {
            "levels": len(self.test.levels),
            "episodes": n,
            "agents": agents,
            "ppo_gain": float(gain.mean()),
            "ppo_gain_se": float(gain.std() / np.sqrt(n)),
            "curves": {k: [list(p) for p in v] for k, v in self.curves.items()},
            "targets": {text: bool(ok) for text, ok in checks},
        }
        record("live", figures, self.parser, self.args)
        return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200_000, help="PPO steps per Conductor")
    parser.add_argument("--imitation", type=int, default=1000, help="episodes imitated")
    parser.add_argument("--every", type=int, default=25_000, help="steps between curve points")
    parser.add_argument("--repeats", type=int, default=20, help="worlds per test level")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    return Bench(args, parser).run()


if __name__ == "__main__":
    raise SystemExit(main())
