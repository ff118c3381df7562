"""The Conductor against its targets, and against SB3 and a flat MLP.

1. One decision: ``Conductor.decide`` median against SB3's
   ``MaskablePPO.predict`` on the same network and observations (target
   <= 100 us).
2. Medium from scratch: imitation + PPO on ``train-medium``, then the
   held-out ``test-medium`` pack (targets: solve rate >= 99%, mean cost
   ratio <= 1.05, wall time <= 20 min).
3. Hard and expert: a Conductor trained on ``train-hard`` + ``train-expert``,
   evaluated on their test packs beside the baselines (targets: solve rate
   >= 95%; mean cost <= 0.85x the relaxed-plan greedy's and <= 1.0x the
   replanning exact planner's on the levels both solved; <= 1.10x the best
   policy's exact expectation).
4. Larger levels than any trained on (more than 32 functions and kinds):
   solve rate and cost ratio, reported.
5. Ablation, same PPO step budget: MaskablePPO with SB3's default
   MultiInputPolicy (a flat MLP over the padded observation), without
   imitation, on ``test-medium``, beside ours and the cheapest-first greedy.
6. What imitation saves: PPO alone against imitation + PPO, both evaluated
   on ``val-medium`` as training goes; the steps PPO alone needs to reach
   where imitation starts (the training-curve figure is written to
   ``benches/results/conductor_pretrain.png``).
7. Where PPO's time goes: the share of sb3-contrib's masking code
   (``MaskableCategorical``) in a profiled training run.
8. Training beside a busy process: PPO steps per second on the easy pack,
   quiet and beside a process that keeps one core busy, with one PyTorch
   thread (the default) and with PyTorch's own default (every core)
   (target: beside, at least 0.5x the quiet figure).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from typing import Any

import numpy as np
import pandas as pd
import torch
from function_quest import resolve_levels
from function_quest.generator import Knobs, generate
from measured import record
from sb3_contrib import MaskablePPO
from stable_baselines3.common.vec_env import DummyVecEnv

from symphony_lab.conductor import Conductor, Evaluation
from symphony_lab.conductor.evaluation import COLUMNS, play
from symphony_lab.conductor.imitation import imitate_expert
from symphony_lab.conductor.sb3_policy import ConductorPolicy

#: PyTorch's threads before anyone sets them: every core.
TORCH_DEFAULT_THREADS = torch.get_num_threads()

#: Larger than the default observation (32 functions, 32 kinds).
LARGE = Knobs(4, (1, 2), 4, 3, 3, 0.15, 2, 2, 2, 1.4, True)


def mark(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def decision_time(conductor: Conductor, n: int = 2000) -> tuple[float, float]:
    """Median seconds of ``decide`` and of SB3's ``predict`` on one obs."""
    env = conductor.make_env("test-medium")
    model = MaskablePPO(ConductorPolicy, DummyVecEnv([lambda: env]), device="cpu")
    model.policy.net.load_state_dict(conductor.net.state_dict())  # type: ignore[union-attr]
    samples = []
    obs, _ = env.reset(seed=0)
    for i in range(200):
        mask = env.action_masks()
        samples.append((obs, mask))
        obs, _, done, cut, _ = env.step(conductor.decide(obs, mask))
        if done or cut:
            obs, _ = env.reset(seed=i)
    ours, sb3 = [], []
    # Blocks of each in turn, not one call of each: a PyTorch call between
    # two decisions would evict what the next decision finds in cache.
    runners = [(conductor.decide, ours), (_sb3(model), sb3)]
    for block in range(n // len(samples)):
        for decide, times in runners if block % 2 == 0 else runners[::-1]:
            for obs, mask in samples:
                start = time.perf_counter()
                decide(obs, mask)
                times.append(time.perf_counter() - start)
    return statistics.median(ours), statistics.median(sb3)


def _sb3(model: Any) -> Any:
    return lambda obs, mask: model.predict(obs, action_masks=mask, deterministic=True)


def both_solved_ratio(ev: Evaluation, agent: str, peer: str) -> float:
    """Our mean cost over the peer's, on the levels both solved."""
    f = ev.frame
    a = f[(f["agent"] == agent) & f["solved"]].set_index("level")["cost"]
    b = f[(f["agent"] == peer) & f["solved"]].set_index("level")["cost"]
    common = a.index.intersection(b.index)
    return float(a[common].mean() / b[common].mean())


def summary_line(ev: Evaluation, agent: str = "conductor") -> tuple[float, float]:
    s = ev.summary().loc[agent]
    return float(s["solve_rate"]), float(s["cost_ratio"])


def flat_mlp_ablation(steps: int, seed: int) -> Evaluation:
    """SB3's default MultiInputPolicy, no imitation, the same PPO budget."""
    shell = Conductor(seed=seed)
    c = shell.config
    venv = DummyVecEnv([lambda: shell.make_env("medium") for _ in range(8)])
    model = MaskablePPO(
        "MultiInputPolicy",
        venv,
        n_steps=c.n_steps,
        batch_size=c.batch_size,
        n_epochs=c.n_epochs,
        gamma=c.gamma,
        seed=seed,
        device="cpu",
    )
    model.learn(steps)

    def policy(obs: dict[str, Any], mask: np.ndarray, env: Any) -> int:
        action, _ = model.predict(obs, action_masks=mask, deterministic=True)
        return int(action)

    test = resolve_levels("test-medium")
    env = shell.make_env(test, solve_optimal=True)
    rows = [
        {"agent": "flat_mlp", **play(env, policy, {"level": lv}, seed + i)}
        for i, lv in enumerate(test)
    ]
    return Evaluation(pd.DataFrame(rows, columns=list(COLUMNS)))


def pretrain_curves(steps: int, seed: int, points: int = 6) -> dict[str, list[tuple]]:
    """(PPO steps, val-medium solve rate, cost ratio) as training goes, for
    PPO alone and for imitation + PPO; saved as a figure too."""
    from pathlib import Path

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curves: dict[str, list[tuple]] = {}
    for name, pretrain in (("PPO alone", False), ("imitation + PPO", True)):
        c = Conductor(seed=seed)
        if pretrain:
            imitate_expert(c, c.make_env("medium"), episodes=2000, seed=seed)
        row = []
        for i in range(points + 1):
            if i:
                c.train("medium", total_steps=steps // points, n_envs=8, seed=seed)
            solved, ratio = summary_line(c.evaluate("val-medium", baselines=False))
            row.append((c.num_timesteps, solved, ratio))
        curves[name] = row
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.5))
    for name, row in curves.items():
        a.plot([r[0] for r in row], [r[1] for r in row], marker="o", label=name)
        b.plot([r[0] for r in row], [r[2] for r in row], marker="o", label=name)
    a.set(xlabel="PPO steps", ylabel="val-medium solve rate", ylim=(0, 1.05))
    b.set(xlabel="PPO steps", ylabel="cost ratio, solved levels")
    a.legend()
    fig.tight_layout()
    out = Path(__file__).with_name("results")
    out.mkdir(exist_ok=True)
    fig.savefig(out / "conductor_pretrain.png", dpi=120)
    return curves


