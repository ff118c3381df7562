"""What the sandbox costs: an extension's start and a call, walled in or not.

The same no-op extension is hosted by the same supervised process backend
twice: once in the sandbox the Stage uses (Landlock, seccomp, namespaces with a
tmpfs work folder, a pids cgroup), once without it (``HostOptions(sandbox=None)``,
which no Stage offers: it is here only as the peer). Starts alternate between
the two, so drift on a noisy machine falls on both alike.

- start: from ``start()`` to healthy (spawn, interpreter start-up, handshake,
  activation and health check), median of ``--starts`` starts each;
- call: round trip of a no-op function, median of ``--repeats`` x ``--calls``,
  the repeats of the two interleaved.

Targets: a sandboxed start <= 1.2x an unsandboxed one; a call's round trip the
same within noise.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from measured import record

from symphony_lab.sdk.manifest import load_manifest
from symphony_lab.stage.backend import HostOptions
from symphony_lab.stage.process import ExtensionProcess
from symphony_lab.stage.sandbox import probe

NOOP = """
from symphony_lab.sdk import operator

@operator
def noop():
    return None
"""


def start_once(folder: Path, options: HostOptions) -> tuple[float, ExtensionProcess]:
    ext = ExtensionProcess(load_manifest(folder), options)
    t0 = time.perf_counter()
    ext.start(wait=True)
    return time.perf_counter() - t0, ext


def round_trips(exts: dict[str, ExtensionProcess], calls: int, repeats: int) -> dict[str, float]:
    """Median seconds per call of each, their repeats interleaved."""
    times: dict[str, list[float]] = {k: [] for k in exts}
    for _ in range(repeats):
        for kind, ext in exts.items():
            t0 = time.perf_counter()
            for _ in range(calls):
                ext.call("noop")
            times[kind].append((time.perf_counter() - t0) / calls)
    return {k: statistics.median(v) for k, v in times.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--starts", type=int, default=30, help="starts of each kind")
    ap.add_argument("--calls", type=int, default=2000, help="calls per repeat")
    ap.add_argument("--repeats", type=int, default=15)
    args = ap.parse_args()
    report = probe()
    print(report.line())
    tmp = Path(tempfile.mkdtemp(prefix="bench-stage-"))
    folder = tmp / "noop"
    folder.mkdir()
    (folder / "noop_ext.py").write_text(NOOP)
    (folder / "symphony.toml").write_text(
        'name = "noop"\nversion = "1.0.0"\nkind = "operator"\nentry = "noop_ext"\n'
        '[[functions]]\nname = "noop"\n'
    )
    kinds = {
        "sandboxed": HostOptions(root=tmp / "walled", sandbox=report),
        "unsandboxed": HostOptions(root=tmp / "open", sandbox=None),
    }
    starts: dict[str, list[float]] = {k: [] for k in kinds}
    for _ in range(args.starts):
        for kind, options in kinds.items():
            took, ext = start_once(folder, options)
            starts[kind].append(took)
            ext.stop()
    running = {kind: start_once(folder, options)[1] for kind, options in kinds.items()}
    calls = round_trips(running, args.calls, args.repeats)
    for ext in running.values():
        ext.stop()
    s = {k: statistics.median(v) for k, v in starts.items()}
    ms, us = 1e3, 1e6
    print(f"start to healthy, median of {args.starts}:")
    print(f"  sandboxed     {s['sandboxed'] * ms:7.1f} ms")
    ratio = s["sandboxed"] / s["unsandboxed"]
    print(f"  unsandboxed   {s['unsandboxed'] * ms:7.1f} ms   ratio {ratio:.2f}  (target <= 1.2)")
    print(f"no-op call round trip, median of {args.repeats} x {args.calls}:")
    print(f"  sandboxed     {calls['sandboxed'] * us:7.1f} us")
    call_ratio = calls["sandboxed"] / calls["unsandboxed"]
    print(f"  unsandboxed   {calls['unsandboxed'] * us:7.1f} us   ratio {call_ratio:.2f}")
    record(
        "stage",
        {"start_s": s, "call_s": calls, "start_ratio": ratio, "call_ratio": call_ratio},
        ap,
        args,
    )


if __name__ == "__main__":
    main()
