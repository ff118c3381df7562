"""The workbench's server and page under load, each beside its floor or peer,
in one run (./lab bench lab):

1. Runs panel listing with 1,000 runs on disk (GET /symphony/api/runs, the
   server's time) beside an `ls -R`-style traversal of the same tree and the
   listing in-process. Target: <= 100 ms.
2. Artifacts first page and full-text search with 100,000 artifacts, over
   HTTP, beside the same calls in-process. Targets: <= 50 ms and <= 100 ms.
3. A live stream to Chromium: a run writing training rows at --rate rows/s,
   followed by the run view; rows/s the page received, and its frame times
   (requestAnimationFrame) meanwhile. Target: >= 50 rows/s, frames smooth.
4. Training through the server (a worker process, events to disk) beside the
   same training in-process: steps/s from each one's own training clock.
   Target: >= 0.95x.

Medians; the machine is shared, so ratios hold better than absolute times.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import torch
from measured import record

from symphony_lab.conductor import Conductor
from symphony_lab.pit import ArtifactStore
from symphony_lab.runs import RunManager
from symphony_lab.runs.client import LocalServer
from symphony_lab.runs.record import RunRecord, append_event, write

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
LAB_ARGS = [
    "--LabApp.news_url=None",
    "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    "--LabApp.expose_app_in_browser=True",
]
WORDS = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta"]
WORDS += ["eta", "theta", "iota", "kappa", "lambda", "mu"]


def median_ms(fn: Any, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times)


def get(server: LocalServer, path: str) -> bytes:
    request = urllib.request.Request(
        f"{server.url}symphony/api/{path}", headers={"Authorization": f"token {server.token}"}
    )
    with urllib.request.urlopen(request, timeout=60) as r:
        data: bytes = r.read()
        return data


def make_runs(runs: Path, count: int) -> None:
    row = {"type": "train", "episodes": 16.0, "solve_rate": 0.9, "mean_return": 3.0}
    for i in range(count):
        folder = runs / f"run-{i:05d}"
        folder.mkdir(parents=True)
        rec = RunRecord(id=folder.name, kind="train", params={"env": "medium", "steps": 30_000})
        rec.status, rec.created = "done", 1_700_000_000 + i
        write(folder, rec)
        with (folder / "events.jsonl").open("w") as f:
            for step in range(15):
                f.write(json.dumps({**row, "steps": 2048.0 * (step + 1), "cost_ratio": 1.01}))
                f.write("\n")
        (folder / "checkpoints").mkdir()


def bench_listing(server: LocalServer, runs: Path, count: int) -> dict[str, float]:
    print(f"\n1. Runs listing, {count:,} runs on disk")
    served = median_ms(lambda: get(server, "runs"), 15)
    listed = len(json.loads(get(server, "runs"))["runs"])
    assert listed == count, listed
    cold = statistics.median(median_ms(RunManager(runs).listing, 1) for _ in range(5))
    manager = RunManager(runs)
    inproc = median_ms(manager.listing, 15)

    def walk() -> None:
        for folder, _, files in os.walk(runs):
            if "run.json" in files:
                Path(folder, "run.json").read_bytes()

    floor = median_ms(walk, 15)
    ls = median_ms(lambda: subprocess.run(["ls", "-R", str(runs)], capture_output=True), 15)
    print(f"   GET /symphony/api/runs   {served:8.1f} ms  (target <= 100 ms)")
    print(f"   listing in-process       {inproc:8.1f} ms  (first, nothing cached: {cold:.1f} ms)")
    print(f"   floor: walk + run.json   {floor:8.1f} ms  (server / floor {served / floor:.1f}x)")
    print(f"   floor: ls -R             {ls:8.1f} ms  (server / ls -R {served / ls:.1f}x)")
    return {"runs": count, "served_ms": served, "in_process_ms": inproc, "cold_ms": cold,
            "walk_ms": floor, "ls_ms": ls}  # fmt: skip


def bench_artifacts(server: LocalServer, store_dir: Path, count: int) -> dict[str, float]:
    print(f"\n2. Artifacts, {count:,} in the store")
    started = time.perf_counter()
    store = ArtifactStore(store_dir)
    batch = 10_000
    for first in range(0, count, batch):
        store.put_many(
            [
                (
                    f"note-{i}",
                    f"note {i}: {WORDS[i % 12]} {WORDS[(i * 7) % 12]} run {i % 997}".encode(),
                )
                for i in range(first, min(count, first + batch))
            ],
            kind="note",
            media_type="text/plain",
        )
    print(f"   (stored in {time.perf_counter() - started:.0f} s)")
    page = median_ms(lambda: get(server, "artifacts?offset=0&limit=50"), 25)
    assert json.loads(get(server, "artifacts?limit=50"))["total"] == count
    search = median_ms(lambda: get(server, "artifacts/search?q=gamma%20run%20513&limit=50"), 25)
    assert json.loads(get(server, "artifacts/search?q=gamma%20run%20513&limit=50"))["hits"]
    inpage = median_ms(lambda: store.page(0, 50), 25)
    insearch = median_ms(lambda: store.search("gamma run 513", limit=50), 25)
    print(f"   first page over HTTP     {page:8.1f} ms  (target <= 50 ms)")
    print(f"   search over HTTP         {search:8.1f} ms  (target <= 100 ms)")
    print(f"   (in-process: page {inpage:.1f} ms, search {insearch:.1f} ms)")
    return {"artifacts": count, "page_ms": page, "search_ms": search,
            "page_in_process_ms": inpage, "search_in_process_ms": insearch}  # fmt: skip


def bench_stream(server: LocalServer, runs: Path, rate: float, seconds: float) -> dict[str, float]:
    from playwright.sync_api import sync_playwright

    print(f"\n3. A live stream to Chromium, written at {rate:.0f} rows/s for {seconds:.0f} s")
    folder = runs / "live-stream"
    folder.mkdir(parents=True)
    rec = RunRecord(id="live-stream", kind="train", params={"steps": 10**9})
    rec.status, rec.pid, rec.started = "running", os.getpid(), time.time()
    write(folder, rec)
    stop = threading.Event()

    def writer() -> None:
        step, every = 0, 1.0 / rate
        nxt = time.perf_counter()
        while not stop.is_set():
            step += 1
            append_event(
                folder,
                {"type": "train", "steps": 256.0 * step, "solve_rate": (step % 100) / 100,
                 "cost_ratio": 1 + 1 / step, "mean_return": step ** 0.5, "mean_calls": 5.0},
            )  # fmt: skip
            nxt += every
            time.sleep(max(0.0, nxt - time.perf_counter()))

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"{server.url}lab/workspaces/bench-stream?token={server.token}")
        page.wait_for_selector("#jp-main-dock-panel", timeout=90_000)
        thread = threading.Thread(target=writer, daemon=True)
        thread.start()
        page.evaluate(
            "() => window.jupyterapp.commands.execute('symphony:open-run', {id: 'live-stream'})"
        )
        view = page.locator(".symphony-run-view")
        view.wait_for()
        page.wait_for_function("el => Number(el.dataset.rows || 0) > 5", arg=view.element_handle())
        page.evaluate(
            """() => { window.__frames = []; let last = performance.now();
                 const tick = (t) => { window.__frames.push(t - last); last = t;
                   if (!window.__stopFrames) requestAnimationFrame(tick); };
                 requestAnimationFrame(tick); }"""
        )
        first = int(view.get_attribute("data-rows") or 0)
        t0 = time.perf_counter()
        time.sleep(seconds)
        last = int(view.get_attribute("data-rows") or 0)
        elapsed = time.perf_counter() - t0
        frames = page.evaluate("() => { window.__stopFrames = true; return window.__frames; }")
        stop.set()
        time.sleep(1.0)  # the last rows written reach the page
        written = sum(1 for _ in (folder / "events.jsonl").open())
        rows = int(view.get_attribute("data-rows") or 0)
        canvas = view.locator('[data-curve="solve_rate"] canvas')
        points = int(canvas.get_attribute("data-points") or 0)
        browser.close()
    frames = sorted(frames[1:])
    received = (last - first) / elapsed
    p95 = frames[int(0.95 * (len(frames) - 1))]
    print(f"   rows/s the page received {received:8.1f}  (target >= 50; written {rate:.0f}/s)")
    print(f"   frame time median        {statistics.median(frames):8.1f} ms, p95 {p95:.1f} ms,"
          f" max {frames[-1]:.1f} ms over {len(frames)} frames")  # fmt: skip
    print(f"   rows written / shown / drawn per curve: {written} / {rows} / {points}")
    rec.status, rec.ended = "done", time.time()
    write(folder, rec)
    return {"rate": rate, "received_per_s": received, "frame_median_ms": statistics.median(frames),
            "frame_p95_ms": p95, "frame_max_ms": frames[-1], "written": written, "shown": rows,
            "drawn": points}  # fmt: skip


def bench_training(server: LocalServer, steps: int) -> dict[str, float]:
    print(f"\n4. Training, {steps:,} steps on the medium tier, in-process and through the server")
    params = {"steps": steps, "pretrain": False, "n_envs": 8, "threads": 1, "seed": 0}
    client = server.client()
    torch.set_num_threads(1)
    speeds: dict[str, list[float]] = {"in-process": [], "server": []}
    for _ in range(2):
        conductor = Conductor(seed=0)
        conductor.train("medium", total_steps=steps, n_envs=8, seed=0, threads=1)
        row = conductor.history[-1]
        speeds["in-process"].append(row["steps"] / row["wall_s"])
        run = client.train("medium", checkpoint_every=steps, **params).wait(timeout=1800)
        last = [e for e in run.events()[0] if e["type"] == "train"][-1]
        speeds["server"].append(last["steps"] / last["wall_s"])
    inproc = statistics.median(speeds["in-process"])
    served = statistics.median(speeds["server"])
    print(f"   in-process               {inproc:8.0f} steps/s")
    ratio = served / inproc
    print(f"   through the server       {served:8.0f} steps/s  ({ratio:.2f}x; target >= 0.95x)")
    return {"steps": steps, "in_process_per_s": inproc, "server_per_s": served}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--artifacts", type=int, default=100_000)
    parser.add_argument("--rate", type=float, default=100.0, help="rows/s the live run writes")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--steps", type=int, default=16_384)
    parser.add_argument("--only", choices=["listing", "artifacts", "stream", "training"])
    args = parser.parse_args()
    figures: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="symphony-bench-lab-") as tmp:
        root = Path(tmp)
        runs = root / "runs"
        runs.mkdir()
        if args.only in (None, "listing"):
            make_runs(runs, args.runs)
        with LocalServer(root, extra_args=LAB_ARGS) as server:
            if args.only in (None, "listing"):
                figures["listing"] = bench_listing(server, runs, args.runs)
            if args.only in (None, "artifacts"):
                figures["artifacts"] = bench_artifacts(server, root / "artifacts", args.artifacts)
            if args.only in (None, "stream"):
                figures["stream"] = bench_stream(server, runs, args.rate, args.seconds)
            if args.only in (None, "training"):
                figures["training"] = bench_training(server, args.steps)
    record("lab", figures, parser, args)


if __name__ == "__main__":
    sys.exit(main())
