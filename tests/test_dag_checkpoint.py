"""Checkpoints: exact round trips, and clear errors for every kind of damage."""

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest

from symphony_lab.pit import CHECKPOINT_VERSION, CheckpointError, DagTracker


def sample() -> DagTracker:
    t = DagTracker()
    t.add_tasks(["load", "clean", "train", "report", "extra"], costs=[1, 2, 3, 4, 5])
    t.add_edges(["load", "clean", "train"], ["clean", "train", "report"])
    t.add_task("blob", payload=b"\x00" * 40)
    t.done(*t.take_ready(1))
    t.take_ready(1)
    t.fail("clean", policy="skip")
    return t


def test_round_trip_is_exact() -> None:
    t = sample()
    data = t.to_bytes()
    back = DagTracker.from_bytes(data)
    assert back.to_bytes() == data
    for key in t:
        assert back.state(key) == t.state(key)
        assert back.cost(key) == t.cost(key)
    assert back.payload("blob") == b"\x00" * 40
    assert back.ready() == t.ready()
    back.retry("clean")
    assert back.state("train") == "pending"
    assert DagTracker.from_bytes(bytearray(data)).to_bytes() == data
    assert DagTracker.from_bytes(memoryview(data)).to_bytes() == data


def test_round_trip_of_a_large_integer_dag() -> None:
    rng = np.random.default_rng(7)
    t = DagTracker()
    n = 50_000
    t.add_tasks(np.arange(n))
    src = rng.integers(0, n - 100, 4 * n)
    t.add_edges(src, src + rng.integers(1, 100, 4 * n))
    data = t.to_bytes()
    assert DagTracker.from_bytes(data).to_bytes() == data


def test_every_truncation_is_refused() -> None:
    data = sample().to_bytes()
    for cut in range(len(data)):
        with pytest.raises(CheckpointError):
            DagTracker.from_bytes(data[:cut])


def test_every_flipped_byte_is_refused() -> None:
    data = sample().to_bytes()
    for i in range(len(data)):
        damaged = bytearray(data)
        damaged[i] ^= 0xFF
        with pytest.raises(CheckpointError):
            DagTracker.from_bytes(bytes(damaged))


def test_messages_say_what_is_wrong() -> None:
    data = sample().to_bytes()
    with pytest.raises(CheckpointError, match="wrong magic bytes"):
        DagTracker.from_bytes(b"GARBAGE!" + data[8:])
    newer = data[:8] + struct.pack("<I", CHECKPOINT_VERSION + 1) + data[12:]
    with pytest.raises(CheckpointError, match=f"version {CHECKPOINT_VERSION + 1} is not supported"):
        DagTracker.from_bytes(newer)
    with pytest.raises(CheckpointError, match="truncated: body should be"):
        DagTracker.from_bytes(data[:-3])
    with pytest.raises(CheckpointError, match="checksum mismatch"):
        DagTracker.from_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    with pytest.raises(CheckpointError, match="unexpected bytes after the body"):
        DagTracker.from_bytes(data + b"\x00")
    with pytest.raises(CheckpointError, match="expected bytes, got int"):
        DagTracker.from_bytes(42)


def test_a_well_formed_checkpoint_with_a_cycle_is_refused() -> None:
    t = DagTracker()
    t.add_tasks([0, 1])
    t.add_edge(0, 1)
    data = bytearray(t.to_bytes())
    # The single edge (0, 1) sits right after the header, counts, key mode, states and costs.
    edge_at = 24 + 16 + 1 + 2 + 16
    assert data[edge_at : edge_at + 8] == struct.pack("<II", 0, 1)
    data[edge_at : edge_at + 8] = struct.pack("<II", 1, 1)
    body = bytes(data[24:])
    data[20:24] = struct.pack("<I", zlib.crc32(body))
    with pytest.raises(CheckpointError, match="self-loop on task 1"):
        DagTracker.from_bytes(bytes(data))


def test_object_payloads_cannot_be_checkpointed() -> None:
    t = DagTracker()
    t.add_task("a", payload=[1, 2])
    with pytest.raises(CheckpointError, match="task 'a' has a payload of type list"):
        t.to_bytes()


def test_a_checkpoint_whose_states_break_the_rules_is_refused() -> None:
    t = DagTracker()
    t.add_tasks([0, 1])
    t.add_edge(0, 1)
    t.cancel(0)
    data = bytearray(t.to_bytes())
    states_at = 24 + 16 + 1
    assert data[states_at : states_at + 2] == bytes([6, 5])  # cancelled, skipped
    data[states_at + 1] = 0  # pending, although its predecessor was cancelled
    data[20:24] = struct.pack("<I", zlib.crc32(bytes(data[24:])))
    with pytest.raises(CheckpointError, match="task 1 is pending but a predecessor is skipped"):
        DagTracker.from_bytes(bytes(data))


def test_save_is_atomic_and_load_names_the_file(tmp_path: Path) -> None:
    t = sample()
    path = tmp_path / "dag.ckpt"
    t.save(path)
    assert DagTracker.load(path).to_bytes() == t.to_bytes()
    # Saved again over the old one: no temporary file stays behind.
    t.save(path)
    assert [p.name for p in tmp_path.iterdir()] == ["dag.ckpt"]
    # A torn file (the tail lost) is refused, naming the file.
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=r"dag\.ckpt: .*truncated|dag\.ckpt: .*length"):
        DagTracker.load(path)
    with pytest.raises(CheckpointError, match="cannot write"):
        t.save(tmp_path / "missing" / "dag.ckpt")
