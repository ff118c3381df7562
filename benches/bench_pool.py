"""PoolManager against pure-Python pools, and predictive prewarming on a bursty trace.

1. Hot path: one acquire + release of a hot instance from Python, as a
   context manager (``with pool.acquire("f"): pass``), against two pools
   written in Python in the same process: a ``deque`` guarded by a
   ``threading.Lock``, and a ``queue.Queue``, each called as
   ``item = acquire(); release(item)``. The targets compare ours *with* the
   ``with`` statement to the peers without it; like-for-like rows (ours
   without ``with``, the deque pool with a ``with`` lease class) are printed
   too. Each round times a loop of ``--calls`` iterations; the figure is the
   median over ``--repeat`` rounds, per iteration, the loop's own cost
   included for everyone.
2. Prewarming: a seeded bursty trace (functions used in bursts separated by
   gaps mostly longer than their idle timeout) replayed on a virtual clock,
   once with prediction off and once with ``predictive=True`` plus
   ``prewarm_suggested()`` at each arrival. Prints cold starts of each run,
   the share avoided, and what it cost in hot instance-seconds.
"""

from __future__ import annotations

import argparse
import collections
import gc
import heapq
import queue
import random
import statistics
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from measured import record

from symphony_lab.pit import Lease, PoolEvent, PoolManager

TARGET_NS = 250.0
TARGET_VS_DEQUE = 0.5
TARGET_VS_QUEUE = 0.2
TARGET_AVOIDED = 0.5


class DequePool:
    """The usual hand-written pool: idle instances in a deque under a lock."""

    def __init__(self, n: int) -> None:
        self._idle = collections.deque(range(n))
        self._lock = threading.Lock()

    def acquire(self) -> int:
        with self._lock:
            return self._idle.pop()

    def release(self, item: int) -> None:
        with self._lock:
            self._idle.append(item)


class DequeLease:
    """The deque pool's lease as a context manager, written the usual way."""

    __slots__ = ("_item", "_pool")

    def __init__(self, pool: DequePool) -> None:
        self._pool = pool
        self._item = pool.acquire()

    def __enter__(self) -> int:
        return self._item

    def __exit__(self, *exc: object) -> None:
        self._pool.release(self._item)


class QueuePool:
    """A pool on ``queue.Queue``, blocking when empty."""

    def __init__(self, n: int) -> None:
        self._q: queue.Queue[int] = queue.Queue()
        for i in range(n):
            self._q.put(i)

    def acquire(self) -> int:
        return self._q.get()

    def release(self, item: int) -> None:
        self._q.put(item)