def masking_share(seed: int, steps: int = 8192) -> tuple[float, float]:
    """The fraction of a PPO run's time spent in sb3-contrib's masking
    distributions, and the run's seconds."""
    import cProfile
    import pstats

    c = Conductor(seed=seed)
    levels = resolve_levels("medium")
    c.train(levels, total_steps=1024, n_envs=8)  # builds the model outside the profile
    profile = cProfile.Profile()
    profile.enable()
    c.train(levels, total_steps=steps, n_envs=8)
    profile.disable()
    stats = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    total = max(ct for (_, _, name), (_, _, _, ct, _) in stats.items() if name == "learn")
    # The masked categorical's methods are the masking code's entry points;
    # their cumulative times do not nest in one another.
    from sb3_contrib.common.maskable.distributions import MaskableCategoricalDistribution as D

    names = ("proba_distribution", "apply_masking", "log_prob", "entropy", "sample", "mode")
    entry = {
        (f.__code__.co_filename, f.__code__.co_firstlineno, f.__name__)
        for f in (getattr(D, n) for n in names)
    }
    masking = sum(ct for key, (_, _, _, ct, _) in stats.items() if key in entry)
    return masking / total, total


def steps_per_second(threads: int | None, steps: int, seed: int) -> float:
    c = Conductor(seed=seed)
    c.train("easy", total_steps=256, n_envs=8, threads=threads)  # the model, built
    start = time.perf_counter()
    c.train("easy", total_steps=steps, n_envs=8, threads=threads)
    return steps / (time.perf_counter() - start)


