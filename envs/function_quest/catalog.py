"""Levels by name: the hand-written ones shipped with the game, generated
tiers, and the committed packs.

``resolve_levels("medium")`` is the ``train`` pack of a tier,
``"test-hard"`` a split's pack, ``"key_and_door"`` a shipped level.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib.resources import files

from function_quest.generator import TIERS
from function_quest.packs import OOD, SPLITS, load_pack
from function_quest.pipelines import FAMILIES
from symphony_lab.planning import Level

#: The hand-written levels shipped with the package.
LEVELS = ("key_and_door", "software_delivery")


def load(name: str) -> Level:
    """One of the hand-written levels shipped with the package, by name."""
    if name not in LEVELS:
        raise KeyError(f"no level {name!r}; shipped levels: {', '.join(LEVELS)}")
    return Level.from_toml(files("function_quest").joinpath("levels", f"{name}.toml").read_text())


def resolve_levels(spec: str | Level | Sequence[Level]) -> list[Level]:
    """A tier (its ``train`` pack), ``"split-tier"``, ``"ood-<pack>"`` (a
    pipeline family, or ``large``), ``"ood"`` (every pipeline family), a
    shipped level's name, or levels as they are."""
    if isinstance(spec, Level):
        return [spec]
    if not isinstance(spec, str):
        levels = list(spec)
        if not levels:
            raise ValueError("no levels given")
        return levels
    split, _, tier = spec.partition("-") if spec.startswith("ood") else spec.rpartition("-")
    if spec == "ood":
        return [level for family in FAMILIES for level in load_pack("ood", family)]
    if split == "ood" and tier in OOD:
        return load_pack("ood", tier)
    if tier in TIERS and split in ("", *SPLITS):
        return load_pack(split or "train", tier)
    if spec in LEVELS:
        return [load(spec)]
    raise ValueError(
        f"unknown levels {spec!r}: expected a tier ({', '.join(TIERS)}), "
        f"'split-tier' with split in {list(SPLITS)}, 'ood-<pack>' with pack in {list(OOD)}, "
        f"'ood', or a level in {list(LEVELS)}"
    )
