"""Arbiter: Thompson-sampling choices over 16 candidates, against numpy.

Both sides draw, for every decision, one Beta(successes + 1, failures + 1)
sample per candidate, multiply by the candidate's mean quality, and take the
argmax. Ours: ``Arbiter.choose_many(n)`` (one call into the Pit, indices back
as a numpy array). Peer, in the same process: the same policy written with
numpy, vectorised over the whole batch (``Generator.beta`` on an ``(n, 16)``
array, ``argmax`` along rows). The candidates carry the same recorded
outcomes on both sides. Also the rate of single ``choose()`` calls from a
Python loop. Medians over ``--repeat`` rounds.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from collections.abc import Callable

import numpy as np
from measured import record

from symphony_lab.pit import Arbiter

TARGET_BATCH_RATE = 2e6


def timed(fn: Callable[[], object], repeat: int) -> float:
    times = []
    fn()
    for _ in range(repeat):
        gc.collect()
        gc.disable()
        try:
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        finally:
            gc.enable()
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=1_000_000, help="decisions per batch")
    parser.add_argument("--candidates", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)

    rng = np.random.default_rng(0)
    k = args.candidates
    successes = rng.integers(1, 30, k)
    failures = rng.integers(0, 30, k)
    quality = rng.uniform(0.5, 1.0, k)

    arbiter = Arbiter(policy="thompson", seed=0)
    for i in range(k):
        arbiter.add_candidate(f"c{i}")
    names = arbiter.candidates
    index = np.concatenate([np.repeat(np.arange(k), successes), np.repeat(np.arange(k), failures)])
    outcome = np.concatenate([np.ones(successes.sum(), bool), np.zeros(failures.sum(), bool)])
    arbiter.record_many(index, outcome, quality=quality[index])

    def ours() -> None:
        arbiter.choose_many(args.batch)

    peer_rng = np.random.default_rng(1)
    a = (successes + 1).astype(float)
    b = (failures + 1).astype(float)
    q = np.array([arbiter.candidate_stats(n)["mean_quality"] for n in names])

    def peer() -> None:
        theta = peer_rng.beta(a, b, size=(args.batch, k))
        np.argmax(theta * q, axis=1)

    singles = 100_000

    def single() -> None:
        choose = arbiter.choose
        for _ in range(singles):
            choose()

    t_ours = timed(ours, args.repeat)
    t_peer = timed(peer, args.repeat)
    t_single = timed(single, args.repeat)
    ours_rate = args.batch / t_ours
    peer_rate = args.batch / t_peer
    print(
        f"Thompson sampling over {k} candidates, batches of {args.batch:,}, median of {args.repeat}"
    )
    print(f"  ours  choose_many   {ours_rate / 1e6:7.2f} M decisions/s  ({t_ours * 1e3:7.1f} ms)")
    print(f"  numpy vectorised    {peer_rate / 1e6:7.2f} M decisions/s  ({t_peer * 1e3:7.1f} ms)")
    print(f"  ours / numpy rate = {ours_rate / peer_rate:.2f}x")
    print(f"  ours  choose() loop {singles / t_single / 1e6:7.2f} M decisions/s")

    # Both pick the same arms in the same proportions: the same policy.
    picks = np.bincount(arbiter.choose_many(200_000), minlength=k) / 200_000
    theta = peer_rng.beta(a, b, size=(200_000, k))
    peer_picks = np.bincount(np.argmax(theta * q, axis=1), minlength=k) / 200_000
    gap = float(np.abs(picks - peer_picks).max())
    print(f"  largest gap between the two pick distributions: {gap:.4f}")

    fast = ours_rate >= TARGET_BATCH_RATE
    same = gap < 0.01
    print(f"  [{'PASS' if fast else 'FAIL'}] ours >= {TARGET_BATCH_RATE / 1e6:.0f}M decisions/s")
    print(f"  [{'PASS' if same else 'FAIL'}] both sample the same policy (gap < 0.01)")
    ok = fast and same
    figures = {
        "candidates": k,
        "ours_rate": ours_rate,
        "numpy_rate": peer_rate,
        "single_rate": singles / t_single,
        "target_rate": TARGET_BATCH_RATE,
        "pick_gap": gap,
    }
    record("arbiter", figures, parser, args)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
