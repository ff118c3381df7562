"""A million mutated inputs for every decoder of outside bytes (tests/fuzzing.py).

Bus frames, msgpack payloads, DAG checkpoints, manifests, level TOML, pack
files, Conductor checkpoints and Orchestra Kit packages: each decoder must
accept an input or refuse it with its documented error, within
``fuzzing.SLOW`` seconds, without a panic. The work is split across the
cores (``--workers``), each worker on a seed of its own; what a finding was
fed is written to ``benches/results/fuzz/``. Peak memory is reported per
worker.

Target: no finding in ``--inputs`` (1,000,000) inputs per decoder.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import warnings
from concurrent.futures import ProcessPoolExecutor

from measured import HERE, record

sys.path.insert(0, str(HERE.parent))
from tests.fuzzing import TARGETS, Report, run


def work(name: str, inputs: int, seed: int) -> tuple[Report, int]:
    # Damaged inputs make torch and the manifest reader warn by the thousand.
    warnings.simplefilter("ignore")
    report = run(TARGETS[name](), inputs, seed)
    return report, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss >> 10


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--inputs", type=int, default=1_000_000, help="inputs per decoder")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--targets", nargs="*", choices=sorted(TARGETS), default=None)
    args = ap.parse_args()
    names = args.targets or list(TARGETS)
    share = -(-args.inputs // args.workers)
    out = HERE / "results" / "fuzz"
    figures: dict[str, dict[str, float]] = {}
    failed = False
    print(f"{'decoder':24s}{'inputs':>11s}{'per s':>9s}{'refused':>9s}{'slowest':>10s}"
          f"{'peak MiB':>10s}{'findings':>10s}")  # fmt: skip
    with ProcessPoolExecutor(args.workers) as pool:
        for name in names:
            jobs = [pool.submit(work, name, share, seed) for seed in range(args.workers)]
            parts = [j.result() for j in jobs]
            reports = [p[0] for p in parts]
            inputs = sum(r.inputs for r in reports)
            seconds = max(r.seconds for r in reports)
            findings = [f for r in reports for f in r.findings]
            for i, f in enumerate(findings[:20]):
                out.mkdir(parents=True, exist_ok=True)
                (out / f"{name}-{i}.bin").write_bytes(f.data)
                print(f"  finding: {f.error[:200]}")
            failed |= bool(findings)
            refused = sum(r.refused for r in reports) / inputs
            slowest = max(r.slowest for r in reports)
            peak = max(p[1] for p in parts)
            print(f"{reports[0].target:24s}{inputs:11,d}{inputs / seconds:9,.0f}{refused:9.1%}"
                  f"{slowest * 1e3:8.1f}ms{peak:10,d}{len(findings):10d}")  # fmt: skip
            figures[name] = {
                "inputs": inputs,
                "per_s": inputs / seconds,
                "refused": refused,
                "slowest_s": slowest,
                "peak_mib": peak,
                "findings": len(findings),
            }
    record("fuzz", {"decoders": figures}, ap, args)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