def per_call(loop: Callable[[int], None], calls: int, repeat: int) -> float:
    """Median seconds per iteration over `repeat` rounds, GC off while timing."""
    times = []
    loop(calls // 10)  # warm caches and branch predictors
    for _ in range(repeat):
        gc.collect()
        gc.disable()
        try:
            start = time.perf_counter()
            loop(calls)
            times.append((time.perf_counter() - start) / calls)
        finally:
            gc.enable()
    return statistics.median(times)


def hot_path(calls: int, repeat: int) -> dict[str, float]:
    pool = PoolManager(reaper_interval=None)
    pool.register("f", idle_timeout=None)
    pool.acquire("f").release()
    deque_pool = DequePool(1)
    queue_pool = QueuePool(1)

    def ours(n: int) -> None:
        acquire = pool.acquire
        for _ in range(n):
            with acquire("f"):
                pass

    def deque_loop(n: int) -> None:
        acquire, release = deque_pool.acquire, deque_pool.release
        for _ in range(n):
            item = acquire()
            release(item)

    def queue_loop(n: int) -> None:
        acquire, release = queue_pool.acquire, queue_pool.release
        for _ in range(n):
            item = acquire()
            release(item)

    def ours_plain(n: int) -> None:
        acquire = pool.acquire
        for _ in range(n):
            acquire("f").release()

    def deque_with(n: int) -> None:
        for _ in range(n):
            with DequeLease(deque_pool):
                pass

    loops = {
        "ours": ours,
        "deque+Lock": deque_loop,
        "queue.Queue": queue_loop,
        "ours, plain": ours_plain,
        "deque+Lock, with": deque_with,
    }
    results: dict[str, list[float]] = {name: [] for name in loops}
    # Interleave the libraries so drift on a shared machine hits all alike.
    for _ in range(repeat):
        for name, loop in loops.items():
            results[name].append(per_call(loop, calls, 1))
    return {k: statistics.median(v) for k, v in results.items()}


@dataclass
class Request:
    time: float
    function: str
    hold: float


def bursty_trace(
    seed: int, functions: int, horizon: float
) -> tuple[list[Request], dict[str, float]]:
    """Each function alternates quiet gaps (exponential, mean 90 s; its idle
    timeout is 30 s) with bursts of 5-30 requests at 2 per second, each held
    for an exponential 1.5 s, so bursts need up to 3-4 instances at once."""
    rng = random.Random(seed)
    warmups = {f"fn{k}": rng.uniform(2.0, 8.0) for k in range(functions)}
    requests = []
    for name in warmups:
        t = rng.expovariate(1 / 60)
        while t < horizon:
            for _ in range(rng.randint(5, 30)):
                t += rng.expovariate(2.0)
                requests.append(Request(t, name, rng.expovariate(1 / 1.5)))
            t += rng.expovariate(1 / 90)
    requests.sort(key=lambda r: r.time)
    return requests, warmups


def replay(
    requests: list[Request], warmups: dict[str, float], predictive: bool
) -> dict[str, float]:
    """Replays the trace on a virtual clock; queued requests are served as
    instances come back. Returns cold starts, prewarms, and the instance-
    seconds spent not cold (the memory that prediction pays for them)."""
    alive = 0
    alive_since = 0.0
    alive_seconds = 0.0

    def on_event(e: PoolEvent) -> None:
        nonlocal alive, alive_since, alive_seconds
        step = (e.from_state == "cold") - (e.to_state == "cold")
        if step:
            alive_seconds += alive * (e.time - alive_since)
            alive, alive_since = alive + step, e.time

    pool = PoolManager(clock="virtual", predictive=predictive, event_capacity=0, on_event=on_event)
    for name, warmup in warmups.items():
        pool.register(name, max_instances=4, warmup=warmup, idle_timeout=30.0)
    releases: list[tuple[float, int, Lease]] = []
    waiting: dict[str, collections.deque[Request]] = collections.defaultdict(collections.deque)
    cold = 0
    seq = 0

    def start(req: Request) -> bool:
        nonlocal cold, seq
        lease = pool.try_acquire(req.function)
        if lease is None:
            return False
        cold += lease.cold_start
        seq += 1
        heapq.heappush(releases, (max(lease.ready_at, pool.now) + req.hold, seq, lease))
        return True

    def release_until(t: float) -> None:
        while releases and releases[0][0] <= t:
            at, _, lease = heapq.heappop(releases)
            pool.advance_to(at)
            lease.release()
            line = waiting[lease.function]
            while line and start(line[0]):
                line.popleft()

    for req in requests:
        release_until(req.time)
        pool.advance_to(req.time)
        if predictive:
            pool.prewarm_suggested()
        line = waiting[req.function]
        if line or not start(req):
            line.append(req)
    release_until(float("inf"))
    # Let every idle instance time out, then count the hot time up to there.
    while (step := pool.next_event_in()) is not None:
        pool.advance(step)
    alive_seconds += alive * (pool.now - alive_since)
    return {
        "cold starts": cold,
        "prewarms": pool.stats()["prewarms"],
        "instance-s": alive_seconds,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200_000, help="iterations per timing round")
    parser.add_argument("--repeat", type=int, default=7, help="timing rounds (median reported)")
    parser.add_argument("--functions", type=int, default=12, help="functions in the bursty trace")
    parser.add_argument("--hours", type=float, default=6.0, help="length of the bursty trace")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    failed = []
    print(f"Hot path: acquire + release of a hot instance, median of {args.repeat}")
    hot = hot_path(args.calls, args.repeat)
    for name, secs in hot.items():
        how = (
            ""
            if "with" in name
            else ("  (with ...)" if name == "ours" else "  (acquire(); release())")
        )
        print(f"  {name:18s} {secs * 1e9:8.1f} ns{how}")
    ours = hot["ours"] * 1e9
    vs_deque = hot["ours"] / hot["deque+Lock"]
    vs_queue = hot["ours"] / hot["queue.Queue"]
    print(f"  ours / deque+Lock  = {vs_deque:.2f}x (target <= {TARGET_VS_DEQUE}x)")
    print(f"  ours / queue.Queue = {vs_queue:.2f}x (target <= {TARGET_VS_QUEUE}x)")
    print(
        f"  like for like: ours plain / deque+Lock ="
        f" {hot['ours, plain'] / hot['deque+Lock']:.2f}x,"
        f" ours / deque+Lock with = {hot['ours'] / hot['deque+Lock, with']:.2f}x"
    )
    for ok, what in [
        (ours <= TARGET_NS, f"ours {ours:.0f} ns <= {TARGET_NS:.0f} ns"),
        (vs_deque <= TARGET_VS_DEQUE, "ratio to deque+Lock"),
        (vs_queue <= TARGET_VS_QUEUE, "ratio to queue.Queue"),
    ]:
        print(f"  [{'PASS' if ok else 'FAIL'}] {what}")
        if not ok:
            failed.append(what)

    requests, warmups = bursty_trace(args.seed, args.functions, args.hours * 3600)
    print(
        f"\nPrewarming: {len(requests)} requests to {args.functions} functions over {args.hours} h"
    )
    plain = replay(requests, warmups, predictive=False)
    predicted = replay(requests, warmups, predictive=True)
    for label, r in [("no prediction", plain), ("prediction", predicted)]:
        print(
            f"  {label:14s} cold starts {r['cold starts']:6.0f}   prewarms {r['prewarms']:6.0f}"
            f"   instance-hours not cold {r['instance-s'] / 3600:7.1f}"
        )
    avoided = 1 - predicted["cold starts"] / max(plain["cold starts"], 1)
    ok = avoided >= TARGET_AVOIDED
    print(
        f"  [{'PASS' if ok else 'FAIL'}] prediction avoids {avoided:.0%} of cold starts"
        f" (target >= {TARGET_AVOIDED:.0%})"
    )
    if not ok:
        failed.append("prewarming")
    figures = {
        "hot_ns": {name: secs * 1e9 for name, secs in hot.items()},
        "targets_ns": {"ours": TARGET_NS, "vs_deque": TARGET_VS_DEQUE, "vs_queue": TARGET_VS_QUEUE},
        "trace": {"requests": len(requests), "functions": args.functions, "hours": args.hours},
        "no_prediction": plain,
        "prediction": predicted,
        "avoided": avoided,
        "target_avoided": TARGET_AVOIDED,
    }
    record("pool", figures, parser, args)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
