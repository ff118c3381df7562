"""The artifact store against diskcache, plain files and the zstd command line.

Put and get of 1 KiB, 4 KiB, 64 KiB and 16 MiB blobs (half text, half random
bytes), medians over repeats, in one process:

- ours: ``ArtifactStore`` non-durable (no fsync) and durable (fsync of blob,
  folder and index); gets warm (the same store, whose memory cache holds
  recent blobs) and cold (a store opened with ``cache_bytes=0``);
- diskcache's ``Cache`` with its defaults (SQLite ``synchronous=NORMAL``, no
  fsync of value files): the non-durable peer;
- plain files: ``open().write()`` to a temporary name and ``os.replace``,
  non-durable, and durable with fsync of the file.

Targets: 4 KiB get <= 0.5x diskcache's time; non-durable 4 KiB put <= 1.0x
diskcache's; 16 MiB put throughput >= 0.8x the ``zstd`` command line at the
same level on the same data.

Then the stale manager: a store of 1M small artifacts (900K versions of
names, each the child of one of 90 parents, and 100K unreachable), built
with ``put_many``; a collection (``StaleManager.run``: snapshot, mark over
lineage, decide, remove the 100K in one transaction) timed three times, the
garbage put back between runs. Target: <= 5 s.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import diskcache

from symphony_lab.pit import ArtifactStore, StaleManager, StalePolicy

SIZES = {"1 KiB": 1 << 10, "4 KiB": 4 << 10, "64 KiB": 64 << 10, "16 MiB": 16 << 20}


def payload(size: int, i: int) -> bytes:
    half = size // 2
    text = (f"artifact {i}: the quick brown fox jumps over the lazy dog. " * (half // 40 + 1))[
        :half
    ].encode()
    return text + os.urandom(size - half)


def timed(fn: Callable[..., object], *args: object) -> float:
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


def put_all(store: ArtifactStore, blobs: list[bytes], hashes: list[str]) -> None:
    hashes.extend(store.put_blob(b) for b in blobs)


def get_all(store: ArtifactStore, hashes: list[str]) -> None:
    for h in hashes:
        store.get_by_hash(h)


def set_all(cache: diskcache.Cache, blobs: list[bytes]) -> None:
    for i, b in enumerate(blobs):
        cache.set(i, b)


def cache_get_all(cache: diskcache.Cache, n: int) -> None:
    for i in range(n):
        cache.get(i)


def read_files(folder: Path, n: int) -> None:
    for i in range(n):
        (folder / str(i)).read_bytes()


def bench_size(size: int, n: int, repeat: int, folder: Path) -> dict[str, float]:
    """Seconds per operation (median of ``repeat``) for every contender."""
    results: dict[str, list[float]] = {}

    def record(name: str, seconds: float) -> None:
        results.setdefault(name, []).append(seconds / n)

    for r in range(repeat):
        blobs = [payload(size, r * n + i) for i in range(n)]
        root = folder / f"run{r}"
        for durable in (False, True):
            label = "durable" if durable else "no fsync"
            store = ArtifactStore(root / f"ours-{durable}", durable=durable)
            hashes: list[str] = []
            record(f"ours put ({label})", timed(put_all, store, blobs, hashes))
            if not durable:
                record("ours get (warm)", timed(get_all, store, hashes))
                cold = ArtifactStore(root / f"ours-{durable}", cache_bytes=0)
                record("ours get (cold)", timed(get_all, cold, hashes))
        cache = diskcache.Cache(str(root / "diskcache"))
        record("diskcache set", timed(set_all, cache, blobs))
        record("diskcache get", timed(cache_get_all, cache, n))
        cache.close()
        plain = root
        for durable in (False, True):
            label = "durable" if durable else "no fsync"
            plain = root / f"plain-{durable}"
            plain.mkdir()
            record(f"files put ({label})", timed(write_files, plain, blobs, durable))
        record("files get", timed(read_files, plain, n))
        shutil.rmtree(root)
    return {k: statistics.median(v) for k, v in results.items()}


def write_files(folder: Path, blobs: list[bytes], durable: bool) -> None:
    for i, b in enumerate(blobs):
        tmp = folder / f".{i}.tmp"
        with open(tmp, "wb") as f:
            f.write(b)
            if durable:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, folder / str(i))


def zstd_cli_seconds(data: bytes, folder: Path, level: int = 3) -> float:
    """The zstd command line compressing ``data`` from a file to a file."""
    src, dst = folder / "in.bin", folder / "out.zst"
    src.write_bytes(data)
    times = []
    for _ in range(3):
        dst.unlink(missing_ok=True)
        start = time.perf_counter()
        subprocess.run(["zstd", f"-{level}", "-q", "-f", str(src), "-o", str(dst)], check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def build_gc_store(root: Path, n: int) -> tuple[ArtifactStore, int]:
    """``n`` artifacts: 90% versions of names with a parent each, 10% garbage."""
    store = ArtifactStore(root, durable=False)
    batch, made = 10_000, 0
    while made < n * 9 // 10:
        parent = store.put_blob(f"parent {made}".encode())
        store.put_many(
            [(f"r{made + i}", f"child {made + i}".encode()) for i in range(batch)],
            inputs=[parent],
        )
        made += batch + 1
    return store, n - made


def journal_rows(store: ArtifactStore) -> int:
    """Entries the store's change journal holds (read with the sqlite3 command line)."""
    done = subprocess.run(
        ["sqlite3", str(store.root / "index.sqlite"), "SELECT COUNT(*) FROM journal"],
        check=True,
        capture_output=True,
        text=True,
    )
    return int(done.stdout)