def beside_a_busy_process(steps: int, seed: int) -> dict[str, float]:
    """Steps per second quiet and beside one busy core, per threads setting."""
    import subprocess

    out = {}
    before = torch.get_num_threads()
    torch.set_num_threads(TORCH_DEFAULT_THREADS)
    try:
        for label, threads in (("1 thread", 1), ("PyTorch's default", None)):
            out[f"{label}, quiet"] = steps_per_second(threads, steps, seed)
            busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
            try:
                time.sleep(0.5)
                out[f"{label}, beside a busy core"] = steps_per_second(threads, steps, seed)
            finally:
                busy.kill()
                busy.wait()
    finally:
        torch.set_num_threads(before)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30_000, help="PPO steps per training")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--large", type=int, default=30, help="larger levels to play")
    parser.add_argument("--skip", default="", help="comma-separated sections to skip (1-8)")
    args = parser.parse_args(argv)
    skip = set(args.skip.split(","))
    torch.set_num_threads(1)  # one core, as the targets are stated
    ok = True
    figures: dict[str, Any] = {}

    print(f"2. medium from scratch: imitation + {args.steps:,} PPO steps on train-medium")
    start = time.perf_counter()
    medium = Conductor(seed=args.seed).train(
        "medium", total_steps=args.steps, n_envs=8, pretrain="expert"
    )
    wall = time.perf_counter() - start
    ev = medium.evaluate("test-medium", baselines=False)
    solved, ratio = summary_line(ev)
    good = solved >= 0.99 and ratio <= 1.05 and wall <= 1200
    ok &= good
    figures["medium"] = {"solved": solved, "cost_ratio": ratio, "wall_s": wall}
    print(
        f"  [{mark(good)}] test-medium: solved {solved:.1%} (>= 99%), cost ratio {ratio:.3f}"
        f" (<= 1.05), trained in {wall:.0f} s (<= 1200 s)"
    )

    if "1" not in skip:
        ours, sb3 = decision_time(medium)
        good = ours <= 100e-6
        ok &= good
        figures["decision_s"] = {"ours": ours, "sb3": sb3}
        print("\n1. one decision, median")
        print(f"  Conductor.decide          {ours * 1e6:7.1f} us")
        print(f"  MaskablePPO.predict       {sb3 * 1e6:7.1f} us   ours / SB3 = {ours / sb3:.2f}x")
        print(f"  [{mark(good)}] decide <= 100 us")

    if "3" not in skip:
        print(f"\n3. hard and expert: imitation + {args.steps:,} PPO steps on train-hard + expert")
        levels = resolve_levels("train-hard") + resolve_levels("train-expert")
        hard = Conductor(seed=args.seed).train(
            levels, total_steps=args.steps, n_envs=8, pretrain="expert", pretrain_episodes=4000
        )
        for pack in ("test-hard", "test-expert"):
            ev = hard.evaluate(pack)
            solved, ratio = summary_line(ev)
            vs_relaxed = both_solved_ratio(ev, "conductor", "relaxed_greedy")
            vs_replan = both_solved_ratio(ev, "conductor", "exact_replanning")
            good = solved >= 0.95 and vs_relaxed <= 0.85 and vs_replan <= 1.0 and ratio <= 1.10
            ok &= good
            figures.setdefault("hard", {})[pack] = {
                "solved": solved, "cost_ratio": ratio,
                "vs_relaxed_greedy": vs_relaxed, "vs_replanning": vs_replan,
            }  # fmt: skip
            print(
                f"  [{mark(good)}] {pack}: solved {solved:.1%} (>= 95%), cost / relaxed greedy"
                f" {vs_relaxed:.3f} (<= 0.85), / replanning {vs_replan:.3f} (<= 1.0),"
                f" / best expected {ratio:.3f} (<= 1.10)"
            )
            print(ev.summary()[["solve_rate", "cost_ratio", "calls", "failures"]].to_string())

    if "4" not in skip:
        large = [generate(10_000 + i, knobs=LARGE) for i in range(args.large)]
        sizes = [len(lv.functions) for lv in large]
        ev = medium.evaluate(large, baselines=False)
        solved, ratio = summary_line(ev)
        figures["large"] = {"functions": [min(sizes), max(sizes)], "solved": solved,
                            "cost_ratio": ratio}  # fmt: skip
        print(
            f"\n4. larger than trained ({min(sizes)}-{max(sizes)} functions, trained on <= 32):"
            f" solved {solved:.1%}, cost ratio {ratio:.3f}"
        )

    if "5" not in skip:
        print(f"\n5. ablation, {args.steps:,} PPO steps each, test-medium")
        flat = flat_mlp_ablation(args.steps, args.seed)
        ours = medium.evaluate("test-medium", baselines=True)
        both = Evaluation(pd.concat([ours.frame, flat.frame], ignore_index=True))
        table = both.summary().loc[["conductor", "flat_mlp", "greedy"]]
        print(table[["solve_rate", "cost_ratio", "calls"]].to_string())
        figures["ablation"] = {
            agent: {"solved": float(row["solve_rate"]), "cost_ratio": float(row["cost_ratio"])}
            for agent, row in table.iterrows()
        }
        print(
            "  flat MLP: imitation is ours alone, so this shows what the set encoder and the"
            " warm start buy together"
        )
    if "6" not in skip:
        print(f"\n6. what imitation saves, up to {args.steps * 2:,} PPO steps, val-medium")
        curves = pretrain_curves(args.steps * 2, args.seed)
        for name, points in curves.items():
            cells = ", ".join(f"{int(s):,}: {r:.0%}/{c:.3f}" for s, r, c in points)
            print(f"  {name:16s} steps: solved/cost ratio  {cells}")
        start = curves["imitation + PPO"][0]
        reach = [s for s, r, c in curves["PPO alone"] if r >= start[1] and c <= start[2]]
        saved = f"{int(reach[0]):,}" if reach else f"more than {int(args.steps * 2):,}"
        print(f"  PPO alone needs {saved} steps to reach where imitation starts")
        figures["imitation"] = {
            "curves": {
                name: [[int(s), float(r), float(c)] for s, r, c in points]
                for name, points in curves.items()
            },
            "ppo_alone_reaches": int(reach[0]) if reach else None,
        }

    if "7" not in skip:
        share, total = masking_share(args.seed)
        print(f"\n7. masking code's share of a profiled PPO run: {share:.1%} of {total:.1f} s")
        figures["masking_share"] = share

    if "8" not in skip:
        print("\n8. PPO steps per second on the easy pack, quiet and beside a busy core")
        rates = beside_a_busy_process(3000, args.seed)
        for name, rate in rates.items():
            print(f"  {name:40s} {rate:8.0f} steps/s")
        figures["steps_per_s"] = rates
        for label in ("1 thread", "PyTorch's default"):
            ratio = rates[f"{label}, beside a busy core"] / rates[f"{label}, quiet"]
            good = ratio >= 0.5
            if label == "1 thread":
                ok &= good
            print(f"  [{mark(good)}] {label}: beside / quiet = {ratio:.2f}x (>= 0.5x)")

    print(f"\n{'all targets met' if ok else 'some targets missed'}")
    figures["all_targets_met"] = bool(ok)
    record("conductor", figures, parser, args)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
