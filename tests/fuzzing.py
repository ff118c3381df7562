"""A mutation fuzzer for every decoder that reads bytes from outside.

Each :class:`Target` starts from valid encodings (its seeds) and feeds the
decoder mutations of them: flipped bits, bytes set to the values that break
parsers (0, 0x7f, 0x80, 0xff), 4-byte windows set to huge lengths, inserted,
deleted and duplicated ranges, truncations, and splices of two seeds. A
decoder may accept an input or refuse it with its documented error; anything
else (another exception, a Rust panic, an input that takes longer than
``SLOW`` seconds) is a finding, kept with the input that caused it.

``tests/test_fuzz.py`` runs each target briefly in the suite; ``./lab bench
fuzz`` runs a million inputs per decoder. Coverage-guided fuzzing (cargo-fuzz)
needs a nightly Rust toolchain, which this machine does not have: mutation at
scale is the fallback the issue allows.
"""

from __future__ import annotations

import gzip
import hashlib
import random
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import tomli_w
from function_quest.catalog import load as load_level
from function_quest.packs import PackError, parse_pack

from symphony_lab.conductor import Conductor
from symphony_lab.conductor import checkpoint as conductor_file
from symphony_lab.conductor.errors import ConductorFileError
from symphony_lab.kit.errors import PackageError
from symphony_lab.kit.package import pack, read_info
from symphony_lab.pit import CheckpointError, DagTracker, FrameError, decode_frame, encode_frame
from symphony_lab.planning.level import Level, LevelError
from symphony_lab.sdk.manifest import ManifestError, load_manifest

#: An input that takes longer than this is a finding (a hang, in effect).
SLOW = 2.0
INTERESTING = (0x00, 0x01, 0x7F, 0x80, 0xFE, 0xFF)
LENGTHS = (0xFFFFFFFF, 0x7FFFFFFF, 0x80000000, 0x10000000, 0xFFFF, 0)


def mutate(rng: random.Random, data: bytes, seeds: list[bytes]) -> bytes:
    """One to four random mutations of ``data``."""
    b = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(8)
        n = len(b)
        if op == 0 and n:
            i = rng.randrange(n)
            b[i] ^= 1 << rng.randrange(8)
        elif op == 1 and n:
            b[rng.randrange(n)] = rng.choice(INTERESTING)
        elif op == 2 and n >= 4:
            i = rng.randrange(n - 3)
            value = rng.choice(LENGTHS)
            b[i : i + 4] = value.to_bytes(4, rng.choice(("little", "big")))
        elif op == 3:
            i = rng.randrange(n + 1)
            b[i:i] = rng.randbytes(rng.randint(1, 16))
        elif op == 4 and n:
            i = rng.randrange(n)
            del b[i : i + rng.randint(1, 64)]
        elif op == 5 and n:
            i = rng.randrange(n)
            j = min(n, i + rng.randint(1, 64))
            k = rng.randrange(n + 1)
            b[k:k] = b[i:j]
        elif op == 6 and n:
            del b[rng.randrange(n) :]
        else:
            other = rng.choice(seeds)
            cut = rng.randrange(len(other) + 1)
            b = b[: rng.randrange(n + 1)] + bytearray(other[cut:])
    return bytes(b)


@dataclass
class Finding:
    target: str
    data: bytes
    error: str


@dataclass
class Target:
    """A decoder, the valid inputs it starts from, and the errors it may raise."""

    name: str
    seeds: list[bytes]
    decode: Callable[[bytes], object]
    refusals: tuple[type[BaseException], ...]
    #: Rewrites a mutated input before decoding (fixes a checksum, say).
    prepare: Callable[[bytes], bytes] = field(default=lambda b: b)


@dataclass
class Report:
    target: str
    inputs: int = 0
    accepted: int = 0
    refused: int = 0
    seconds: float = 0.0
    slowest: float = 0.0
    findings: list[Finding] = field(default_factory=list)


def run(target: Target, inputs: int, seed: int = 0) -> Report:
    """Feeds ``inputs`` mutated inputs to ``target``; never raises for a finding."""
    rng = random.Random(f"{target.name}:{seed}")
    report = Report(target.name)
    start = time.perf_counter()
    for _ in range(inputs):
        data = target.prepare(mutate(rng, rng.choice(target.seeds), target.seeds))
        t = time.perf_counter()
        try:
            target.decode(data)
            report.accepted += 1
        except target.refusals:
            report.refused += 1
        except BaseException as e:  # a panic is a BaseException: every kind is a finding
            if isinstance(e, KeyboardInterrupt):
                raise
            report.findings.append(Finding(target.name, data, f"{type(e).__name__}: {e}"))
        took = time.perf_counter() - t
        report.slowest = max(report.slowest, took)
        if took > SLOW:
            report.findings.append(Finding(target.name, data, f"took {took:.1f} s"))
        report.inputs += 1
    report.seconds = time.perf_counter() - start
    return report