def gc_seconds(folder: Path, n: int, repeat: int) -> tuple[list[float], float, int, int]:
    """Seconds per collection; seconds to plan alone; artifacts removed per
    run; journal entries left after the puts and collections."""
    store, garbage = build_gc_store(folder / "gc", n)
    gc = StaleManager(store, StalePolicy(grace=0.0, max_age=3600.0, action="delete"))
    times, removed, plan_s = [], 0, 0.0
    for r in range(repeat):
        # Unreachable and idle for two hours: what a collection lets go.
        store.put_many([f"garbage {r} {i}".encode() for i in range(garbage)])
        backdate(store, garbage)
        start = time.perf_counter()
        plan = gc.plan()
        plan_s = time.perf_counter() - start
        start = time.perf_counter()
        report = gc.run()
        times.append(time.perf_counter() - start)
        removed = report.deleted
        assert plan.counts["delete"] == removed == garbage, (plan.counts, removed)
    return times, plan_s, removed, journal_rows(store)


def backdate(store: ArtifactStore, garbage: int) -> None:
    """Makes the latest ``garbage`` artifacts look two hours idle, through the
    sqlite3 command line (a separate SQLite, as a user's would be)."""
    two_hours_ago = time.time() - 7200
    subprocess.run(
        [
            "sqlite3",
            str(store.root / "index.sqlite"),
            f"PRAGMA busy_timeout=30000; UPDATE artifacts SET accessed = {two_hours_ago},"
            f" created = {two_hours_ago} WHERE rowid > (SELECT MAX(rowid) FROM artifacts)"
            f" - {garbage}",
        ],
        check=True,
        capture_output=True,
    )


# pit-artifacts keeps the last 65,536 journal entries, trimming every 4,096.
JOURNAL_BOUND = (1 << 16) + (1 << 12)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--gc-objects", type=int, default=1_000_000)
    args = parser.parse_args(argv)
    counts = {"1 KiB": 500, "4 KiB": 500, "64 KiB": 100, "16 MiB": 3}
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        table = {
            name: bench_size(size, counts[name], args.repeat, folder)
            for name, size in SIZES.items()
        }
        zstd_s = zstd_cli_seconds(payload(SIZES["16 MiB"], 0), folder)
        print(f"building a store of {args.gc_objects:,} artifacts for the stale manager...")
        gc_times, gc_plan_s, gc_removed, journal = gc_seconds(folder, args.gc_objects, 3)
    names = list(next(iter(table.values())))
    print(f"Seconds per operation, median of {args.repeat}")
    print(f"{'':22s}" + "".join(f"{s:>12s}" for s in SIZES))
    for name in names:
        cells = "".join(f"{table[s][name] * 1e6:10.1f}us" for s in SIZES)
        print(f"{name:22s}{cells}")
    four = table["4 KiB"]
    get_ratio = four["ours get (warm)"] / four["diskcache get"]
    cold_ratio = four["ours get (cold)"] / four["diskcache get"]
    put_ratio = four["ours put (no fsync)"] / four["diskcache set"]
    ours_mb_s = 16 / table["16 MiB"]["ours put (no fsync)"]
    zstd_mb_s = 16 / zstd_s
    for good, line in [
        (get_ratio <= 0.5, f"4 KiB get, warm: ours / diskcache = {get_ratio:.2f}x (<= 0.5x)"),
        (put_ratio <= 1.0, f"4 KiB put, no fsync: ours / diskcache = {put_ratio:.2f}x (<= 1.0x)"),
        (
            ours_mb_s >= 0.8 * zstd_mb_s,
            f"16 MiB put: ours {ours_mb_s:.0f} MiB/s, zstd -3 command line {zstd_mb_s:.0f} MiB/s"
            f" = {ours_mb_s / zstd_mb_s:.2f}x (>= 0.8x)",
        ),
    ]:
        ok &= good
        print(f"  [{'PASS' if good else 'FAIL'}] {line}")
    gc_s = statistics.median(gc_times)
    good = gc_s <= 5.0 * args.gc_objects / 1_000_000
    ok &= good
    print(
        f"  [{'PASS' if good else 'FAIL'}] GC of {args.gc_objects:,} objects (removing"
        f" {gc_removed:,}): median {gc_s:.2f} s of {[round(t, 2) for t in gc_times]}"
        f" (<= 5 s per 1M); plan alone {gc_plan_s:.2f} s"
    )
    print(f"  4 KiB get, cold (cache_bytes=0): ours / diskcache = {cold_ratio:.2f}x (reported)")
    good = journal <= JOURNAL_BOUND
    ok &= good
    print(
        f"  [{'PASS' if good else 'FAIL'}] change journal after {args.gc_objects:,} puts and"
        f" the collections: {journal:,} entries (<= {JOURNAL_BOUND:,}: trimmed, not growing)"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
