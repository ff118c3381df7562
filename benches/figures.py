"""The generated figures of the README and the docs: measured results kept
as JSON under ``benches/measured/``, rendered between markers, so that no
figure there is typed by hand.

    python benches/figures.py main-job runs/<id>   read a main job's run folder (its
                                                   per-pack CSVs) into main_job.json,
                                                   then rewrite the README's table
    python benches/figures.py                      rewrite the pages from the JSON
    python benches/figures.py --check              exit 1 when a page differs (the suite)

A generated block sits between ``<!-- figures NAME: ... -->`` and
``<!-- /figures NAME -->`` in ``README.md`` or a page under ``docs/``; the
rest is prose.
"""

from __future__ import annotations

import json
import math
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from symphony_lab.conductor import Evaluation
from symphony_lab.runs.record import finite, read

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benches" / "measured"
README = ROOT / "README.md"


def pages() -> list[Path]:
    """The README and the docs pages, where figure blocks may sit."""
    return [README, *sorted((ROOT / "docs").rglob("*.md"))]


BLOCK = re.compile(
    r"(<!-- figures (?P<name>[\w-]+):[^\n]*-->\n)(?P<body>.*?)(<!-- /figures (?P=name) -->)", re.S
)


def _ratio(x: float, y: float) -> float:
    return x / y if y == y and y else math.nan


def pack_row(pack: str, frame: pd.DataFrame) -> dict[str, Any]:
    """One held-out pack's line: the Conductor's solve rate, cost ratios on
    deterministic and flaky levels, its flaky ratio over exact replanning's
    and relaxed greedy's on the same levels, and how often it ends with the
    optional goals the optimum ends with."""
    bd = Evaluation(frame).breakdown()
    c = bd.loc["conductor"]

    def flaky(agent: str) -> float:
        return float(bd.loc[agent, "flaky"]) if agent in bd.index else math.nan

    return {
        "pack": pack,
        "levels": int(c["levels"]),
        "solved": float(c["solve_rate"]),
        "deterministic": float(c["deterministic"]),
        "flaky": float(c["flaky"]),
        "vs_replanning": _ratio(float(c["flaky"]), flaky("exact_replanning")),
        "vs_relaxed_greedy": _ratio(float(c["flaky"]), flaky("relaxed_greedy")),
        "bonus_match": float(c["bonus_match"]),
    }


def main_job(folder: Path) -> dict[str, Any]:
    """The main job's figures from its run folder: a row per evaluated pack
    (from ``<pack>.csv``, one row per episode) and one for the ood packs together."""
    rec = read(folder)
    if rec.status != "done":
        raise SystemExit(f"{folder}: the run is {rec.status}, not done")
    rows, ood = [], []
    for pack in rec.params["packs"]:
        frame = pd.read_csv(folder / f"{pack}.csv")
        rows.append(pack_row(pack, frame))
        if pack.startswith("ood-"):
            ood.append(frame)
    if ood:
        rows.append(pack_row("all ood packs", pd.concat(ood, ignore_index=True)))
    return {
        "run": rec.id,
        "date": time.strftime("%Y-%m-%d", time.localtime(rec.started)),
        "minutes": round((rec.ended - rec.started) / 60, 1),
        "commit": rec.provenance.get("git", {}).get("commit", "")[:7],
        "steps": rec.params["steps"],
        "threads": rec.params["threads"],
        "rows": rows,
    }


DASH, TIMES = "\u2013", "\u00d7"  # the README's "none" and "times"


def _f(x: float | None, spec: str = ".3f", unit: str = "") -> str:
    return DASH if x is None else format(x, spec) + unit