# -- the targets ------------------------------------------------------------------


def _frames() -> Target:
    seeds = [
        encode_frame(1, 7, payload={"text": "a b", "n": [1, 2.5, None, True]}),
        encode_frame(2, 9, payload=list(range(40)), meta={"trace": "x" * 30}, priority=3),
        encode_frame(4, 1, payload=b"\x00" * 64, deadline_ms=1500),
    ]
    return Target("bus frames", seeds, decode_frame, (FrameError,))


def _msgpack_payloads() -> Target:
    """The payload region of a frame, its length prefix kept right: what the
    msgpack decoder sees after a well-formed header."""
    frames = [
        encode_frame(1, 7, payload={"text": "a b", "nested": {"k": [1, -2, 3.5, "s"]}}),
        encode_frame(3, 2, payload={"a": [b"xy", 1 << 40, -(1 << 62)]}, meta={"m": {}}),
    ]
    seeds = [f[4:] for f in frames]

    def prepare(body: bytes) -> bytes:
        return len(body).to_bytes(4, "little") + body

    return Target("msgpack payloads", seeds, decode_frame, (FrameError,), prepare)


def _dag_checkpoints() -> Target:
    t = DagTracker()
    t.add_tasks(["load", "clean", "train", "report"], costs=[1, 2, 3, 4])
    t.add_edges(["load", "clean", "train"], ["clean", "train", "report"])
    t.add_task("blob", payload=b"\x01" * 20)
    t.done(*t.take_ready(1))
    big = DagTracker()
    big.add_tasks(list(range(50)))
    big.add_edges(list(range(49)), list(range(1, 50)))
    seeds = [t.to_bytes(), big.to_bytes()]
    return Target("DAG checkpoints", seeds, DagTracker.from_bytes, (CheckpointError,))


class _Files:
    """Writes each input to one temporary file, for decoders that take a path."""

    def __init__(self, name: str) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="symphony-fuzz-"))
        self.path = self.folder / name

    def put(self, data: bytes) -> Path:
        self.path.write_bytes(data)
        return self.path


def _manifests() -> Target:
    root = Path(__file__).resolve().parent.parent / "symphony_lab" / "extensions"
    seeds = [(root / name / "symphony.toml").read_bytes() for name in ("text", "git", "llm")]
    files = _Files("symphony.toml")
    return Target("manifests", seeds, lambda b: load_manifest(files.put(b)), (ManifestError,))


def _levels() -> Target:
    seeds = [load_level(name).to_toml().encode() for name in ("key_and_door", "software_delivery")]

    def decode(data: bytes) -> Level:
        return Level.from_toml(data.decode("utf-8", "surrogateescape"))

    return Target("level TOML", seeds, decode, (LevelError, UnicodeEncodeError))


def _packs() -> Target:
    raw = load_level("key_and_door").to_dict()
    text = tomli_w.dumps({"levels": [raw]}).encode()

    # Inputs mutated from the plain TOML are gzipped here, so the TOML and
    # level reader behind gzip are reached; the others damage the gzip itself.
    def prepare(data: bytes) -> bytes:
        return data if data[:2] == b"\x1f\x8b" else gzip.compress(data, mtime=0)

    seeds = [gzip.compress(text, mtime=0), text]
    return Target("pack files", seeds, parse_pack, (PackError,), prepare)


def _conductor_checkpoints() -> Target:
    files = _Files("conductor.pt")
    small = Conductor(seed=0)
    small.save(files.path)
    seed = files.path.read_bytes()
    header = len(conductor_file.MAGIC) + 8 + 32

    def prepare(data: bytes) -> bytes:
        # Every other input gets a header that matches its body, so the
        # fuzzer reaches the archive reader behind the checksum.
        if len(data) > header and len(data) % 2 == 0:
            body = data[header:]
            size = len(body).to_bytes(8, "little")
            return conductor_file.MAGIC + size + hashlib.sha256(body).digest() + body
        return data

    return Target(
        "Conductor checkpoints",
        [seed],
        lambda b: conductor_file.read(files.put(b)),
        (ConductorFileError,),
        prepare,
    )


def _packages() -> Target:
    folder = Path(tempfile.mkdtemp(prefix="symphony-fuzz-pkg-"))
    source = Path(__file__).resolve().parent.parent / "symphony_lab" / "extensions" / "text"
    built = pack(source, folder)
    return Target("packages", [built.read_bytes()], read_info, (PackageError,))


TARGETS: dict[str, Callable[[], Target]] = {
    "frames": _frames,
    "msgpack": _msgpack_payloads,
    "dag": _dag_checkpoints,
    "manifests": _manifests,
    "levels": _levels,
    "packs": _packs,
    "conductor": _conductor_checkpoints,
    "packages": _packages,
}


def targets(names: list[str] | None = None) -> Iterator[Target]:
    for name in names or list(TARGETS):
        yield TARGETS[name]()
