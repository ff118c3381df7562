"""Level packs: checksummed data, disjoint seeds, reproducible builds."""

import shutil
from pathlib import Path

import pytest
from function_quest.generator import TIERS, generate
from function_quest.packs import SPLITS, PackError, build, load_pack, pack_name, seeds


def test_packs_load_and_match_the_generator() -> None:
    for split, (_, n) in SPLITS.items():
        for tier in TIERS:
            levels = load_pack(split, tier)
            assert len(levels) == n
            assert {level.difficulty for level in levels} == {tier}
            first = levels[0]
            assert first == generate(first.seed, tier)  # type: ignore[arg-type]
    train, val, test = (set(seeds(split)) for split in SPLITS)
    assert not train & val
    assert not train & test
    assert not val & test


def test_a_rebuild_is_byte_identical(tmp_path: Path) -> None:
    build(tmp_path)
    shipped = Path(__import__("function_quest").__file__).with_name("packs")
    assert (tmp_path / "SHA256SUMS").read_text() == (shipped / "SHA256SUMS").read_text()


def test_a_corrupt_or_missing_pack_is_refused(tmp_path: Path) -> None:
    shipped = Path(__import__("function_quest").__file__).with_name("packs")
    shutil.copytree(shipped, tmp_path / "packs")
    folder = tmp_path / "packs"
    path = folder / pack_name("val", "easy")
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(PackError, match=r"pack val-easy.toml.gz is corrupt: sha256"):
        load_pack("val", "easy", folder=folder)
    assert len(load_pack("val", "hard", folder=folder)) == SPLITS["val"][1]  # others intact
    (folder / pack_name("val", "hard")).unlink()
    with pytest.raises(PackError, match="missing"):
        load_pack("val", "hard", folder=folder)
    with pytest.raises(PackError, match="unknown split 'dev'"):
        load_pack("dev", "easy")
    with pytest.raises(PackError, match="unknown tier 'legendary'"):
        load_pack("val", "legendary")
