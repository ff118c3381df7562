"""DagTracker against rustworkx, graphlib and networkx on random layered DAGs.

Workloads, each timed on the same DAG for every library in this one process:

- build: tasks plus edges from arrays (ours: numpy arrays; rustworkx:
  ``add_edges_from_no_data`` on a list of tuples; graphlib: ``add`` per edge;
  networkx: ``add_edges_from``).
- drain per task: ``while is_active(): for v in get_ready(): done(v)``.
- drain batch: ``done`` on every ready task at once (ours ``done_many``,
  rustworkx ``done(list)``, graphlib ``done(*ready)``, networkx
  ``topological_generations``).
- checkpoint round trip: ours ``to_bytes``/``from_bytes``; peers pickle.
- done() call: the median over ready batches of the mean cost of one
  ``done(v)`` call made from a Python loop (the loop's own cost included).

Set-up that a workload needs (edge lists for peers, a fresh sorter for each
drain) is not timed; the garbage collector is off while timing, as in timeit.
Prints medians and our/peer ratios, and checks the targets at 1M tasks.
"""

from __future__ import annotations

import argparse
import gc
import graphlib
import pickle
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import networkx as nx
import numpy as np
import rustworkx as rx
from measured import record

from symphony_lab.pit import DagTracker

PEERS = ("rustworkx", "graphlib", "networkx")
WORKLOADS = ("build", "drain per task", "drain batch", "checkpoint round trip", "done() call")


