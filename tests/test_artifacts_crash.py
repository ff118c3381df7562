"""Crash safety: a writer killed with SIGKILL at hundreds of random points
during puts never leaves a corrupt blob, and loses no put that returned."""

import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from symphony_lab.pit import ArtifactStore

# Imports only the Pit, so that a writer starts in milliseconds.
WRITER = """
import os, sys
from symphony_lab.pit import ArtifactStore
store = ArtifactStore(sys.argv[1])
seed = int(sys.argv[2])
for i in range(10_000):
    size = (seed * 7919 + i * 104729) % 200_000
    data = (f"{seed}:{i}:".encode() * (size // 8 + 1))[:size] + os.urandom(i % 64)
    h, v = store.put(f"item-{i % 7}", data)
    print(h, f"item-{i % 7}", v, flush=True)
"""

KILLS = 200


def test_sigkill_at_random_points_loses_nothing_that_returned(tmp_path: Path) -> None:
    root = tmp_path / "store"
    ArtifactStore(root)
    rng = random.Random(0)
    done: list[tuple[str, str, int]] = []
    for kill in range(KILLS):
        proc = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(root), str(kill)],
            stdout=subprocess.PIPE,
            text=True,
        )
        time.sleep(rng.uniform(0.02, 0.25))
        proc.send_signal(signal.SIGKILL)
        out, _ = proc.communicate(timeout=30)
        assert proc.returncode == -signal.SIGKILL, "the writer was still running"
        # A line is printed after its put returned; the last may be cut short.
        for line in out.splitlines():
            parts = line.split()
            if len(parts) == 3 and len(parts[0]) == 64:
                done.append((parts[0], parts[1], int(parts[2])))
        if kill % 25 == 24:
            check(root, done)
    check(root, done)
    assert len(done) > KILLS, "the writers got some puts through"


def check(root: Path, done: list[tuple[str, str, int]]) -> None:
    store = ArtifactStore(root)
    report = store.verify()
    assert report["corrupt"] == []
    assert report["missing"] == []
    for h, name, version in done:
        assert store.resolve(name, version) == h
        assert h in store
    for h, _, _ in done[-20:]:
        store.get_by_hash(h)  # re-hashes: byte-identical or CorruptArtifact
