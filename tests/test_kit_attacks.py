"""Hostile packages: each is refused with an error naming the cause, nothing
is written outside the staging folder, and what is installed is unchanged.

The archives are signed by a trusted key, as a malicious or compromised
publisher would sign them, so that extraction itself is what is tested."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import tarfile
from pathlib import Path

import pytest
from kit_helpers import craft, link, make_extension, publish, publisher, reg, special

from symphony_lab.kit import (
    Keyring,
    Kit,
    PackageError,
    UnsafePackage,
    extract,
    pack,
    signature_path,
)
from symphony_lab.kit.package import LISTING
from symphony_lab.pit import SignatureError, kit_sign

Crafted = list[tuple[tarfile.TarInfo, bytes]]
TOML = b'name = "evil"\nversion = "1.0.0"\nkind = "operator"\nentry = "evil_ext"\n'

ATTACKS: dict[str, tuple[Crafted, str]] = {
    # CPython's tarfile filter cases, and their relatives.
    "absolute path": ([reg("/tmp/kit-evil")], "absolute path"),
    "dot-dot": ([reg("../outside")], r"'\.\.'"),
    "dot-dot inside": ([reg("a/../../outside")], r"'\.\.'"),
    "backslash": ([reg("..\\outside")], "backslash"),
    "symlink out": ([link("evil_ext.py", "/etc/passwd")], "symbolic link to '/etc/passwd'"),
    "symlink chain": (
        [link("a", "."), link("a/b", "a"), link("a/b/c", "../../.."), reg("a/b/c/outside")],
        "symbolic link",
    ),
    "symlink then file through it": ([link("dir", "/tmp"), reg("dir/kit-evil")], "symbolic link"),
    "hardlink to /etc/passwd": (
        [link("passwd", "/etc/passwd", tarfile.LNKTYPE)],
        "hard link to '/etc/passwd'",
    ),
    "character device": ([special("null", tarfile.CHRTYPE)], "character device"),
    "block device": ([special("sda", tarfile.BLKTYPE)], "block device"),
    "fifo": ([special("pipe", tarfile.FIFOTYPE)], "FIFO"),
    "folder entry": ([special("folder", tarfile.DIRTYPE)], "folder entry"),
    "setuid": ([reg("tool", b"#!/bin/sh\n", 0o4755)], "setuid"),
    "sticky": ([reg("tool", b"x", 0o1644)], "sticky"),
}


@pytest.fixture
def world(tmp_path: Path) -> tuple[Kit, Path, Path]:
    """A home with greeter 1.0.0 installed from a trusted key, and that key."""
    keys = publisher(tmp_path)
    out = publish(make_extension(tmp_path, "greeter"), tmp_path / "channel", keys).parent
    home = tmp_path / "home"
    kit = Kit(home, sources=[out], keyring=Keyring.of([keys.public]))
    kit.install("greeter", yes=True)
    return kit, keys.secret, tmp_path


def _snapshot(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def _refused(kit: Kit, package: Path, secret: Path, pattern: str) -> None:
    """Installing ``package`` fails naming ``pattern``; the test's whole folder
    (home, channel, keys) gains nothing but the emptied staging folder."""
    # Signed as its publisher would sign it, whatever it holds.
    sig = kit_sign(secret.read_text(), package.read_bytes(), "evil@1.0.0")
    signature_path(package).write_text(sig)
    root = package.parent
    before = _snapshot(root)
    with pytest.raises(PackageError, match=pattern):
        kit.install(package, yes=True)
    assert kit.installed()["greeter"].version == "1.0.0"
    assert "evil" not in kit.installed()
    assert not list((kit.home / "staging").glob("*")), "the staging folder is emptied"
    assert _snapshot(root) - before <= {"home/staging"}, "nothing written outside staging"
    assert not Path("/tmp/kit-evil").exists()


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_hostile_members_are_refused(world: tuple[Kit, Path, Path], attack: str) -> None:
    kit, secret, tmp = world
    members, why = ATTACKS[attack]
    package = craft(tmp / "evil-1.0.0.symph", members)
    _refused(kit, package, secret, why)


def test_a_member_the_listing_does_not_name(world: tuple[Kit, Path, Path]) -> None:
    kit, secret, tmp = world
    listing = [
        {"path": "symphony.toml", "sha256": hashlib.sha256(TOML).hexdigest(), "size": len(TOML)}
    ]
    package = craft(
        tmp / "evil-1.0.0.symph", [reg("symphony.toml", TOML), reg("extra.py")], listing
    )
    _refused(kit, package, secret, "'extra.py': a member the listing does not name")


def test_a_file_larger_than_listed(world: tuple[Kit, Path, Path]) -> None:
    kit, secret, tmp = world
    listing = [
        {"path": "symphony.toml", "sha256": hashlib.sha256(TOML).hexdigest(), "size": len(TOML)},
        {"path": "big.bin", "sha256": "0" * 64, "size": 10},
    ]
    package = craft(
        tmp / "evil-1.0.0.symph", [reg("symphony.toml", TOML), reg("big.bin", b"y" * 5000)], listing
    )
    _refused(kit, package, secret, "5000 bytes in the archive, 10 in the listing")


def test_a_claimed_10_gb_file_is_refused_before_reading(world: tuple[Kit, Path, Path]) -> None:
    kit, secret, tmp = world
    listing = [
        {"path": "symphony.toml", "sha256": hashlib.sha256(TOML).hexdigest(), "size": len(TOML)},
        {"path": "bomb.bin", "sha256": "0" * 64, "size": 10 * 2**30},
    ]
    package = craft(tmp / "evil-1.0.0.symph", [reg("symphony.toml", TOML)], listing)
    _refused(kit, package, secret, "per-file cap")


def test_a_decompression_bomb_is_stopped_by_the_meter(world: tuple[Kit, Path, Path]) -> None:
    """60 MB of zeros gzip to about 60 KB: a ratio of 1,000, far past any real package."""
    kit, secret, tmp = world
    zeros = bytes(60 * 2**20)
    package = craft(tmp / "evil-1.0.0.symph", [reg("symphony.toml", TOML), reg("bomb.bin", zeros)])
    assert package.stat().st_size < 200_000
    _refused(kit, package, secret, "over-compressed")


def test_a_truncated_archive_is_named(world: tuple[Kit, Path, Path]) -> None:
    kit, secret, tmp = world
    good = publish(make_extension(tmp, "shortie"), tmp / "short", publisher(tmp, "other"))
    cut = tmp / "shortie-1.0.0.symph"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    _refused(kit, cut, secret, "truncated|damaged|not a readable")


def test_not_a_package_at_all(world: tuple[Kit, Path, Path]) -> None:
    kit, secret, tmp = world
    junk = tmp / "junk-1.0.0.symph"
    junk.write_bytes(gzip.compress(b"not a tar at all" * 100))
    _refused(kit, junk, secret, "not a symphony package|not a readable")


def test_a_listing_that_is_not_first(world: tuple[Kit, Path, Path]) -> None:
    kit, secret, tmp = world
    buf = io.BytesIO()
    with (
        gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as gz,
        tarfile.open(fileobj=gz, mode="w") as tar,
    ):
        info = tarfile.TarInfo("payload.py")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
        listing = tarfile.TarInfo(LISTING)
        listing.size = 2
        tar.addfile(listing, io.BytesIO(b"{}"))
    package = tmp / "evil-1.0.0.symph"
    package.write_bytes(buf.getvalue())
    _refused(kit, package, secret, "first member")


def test_extraction_makes_its_own_folders_and_never_reuses_one(tmp_path: Path) -> None:
    target = tmp_path / "victim"
    target.mkdir()
    folder = make_extension(tmp_path, "greeter")
    (folder / "sub").mkdir()
    (folder / "sub" / "data.txt").write_text("hello", encoding="utf-8")
    data = pack(folder, tmp_path / "out").read_bytes()
    dest = tmp_path / "dest"
    files = extract(data, dest)
    assert (dest / "sub" / "data.txt").read_text(encoding="utf-8") == "hello"
    assert len(files) == 3
    with pytest.raises(PackageError, match="already exists"):
        extract(data, dest)
    assert os.listdir(target) == []


def test_unsafe_package_is_a_package_error() -> None:
    assert issubclass(UnsafePackage, PackageError)


def test_a_manifest_swapped_between_two_signed_packages(world: tuple[Kit, Path, Path]) -> None:
    """B's archive rebuilt around A's symphony.toml: B's signature no longer matches;
    signed anew by a trusted key, the listing and the manifest disagree."""
    kit, secret, tmp = world
    a_toml = b'name = "evil"\nversion = "1.0.0"\nkind = "operator"\nentry = "evil_ext"\n'
    b_toml = a_toml.replace(b'"1.0.0"', b'"2.0.0"')
    b = craft(tmp / "evil-2.0.0.symph", [reg("symphony.toml", b_toml), reg("evil_ext.py")])
    signature_path(b).write_text(kit_sign(secret.read_text(), b.read_bytes(), "evil@2.0.0"))
    b_signature = signature_path(b).read_text()
    swapped = craft(tmp / "evil-2.0.0.symph", [reg("symphony.toml", a_toml), reg("evil_ext.py")])
    signature_path(swapped).write_text(b_signature)
    with pytest.raises(SignatureError, match="does not match"):
        kit.install(swapped, yes=True)
    # The archive's listing names evil@1.0.0 (craft's default) and its manifest 2.0.0.
    mixed = craft(tmp / "evil-1.0.0.symph", [reg("symphony.toml", b_toml), reg("evil_ext.py")])
    _refused(kit, mixed, secret, "the listing says evil@1.0.0 but symphony.toml says evil@2.0.0")