def layered_dag(
    n: int, width: int = 1000, degree: int = 4, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """``degree * n`` edges, each from a random task to a random task of the next layer."""
    rng = np.random.default_rng(seed)
    width = min(width, max(1, n // 10))
    layers = n // width
    src = rng.integers(0, (layers - 1) * width, degree * n)
    dst = (src // width + 1) * width + rng.integers(0, width, degree * n)
    return src.astype(np.int64), dst.astype(np.int64)


def timed(fn: Callable[[], object]) -> float:
    gc.collect()
    gc.disable()
    try:
        start = time.perf_counter()
        fn()
        return time.perf_counter() - start
    finally:
        gc.enable()


def per_call_done(sorter: object) -> float:
    """Median over ready batches of the mean time of one ``done(v)`` call."""
    done, get_ready, is_active = sorter.done, sorter.get_ready, sorter.is_active
    means = []
    gc.collect()
    gc.disable()
    try:
        while is_active():
            batch = get_ready()
            start = time.perf_counter()
            for v in batch:
                done(v)
            if len(batch) >= 100:
                means.append((time.perf_counter() - start) / len(batch))
    finally:
        gc.enable()
    return statistics.median(means)


@dataclass
class Suite:
    n: int
    src: np.ndarray
    dst: np.ndarray
    repeat: int
    peers: tuple[str, ...]
    results: dict[str, dict[str, float]] = field(default_factory=dict)

    def record(self, workload: str, lib: str, runs: list[float]) -> None:
        value = statistics.median(runs)
        self.results.setdefault(workload, {})[lib] = value
        print(f"  {workload:<22} {lib:<10} {fmt(value, workload):>12}", file=sys.stderr, flush=True)

    def measure(
        self, workload: str, lib: str, prepare: Callable[[], object], run: Callable
    ) -> None:
        runs = []
        for _ in range(self.repeat):
            state = prepare()
            runs.append(timed(lambda state=state: run(state)))
            del state
        self.record(workload, lib, runs)

    # ---- ours ---------------------------------------------------------------

    def ours(self) -> None:
        def build() -> DagTracker:
            t = DagTracker()
            t.add_tasks(np.arange(self.n))
            t.add_edges(self.src, self.dst)
            return t

        self.measure("build", "ours", lambda: None, lambda _: build())
        data = build().to_bytes()
        fresh = lambda: DagTracker.from_bytes(data)  # noqa: E731

        def drain(t: DagTracker) -> None:
            t.prepare()
            done, get_ready, is_active = t.done, t.get_ready, t.is_active
            while is_active():
                for v in get_ready():
                    done(v)

        def drain_batch(t: DagTracker) -> None:
            done_many, take_ready, is_active = t.done_many, t.take_ready, t.is_active
            while is_active():
                done_many(take_ready())

        self.measure("drain per task", "ours", fresh, drain)
        self.measure("drain batch", "ours", fresh, drain_batch)
        self.measure(
            "checkpoint round trip", "ours", fresh, lambda t: DagTracker.from_bytes(t.to_bytes())
        )
        self.record("done() call", "ours", [per_call_done(fresh()) for _ in range(self.repeat)])

    # ---- peers --------------------------------------------------------------

    def rustworkx(self) -> None:
        edges = list(zip(self.src.tolist(), self.dst.tolist(), strict=True))

        def build() -> rx.PyDiGraph:
            g = rx.PyDiGraph()
            g.add_nodes_from(range(self.n))
            g.add_edges_from_no_data(edges)
            return g

        self.measure("build", "rustworkx", lambda: None, lambda _: build())
        g = build()
        sorter = lambda: rx.TopologicalSorter(g)  # noqa: E731

        def drain(ts: rx.TopologicalSorter) -> None:
            done, get_ready, is_active = ts.done, ts.get_ready, ts.is_active
            while is_active():
                for v in get_ready():
                    done(v)

        def drain_batch(ts: rx.TopologicalSorter) -> None:
            while ts.is_active():
                ts.done(ts.get_ready())

        self.measure("drain per task", "rustworkx", sorter, drain)
        self.measure("drain batch", "rustworkx", sorter, drain_batch)
        self.measure("checkpoint round trip", "rustworkx", lambda: g, round_trip)
        self.record(
            "done() call", "rustworkx", [per_call_done(sorter()) for _ in range(self.repeat)]
        )

    def graphlib(self) -> None:
        src, dst = self.src.tolist(), self.dst.tolist()

        def build() -> graphlib.TopologicalSorter:
            ts = graphlib.TopologicalSorter()
            add = ts.add
            for v in range(self.n):
                add(v)
            for s, d in zip(src, dst, strict=True):
                add(d, s)
            return ts

        self.measure("build", "graphlib", lambda: None, lambda _: build())
        unprepared = build()

        def prepared() -> graphlib.TopologicalSorter:
            ts = pickle.loads(pickle.dumps(unprepared, pickle.HIGHEST_PROTOCOL))
            ts.prepare()
            return ts

        def drain(ts: graphlib.TopologicalSorter) -> None:
            done, get_ready, is_active = ts.done, ts.get_ready, ts.is_active
            while is_active():
                for v in get_ready():
                    done(v)

        def drain_batch(ts: graphlib.TopologicalSorter) -> None:
            while ts.is_active():
                ts.done(*ts.get_ready())

        self.measure("drain per task", "graphlib", prepared, drain)
        self.measure("drain batch", "graphlib", prepared, drain_batch)
        self.measure("checkpoint round trip", "graphlib", lambda: unprepared, round_trip)
        self.record(
            "done() call", "graphlib", [per_call_done(prepared()) for _ in range(self.repeat)]
        )

    def networkx(self) -> None:
        edges = list(zip(self.src.tolist(), self.dst.tolist(), strict=True))

        def build() -> nx.DiGraph:
            g = nx.DiGraph()
            g.add_nodes_from(range(self.n))
            g.add_edges_from(edges)
            return g

        self.measure("build", "networkx", lambda: None, lambda _: build())
        g = build()
        self.measure(
            "drain batch", "networkx", lambda: g, lambda g: list(nx.topological_generations(g))
        )
        self.measure("checkpoint round trip", "networkx", lambda: g, round_trip)

    def run(self) -> dict[str, dict[str, float]]:
        print(f"{self.n:,} tasks, {len(self.src):,} edges", file=sys.stderr, flush=True)
        self.ours()
        for peer in self.peers:
            getattr(self, peer)()
            gc.collect()
        return self.results


def round_trip(obj: object) -> object:
    return pickle.loads(pickle.dumps(obj, pickle.HIGHEST_PROTOCOL))


def fmt(seconds: float, workload: str) -> str:
    if workload == "done() call":
        return f"{seconds * 1e9:.0f} ns"
    return f"{seconds * 1e3:.1f} ms" if seconds < 10 else f"{seconds:.2f} s"


def table(n: int, results: dict[str, dict[str, float]], peers: tuple[str, ...]) -> str:
    head = ["workload", "ours", *peers, *(f"ours/{p}" for p in peers)]
    rows = [head]
    for w in WORKLOADS:
        r = results.get(w, {})
        cells = [w, fmt(r["ours"], w)]
        cells += [fmt(r[p], w) if p in r else "-" for p in peers]
        cells += [f"{r['ours'] / r[p]:.2f}x" if p in r else "-" for p in peers]
        rows.append(cells)
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    lines = [f"DagTracker benchmark, {n:,} tasks (medians)"]
    for i, row in enumerate(rows):
        lines.append(
            "  ".join(
                c.rjust(wd) if j else c.ljust(wd)
                for j, (c, wd) in enumerate(zip(row, widths, strict=True))
            )
        )
        if i == 0:
            lines.append("  ".join("-" * wd for wd in widths))
    return "\n".join(lines)


def targets(results: dict[str, dict[str, float]]) -> list[tuple[str, bool, str]]:
    """The targets of the foundation issue, checked at 1M tasks."""
    out = []

    def ratio(w: str, peer: str, limit: float) -> None:
        r = results.get(w, {})
        if peer in r:
            x = r["ours"] / r[peer]
            out.append((f"{w}: ours/{peer} <= {limit}", x <= limit, f"{x:.2f}x"))

    ratio("build", "rustworkx", 0.5)
    ratio("drain per task", "rustworkx", 1.0)
    ratio("drain batch", "rustworkx", 0.5)
    ratio("drain per task", "graphlib", 0.6)
    ckpt = results["checkpoint round trip"]["ours"]
    out.append(("checkpoint round trip <= 0.5 s", ckpt <= 0.5, f"{ckpt:.3f} s"))
    call = results["done() call"]["ours"]
    out.append(("one done() call <= 300 ns", call <= 300e-9, f"{call * 1e9:.0f} ns"))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes", default="10000,100000,1000000", help="comma-separated task counts"
    )
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs per measurement (median reported)"
    )
    parser.add_argument("--peers", default=",".join(PEERS), help=f"subset of {','.join(PEERS)}")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    peers = tuple(p for p in args.peers.split(",") if p)
    if unknown := set(peers) - set(PEERS):
        parser.error(f"unknown peers: {', '.join(sorted(unknown))}")
    all_results, edges = {}, {}
    for n in sizes:
        src, dst = layered_dag(n)
        edges[str(n)] = len(src)
        results = Suite(n, src, dst, args.repeat, peers).run()
        all_results[n] = results
        print(table(n, results, peers), flush=True)
        print(flush=True)
    if 1_000_000 in all_results:
        print("Targets at 1M tasks:")
        for name, ok, value in targets(all_results[1_000_000]):
            print(f"  [{'PASS' if ok else 'MISS'}] {name}: {value}")
    figures = {"sizes": {str(n): r for n, r in all_results.items()}, "edges": edges}
    record("dag", figures, parser, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