def render_main_job(data: dict[str, Any]) -> str:
    lines = [
        f"`./lab run` of {data['date']} (commit {data['commit']}, {data['steps']:,} PPO steps "
        f"after imitation, {data['threads']} torch thread, {data['minutes']} minutes in all):",
        "",
        "| held-out pack | levels | solved | cost ratio (deterministic / flaky) "
        "| flaky vs exact replanning | flaky vs relaxed greedy | optional goals as the optimum's |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in data["rows"]:
        lines.append(
            f"| {r['pack']} | {r['levels']} | {r['solved']:.1%} "
            f"| {_f(r['deterministic'])} / {_f(r['flaky'])} "
            f"| {_f(r['vs_replanning'], '.2f', TIMES)} "
            f"| {_f(r['vs_relaxed_greedy'], '.2f', TIMES)} "
            f"| {_f(r['bonus_match'], '.1%')} |"
        )
    return "\n".join(lines) + "\n"


def _n(x: float) -> str:
    return f"{x / 1000:,.0f}k" if x >= 1000 and x % 1000 == 0 else f"{x:,}"


def _pm(x: float, se: float) -> str:
    return f"{x:+.2f} \u00b1 {se:.2f}"


def _tick(ok: bool) -> str:
    return "\u2713" if ok else "\u2717"


def render_live(data: dict[str, Any]) -> str:
    """The live tier's table: every agent on the same held-out episodes,
    against exact replanning and critical_path, and the targets."""
    opts, a = data["options"], data["agents"]
    steps = _n(opts["steps"])
    label = {
        "exact_replanning": "exact_replanning (stated numbers)",
        "critical_path": "critical_path (re-estimates, schedules; does not learn)",
        "random": "random (masked)",
        "conductor": f"**Conductor**: imitation of critical_path, then {steps} PPO steps",
        "no PPO": "no PPO (imitation alone)",
        "no imitation": f"no imitation (PPO alone, {steps} steps)",
        "old mask": "old mask (idle calls offered)",
        "imitating learned": "imitation of the learned expert, no PPO",
        "learned": "yardstick: learned expert (world fitted to training outcomes by EM)",
        "informed": "yardstick: informed (told the outage rates)",
        "oracle": "yardstick: oracle (told the episode's true rates)",
    }
    lines = [
        f"`./lab bench live` of {data['date']} (commit {data['commit']}, one torch thread): "
        f"{data['levels']} held-out levels in {opts['repeats']} worlds each, "
        f"{data['episodes']:,} episodes on the same seeds for every agent; mean episode cost "
        "(calls paid plus time), and the difference from `critical_path` on the same "
        "episodes with its standard error.",
        "",
        "| agent | mean cost | solved | vs exact replanning | vs critical_path |",
        "|---|---|---|---|---|",
    ]
    for name in sorted(a, key=lambda k: list(label).index(k) if k in label else len(label)):
        r, bold = a[name], name == "conductor"
        cost = f"{r['mean_cost']:.2f}"
        vs_rep = f"{r['vs_replanning']:.3f}{TIMES}"
        vs_cp = f"{r['vs_critical_path']:.3f}{TIMES}"
        if name not in ("critical_path", "learned", "informed", "oracle"):  # no diff for yardsticks
            vs_cp += f" ({_pm(r['diff_critical_path'], r['diff_se'])})"
        if bold:
            cost, vs_rep, vs_cp = f"**{cost}**", f"**{vs_rep}**", f"**{vs_cp}**"
        lines.append(
            f"| {label.get(name, name)} | {cost} | {r['solved']:.1%} | {vs_rep} | {vs_cp} |"
        )
    ours, cp = a["conductor"], a["critical_path"]
    imitation = a["no PPO"]
    below_cp = -ours["diff_critical_path"]
    curve = data["curves"]["conductor"]
    alone = data["curves"].get("no imitation", [])
    t = list(data["targets"].values())
    lines += [
        "",
        f"Targets: \u2264 0.85{TIMES} exact replanning {_tick(t[0])} "
        f"({ours['vs_replanning']:.3f}{TIMES}), below critical_path {_tick(t[1])} "
        f"({-below_cp / cp['mean_cost']:+.1%}, {below_cp / ours['diff_se']:.1f} standard "
        f"errors below), PPO below imitation alone {_tick(t[2])} (gain "
        f"{data['ppo_gain']:.2f} \u00b1 {data['ppo_gain_se']:.2f}, "
        f"{data['ppo_gain'] / imitation['mean_cost']:.1%}). On the quick sweep that draws "
        f"`benches/results/live_training.png`, the Conductor's mean cost goes from "
        f"{curve[0][1]:.1f} to {curve[-1][1]:.1f} over {_n(curve[-1][0])} PPO steps"
        + (
            f"; PPO alone from {alone[1][1]:.1f} after {_n(alone[1][0])} steps to "
            f"{alone[-1][1]:.1f} after {_n(alone[-1][0])}."
            if len(alone) > 1
            else "."
        ),
    ]
    return "\n".join(lines) + "\n"


def _time(seconds: float, unit: str = "auto") -> str:
    if unit == "ns" or (unit == "auto" and seconds < 1e-6):
        return f"{seconds * 1e9:,.0f} ns"
    if seconds < 1e-3:
        return f"{seconds * 1e6:,.1f} \u00b5s"
    return f"{seconds * 1e3:,.0f} ms" if seconds < 10 else f"{seconds:.2f} s"


def _head(data: dict[str, Any], what: str) -> str:
    when = f"{data['date']} (commit {data['commit']}, {data['cores']} cores)"
    return f"`./lab bench {what}` of {when}"


def render_dag(data: dict[str, Any]) -> str:
    """The largest size the DAG bench ran: every library in one process."""
    n = max(data["sizes"], key=int)
    r, edges = data["sizes"][n], data["edges"][n]
    label = {
        "build": "build from edge arrays",
        "drain per task": "drain, one `done()` per task",
        "drain batch": "drain, batch",
        "checkpoint round trip": "checkpoint round trip",
        "done() call": "one `done()` call from Python",
    }
    peers = ("rustworkx", "graphlib", "networkx")
    lines = [
        f"{_head(data, 'dag')}, layered random DAGs (mean out-degree 4), medians of "
        f"{data['options']['repeat']} runs, all libraries in one process:",
        "",
        f"| {int(n):,} tasks, {edges / 1e6:.0f}M edges | ours | "
        + " | ".join(peers)
        + " | ours/rustworkx | ours/graphlib |",
        "|---|---|---|---|---|---|---|",
    ]
    for w, text in label.items():
        row, unit = r[w], "ns" if w == "done() call" else "auto"
        pickle = " (pickle)" if w == "checkpoint round trip" else ""
        cells = [_time(row[p], unit) + pickle if p in row else DASH for p in peers]
        ratios = [f"{row['ours'] / row[p]:.2f}{TIMES}" if p in row else DASH
                  for p in ("rustworkx", "graphlib")]  # fmt: skip
        cells = [_time(row["ours"], unit), *cells, *ratios]
        lines.append(f"| {text} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def render_pool(pool: dict[str, Any], arbiter: dict[str, Any]) -> str:
    """The PoolManager's hot path and prewarming, and the Arbiter's batch
    decisions, against the pools and the numpy code a user would write."""
    ns, t = pool["hot_ns"], pool["targets_ns"]
    ours, deque, queue = ns["ours"], ns["deque+Lock"], ns["queue.Queue"]
    plain, pred = pool["no_prediction"], pool["prediction"]
    rate, peer = arbiter["ours_rate"], arbiter["numpy_rate"]
    lines = [
        f"{_head(pool, 'pool')} and {_head(arbiter, 'arbiter')[:-1]}), medians:",
        "",
        "| workload | ours | peer, same run | ratio | target |",
        "|---|---|---|---|---|",
        f'| acquire + release, `with pool.acquire("f"):` | {ours:,.0f} ns | deque + '
        f"`threading.Lock` pool {deque:,.0f} ns | {ours / deque:.2f}{TIMES} "
        f"| \u2264 {t['ours']:.0f} ns {_tick(ours <= t['ours'])}, \u2264 {t['vs_deque']}{TIMES} "
        f"{_tick(ours / deque <= t['vs_deque'])} |",
        f"| the same | {ours:,.0f} ns | `queue.Queue` pool {queue:,.0f} ns "
        f"| {ours / queue:.2f}{TIMES} | \u2264 {t['vs_queue']}{TIMES} "
        f"{_tick(ours / queue <= t['vs_queue'])} |",
        f"| acquire + release without `with` | {ns['ours, plain']:,.0f} ns | deque + `Lock` "
        f"pool {deque:,.0f} ns | {ns['ours, plain'] / deque:.2f}{TIMES} | {DASH} |",
        f"| Thompson sampling, {arbiter['candidates']} candidates, batch | {rate / 1e6:.2f} M "
        f"decisions/s | numpy, vectorised: {peer / 1e6:.2f} M/s | {rate / peer:.1f}{TIMES} "
        f"faster | \u2265 {arbiter['target_rate'] / 1e6:.0f} M/s "
        f"{_tick(rate >= arbiter['target_rate'])} |",
        f"| cold starts on a bursty {pool['trace']['hours']:g} h trace, "
        f"{pool['trace']['functions']} functions | {pred['cold starts']:,.0f} with prediction "
        f"| {plain['cold starts']:,.0f} without | {pool['avoided']:.0%} avoided "
        f"| \u2265 {pool['target_avoided']:.0%} "
        f"{_tick(pool['avoided'] >= pool['target_avoided'])} |",
        "",
        f"The `with` statement itself costs {ours - ns['ours, plain']:.0f} ns here (CPython "
        "allocates a bound method for `__enter__` and one for `__exit__`), which weighs on "
        "the context-manager figure against a deque pool called without it. "
        f"Like for like, both with `with` or both without, ours is "
        f"{ours / ns['deque+Lock, with']:.2f}{TIMES} and {ns['ours, plain'] / deque:.2f}{TIMES} "
        f"the deque pool's time. Prediction pays for its avoided cold starts with instances kept "
        f"warm: {pred['instance-s'] / 3600:,.0f} instance-hours against "
        f"{plain['instance-s'] / 3600:,.0f} on that trace.",
    ]
    return "\n".join(lines) + "\n"


def render_function_quest(data: dict[str, Any]) -> str:
    rates, tiers = data["steps_per_s"], data["tiers"]
    return (
        f"{_head(data, 'function_quest')}: the env steps {rates['function quest']:,.0f} times/s "
        f"with a random masked policy, {data['vs_cartpole']:.2f}{TIMES} CartPole-v1's "
        f"{rates['CartPole-v1']:,.0f} in the same run (target \u2265 {data['target']}{TIMES}); "
        f"the exact solver takes {tiers['hard']['solve_ms']:.2f} ms (median) on hard levels; "
        f"the h_add greedy costs {tiers['hard']['greedy']:.2f}{TIMES} the optimum on hard "
        f"levels and {tiers['expert']['greedy']:.2f}{TIMES} on expert ones.\n"
    )


def render_conductor(data: dict[str, Any], real: dict[str, Any]) -> str:
    """The Conductor's bench, section by section, and the goal runs."""
    steps = f"{data['options']['steps']:,}"
    lines = [f"{_head(data, 'conductor')}:", ""]
    if "decision_s" in data:
        d = data["decision_s"]
        lines.append(
            f"- One decision: `Conductor.decide` {d['ours'] * 1e6:.1f} \u00b5s median, "
            f"`MaskablePPO.predict` on the same network {d['sb3'] * 1e6:,.0f} \u00b5s "
            f"({d['ours'] / d['sb3']:.2f}{TIMES}); target \u2264 100 \u00b5s "
            f"{_tick(d['ours'] <= 100e-6)}."
        )
    m = data["medium"]
    lines.append(
        f"- From scratch on the medium pack (imitation, then {steps} PPO steps, "
        f"{m['wall_s'] / 60:.1f} minutes): test-medium {m['solved']:.0%} solved, cost ratio "
        f"{_f(m['cost_ratio'])}."
    )
    for pack, h in data.get("hard", {}).items():
        lines.append(
            f"- {pack}, trained on train-hard + train-expert: {h['solved']:.1%} solved, cost "
            f"ratio {_f(h['cost_ratio'])}, {_f(h['vs_relaxed_greedy'], '.2f', TIMES)} relaxed "
            f"greedy's cost and {_f(h['vs_replanning'], '.2f', TIMES)} exact replanning's on the "
            "levels both solved."
        )
    if "large" in data:
        lg = data["large"]
        lines.append(
            f"- Larger levels than any trained on ({lg['functions'][0]}\u2013{lg['functions'][1]} "
            f"functions): {lg['solved']:.0%} solved, cost ratio {_f(lg['cost_ratio'])}."
        )
    if "ablation" in data:
        ab = data["ablation"]
        lines.append(
            f"- Ablation, {steps} PPO steps each on the medium pack: the flat MLP of SB3's "
            f"`MultiInputPolicy` solves {ab['flat_mlp']['solved']:.0%} of test-medium, "
            f"cheapest-first greedy {ab['greedy']['solved']:.0%}, ours "
            f"{ab['conductor']['solved']:.0%}."
        )
    if "imitation" in data:
        im = data["imitation"]
        start = im["curves"]["imitation + PPO"][0]
        alone = im["curves"]["PPO alone"]
        reach = im["ppo_alone_reaches"]
        if reach is None:
            alone_text = f"solves {alone[-1][1]:.0%} after {alone[-1][0]:,} steps"
        else:
            alone_text = f"needs {reach:,} steps to get there"
        lines.append(
            f"- Imitation: it starts at {start[1]:.0%} of val-medium solved and a cost ratio of "
            f"{_f(start[2])}; PPO alone (same network, no warm start) {alone_text} "
            "(`benches/results/conductor_pretrain.png`)."
        )
    if "masking_share" in data:
        lines.append(
            f"- sb3-contrib's masking code takes {data['masking_share']:.1%} of a profiled PPO run."
        )
    if "steps_per_s" in data:
        r = data["steps_per_s"]
        lines.append(
            f"- PPO steps per second on the easy pack, one torch thread: "
            f"{r['1 thread, quiet']:,.0f} quiet, {r['1 thread, beside a busy core']:,.0f} beside "
            "a busy core."
        )
    c, p = real["totals"]["conductor"], real["totals"]["planner"]
    lines.append(
        f"- Goal runs on the shipped extensions, {_head(real, 'real_runs')}, {real['goals']} "
        "goals from a CSV, a text, a git repository, labelled texts: the trained Conductor "
        f"solves {c['solved']:.0%} at a total cost of {c['cost']:.2f}, the planner "
        f"{p['solved']:.0%} at {p['cost']:.2f} ({c['cost'] / p['cost']:.3f}{TIMES}); "
        f"failed calls {c['failed']} and {p['failed']}, wasted calls {c['wasted']} and "
        f"{p['wasted']}."
    )
    return "\n".join(lines) + "\n"


def render_bus(data: dict[str, Any]) -> str:
    rt, rate = data["round_trip_s"], data["pipelined_per_s"]
    return (
        f"{_head(data, 'bus')}, medians: a no-op round trip takes {rt['bus'] * 1e6:.1f} \u00b5s "
        f"against {rt['pipe'] * 1e6:.1f} \u00b5s for `multiprocessing.Pipe` "
        f"({rt['bus'] / rt['pipe']:.2f}{TIMES}) and {rt['zmq'] * 1e6:.0f} \u00b5s for pyzmq "
        f"REQ/REP over ipc ({rt['bus'] / rt['zmq']:.2f}{TIMES}); {rate['bus'] / 1e6:.2f} M "
        f"pipelined calls/s against {rate['pipe'] / 1e3:.0f} K (Pipe) and "
        f"{rate['zmq'] / 1e3:.0f} K (pyzmq DEALER/ROUTER); a no-op function through the whole "
        f"host (`Stage.call`) {data['stage_call_s'] * 1e6:.1f} \u00b5s.\n"
    )


def render_stage(data: dict[str, Any]) -> str:
    """What the sandbox costs: start and call, walled in or not."""
    st, call = data["start_s"], data["call_s"]
    return (
        f"{_head(data, 'stage')}, medians: an extension starts (spawn to healthy) in "
        f"{st['sandboxed'] * 1e3:.0f} ms in the sandbox against {st['unsandboxed'] * 1e3:.0f} ms "
        f"without it ({data['start_ratio']:.2f}{TIMES}, target \u2264 1.2{TIMES} "
        f"{_tick(data['start_ratio'] <= 1.2)}); a no-op call takes "
        f"{call['sandboxed'] * 1e6:.1f} \u00b5s against {call['unsandboxed'] * 1e6:.1f} \u00b5s "
        f"({data['call_ratio']:.2f}{TIMES}).\n"
    )


def render_fuzz(data: dict[str, Any]) -> str:
    """Mutation fuzzing of every decoder of outside bytes."""
    rows = [
        f"| {_head(data, 'fuzz')} | inputs | per second | refused | slowest | findings |",
        "|---|---|---|---|---|---|",
    ]
    names = {
        "frames": "bus frames",
        "msgpack": "msgpack payloads",
        "dag": "DAG checkpoints",
        "manifests": "manifests",
        "levels": "level TOML",
        "packs": "pack files",
        "conductor": "Conductor checkpoints",
        "packages": "Kit packages",
    }
    for key, d in data["decoders"].items():
        rows.append(
            f"| {names.get(key, key)} | {d['inputs']:,} | {d['per_s']:,.0f} | "
            f"{d['refused']:.1%} | {d['slowest_s'] * 1e3:.1f} ms | "
            f"{d['findings']} {_tick(d['findings'] == 0 and d['inputs'] >= 1_000_000)} |"
        )
    return "\n".join(rows) + "\n"


def render_lab(data: dict[str, Any]) -> str:
    """The workbench's server and page under load, beside floors and peers."""
    ls, ar, st, tr = (data[k] for k in ("listing", "artifacts", "stream", "training"))
    ratio = tr["server_per_s"] / tr["in_process_per_s"]
    ok_stream = st["received_per_s"] >= 50
    lines = [
        f"| {_head(data, 'lab')} | ours | floor or peer, same run | target |",
        "|---|---|---|---|",
        f"| Runs listing, {ls['runs']:,} runs on disk (GET `/symphony/api/runs`) "
        f"| {ls['served_ms']:.1f} ms | `ls -R` {ls['ls_ms']:.1f} ms "
        f"({ls['served_ms'] / ls['ls_ms']:.1f}{TIMES}); walk + read each `run.json` "
        f"{ls['walk_ms']:.1f} ms ({ls['served_ms'] / ls['walk_ms']:.1f}{TIMES}); uncached "
        f"listing in-process {ls['cold_ms']:.0f} ms "
        f"| \u2264 100 ms {_tick(ls['served_ms'] <= 100)} |",
        f"| Artifacts, first page of {ar['artifacts']:,} (HTTP) | {ar['page_ms']:.1f} ms "
        f"| in-process `store.page` {ar['page_in_process_ms']:.1f} ms "
        f"| \u2264 50 ms {_tick(ar['page_ms'] <= 50)} |",
        f"| Artifacts, full-text search in {ar['artifacts']:,} (HTTP) | {ar['search_ms']:.1f} ms "
        f"| in-process `store.search` {ar['search_in_process_ms']:.1f} ms "
        f"| \u2264 100 ms {_tick(ar['search_ms'] <= 100)} |",
        f"| Live stream into Chromium's run view | {st['received_per_s']:.0f} rows/s received "
        f"({st['rate']:.0f}/s written; {st['drawn']:,} of {st['written']:,} drawn) "
        f"| frame time median {st['frame_median_ms']:.1f} ms, p95 {st['frame_p95_ms']:.1f} ms, "
        f"max {st['frame_max_ms']:.1f} ms | \u2265 50 rows/s, page responsive {_tick(ok_stream)} |",
        f"| Training through the server (worker process), medium, {tr['steps']:,} steps "
        f"| {tr['server_per_s']:,.0f} steps/s | the same training in-process "
        f"{tr['in_process_per_s']:,.0f} steps/s ({ratio:.2f}{TIMES}) "
        f"| \u2265 0.95{TIMES} {_tick(ratio >= 0.95)} |",
    ]
    return "\n".join(lines) + "\n"


def render_kit(data: dict[str, Any]) -> str:
    """Orchestra Kit: resolution, install and search, beside their peers."""
    r, ins, se = data["resolve"], data["install"], data["search"]
    rows = [
        f"| {_head(data, 'kit')} | ours | peer, same run | target |",
        "|---|---|---|---|",
    ]
    opts = data["options"]
    for case, label in (("satisfiable", "solvable"), ("unsatisfiable_core", "unsatisfiable core")):
        c = r[case]
        ratio = c["ours_s"] / c["resolvelib_s"]
        # A peer stopped at its time cap gives a bound on the ratio, not the ratio.
        capped = str(c["resolvelib"]).startswith("no answer")
        peer = (
            f"resolvelib: {c['resolvelib']}, so \u2264 {ratio:.4f}{TIMES}"
            if capped
            else f"resolvelib {c['resolvelib_s'] * 1e3:.0f} ms ({c['resolvelib']}): "
            f"{ratio:.3f}{TIMES}"
        )
        rows.append(
            f"| Resolve, {opts['packages']:,} packages \u00d7 {opts['versions']} versions, {label} "
            f"| {c['ours_s'] * 1e3:.1f} ms ({c['ours']}) "
            f"| {peer} | \u2264 0.2{TIMES} {_tick(ratio <= 0.2)} |"
        )
    ratio = ins["api_s"] / ins["pip_s"]
    rows.append(
        f"| Install a signed {ins['files']}-file package "
        f"| `Kit.install` {ins['api_s'] * 1e3:.0f} ms, "
        f"`symphony kit install` {ins['cli_s'] * 1e3:.0f} ms "
        f"| `pip install --no-index --no-deps` of "
        f"the same files as a wheel {ins['pip_s'] * 1e3:.0f} ms: {ratio:.2f}{TIMES} "
        f"({ins['cli_s'] / ins['pip_s']:.2f}{TIMES} as a command) "
        f"| \u2264 1.0{TIMES} {_tick(ratio <= 1.0)} |"
    )
    rows.append(
        f"| Search {se['packages']:,} packages (SQLite FTS5) | median {se['median_ms']:.2f} ms, "
        f"max {se['max_ms']:.2f} ms | | \u2264 20 ms {_tick(se['median_ms'] <= 20)} |"
    )
    return "\n".join(rows) + "\n"


Load = Callable[[str], dict[str, Any]]

RENDER: dict[str, Callable[[Load], str]] = {
    "main_job": lambda load: render_main_job(load("main_job")),
    "live": lambda load: render_live(load("live")),
    "dag": lambda load: render_dag(load("dag")),
    "pool": lambda load: render_pool(load("pool"), load("arbiter")),
    "function_quest": lambda load: render_function_quest(load("function_quest")),
    "conductor": lambda load: render_conductor(load("conductor"), load("real_runs")),
    "bus": lambda load: render_bus(load("bus")),
    "lab": lambda load: render_lab(load("lab")),
    "kit": lambda load: render_kit(load("kit")),
    "stage": lambda load: render_stage(load("stage")),
    "fuzz": lambda load: render_fuzz(load("fuzz")),
}


def _load(name: str) -> dict[str, Any]:
    path = RESULTS / f"{name}.json"
    if not path.exists():
        how = "python benches/figures.py main-job runs/<id>" if name == "main_job" else (
            f"./lab bench {name}")  # fmt: skip
        raise SystemExit(f"figures: {path.relative_to(ROOT)} is missing: run {how}")
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def rendered(text: str) -> str:
    """``text`` with every generated block rewritten from its JSON."""

    def one(m: re.Match[str]) -> str:
        name = m["name"]
        if name not in RENDER:
            raise SystemExit(f"figures: unknown block {name!r}; known: {sorted(RENDER)}")
        return m.group(1) + RENDER[name](_load) + m.group(4)

    return BLOCK.sub(one, text)


def main(argv: list[str]) -> int:
    if argv[:1] == ["main-job"] and len(argv) == 2:
        data = main_job(Path(argv[1]))
        text = json.dumps(finite(data), indent=1, allow_nan=False)
        (RESULTS / "main_job.json").write_text(text + "\n")
        argv = []
    if argv not in ([], ["--check"]):
        print(__doc__, file=sys.stderr)
        return 2
    stale = []
    for page in pages():
        text = page.read_text()
        new = rendered(text)
        if new == text:
            continue
        if argv:
            stale.append(str(page.relative_to(ROOT)))
        else:
            page.write_text(new)
    if stale:
        print(f"figures differ from benches/measured/*.json in {', '.join(stale)}: run "
              "python benches/figures.py", file=sys.stderr)  # fmt: skip
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
