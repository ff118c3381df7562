"""Level packs: fixed sets of levels, committed as data.

Splits ``train``, ``val`` and ``test`` come from disjoint seed ranges of the
generator, one pack per split and tier. The ``ood`` split is for evaluation
only: one pack per pipeline family (``pipelines.py``, written apart from the
generator) and ``ood-large``, generated levels larger than any training
level. Packs are gzip'd TOML (``[[levels]]`` in the level schema) under
``function_quest/packs/`` beside a ``SHA256SUMS`` file. Since the levels
themselves are stored, results stay comparable when the generators change;
``python -m function_quest.packs`` rebuilds them on purpose.
"""

from __future__ import annotations

import gzip
import hashlib
import sys
import tomllib
import zlib
from importlib.resources import files
from pathlib import Path

import tomli_w

from function_quest.generator import TIERS, generate
from function_quest.pipelines import FAMILIES, large, pipeline
from symphony_lab.planning import Level

#: First seed and number of levels of each split, per tier.
SPLITS: dict[str, tuple[int, int]] = {
    "train": (0, 200),
    "val": (100_000, 50),
    "test": (200_000, 200),
}

#: The evaluation-only packs of the ``ood`` split: a pipeline family each,
#: and ``large``; with their first seed and number of levels.
OOD: dict[str, tuple[int, int]] = {**dict.fromkeys(FAMILIES, (300_000, 40)), "large": (400_000, 30)}


class PackError(ValueError):
    """A pack is missing, corrupt (checksum mismatch) or malformed."""


def _dir() -> Path:
    return Path(str(files("function_quest").joinpath("packs")))


def pack_name(split: str, tier: str) -> str:
    return f"{split}-{tier}.toml.gz"


def seeds(split: str, tier: str | None = None) -> range:
    if split == "ood" and tier in OOD:
        first, n = OOD[tier]
    elif split not in SPLITS:
        raise PackError(f"unknown split {split!r}; expected one of {[*SPLITS, 'ood']}")
    else:
        first, n = SPLITS[split]
    return range(first, first + n)


def _level(split: str, tier: str, seed: int) -> Level:
    if split != "ood":
        return generate(seed, tier)
    return large(seed) if tier == "large" else pipeline(tier, seed)


def _checksums(folder: Path) -> dict[str, str]:
    path = folder / "SHA256SUMS"
    if not path.exists():
        raise PackError(f"{path} is missing")
    sums = {}
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split(maxsplit=1)
        if len(parts) != 2:
            raise PackError(f"{path}:{n}: expected '<sha256>  <file>', got {line!r}")
        sums[parts[1].strip()] = parts[0]
    return sums


def load_pack(split: str, tier: str, *, folder: Path | None = None) -> list[Level]:
    """The levels of one pack, checked against ``SHA256SUMS`` first."""
    known = OOD if split == "ood" else TIERS
    if tier not in known:
        what = "pack" if split == "ood" else "tier"
        raise PackError(f"unknown {what} {tier!r}; expected one of {list(known)}")
    seeds(split, tier)
    folder = folder or _dir()
    name = pack_name(split, tier)
    path = folder / name
    if not path.exists():
        raise PackError(f"pack {name} is missing from {folder}")
    data = path.read_bytes()
    expected = _checksums(folder).get(name)
    actual = hashlib.sha256(data).hexdigest()
    if expected != actual:
        raise PackError(f"pack {name} is corrupt: sha256 {actual}, SHA256SUMS says {expected}")
    return parse_pack(data, name)


def parse_pack(data: bytes, name: str = "<pack>") -> list[Level]:
    """The levels in a pack's bytes (gzip of TOML); ``PackError`` for anything else."""
    try:
        raw = tomllib.loads(gzip.decompress(data).decode())
        levels = raw["levels"]
        if not isinstance(levels, list):
            raise ValueError(f"'levels' is a {type(levels).__name__}, not a list")
        return [Level.from_dict(level) for level in levels]
    except (
        OSError,
        EOFError,
        zlib.error,
        tomllib.TOMLDecodeError,
        UnicodeDecodeError,
        KeyError,
        TypeError,
        ValueError,
    ) as e:
        raise PackError(f"pack {name} cannot be read: {e}") from e


def build(folder: Path | None = None) -> None:
    """Writes every pack and ``SHA256SUMS``; byte-identical for the same generators."""
    folder = folder or _dir()
    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    packs = [(split, tier) for split in SPLITS for tier in TIERS] + [("ood", t) for t in OOD]
    for split, tier in packs:
        levels = [_level(split, tier, seed).to_dict() for seed in seeds(split, tier)]
        text = tomli_w.dumps({"levels": levels}, multiline_strings=True)
        data = gzip.compress(text.encode(), mtime=0)
        name = pack_name(split, tier)
        (folder / name).write_bytes(data)
        lines.append(f"{hashlib.sha256(data).hexdigest()}  {name}")
    (folder / "SHA256SUMS").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    build(Path(sys.argv[1]) if len(sys.argv) > 1 else None)
    print(f"packs written to {sys.argv[1] if len(sys.argv) > 1 else _dir()}")
