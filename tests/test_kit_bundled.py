"""The bundled registry: the shipped extensions as signed packages, installed
offline on a fresh home, loaded by the Stage in place of the shipped copies,
and refused once altered."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from symphony_lab.kit import Kit, pack
from symphony_lab.kit.bundle import BUNDLED, BundledRegistry, build
from symphony_lab.kit.errors import RegistryError
from symphony_lab.kit.home import configured
from symphony_lab.kit.index import verify
from symphony_lab.pit import SignatureError
from symphony_lab.stage import Stage, discovery

SYMPHONY = Path(sys.executable).with_name("symphony")


def shipped() -> dict[str, Path]:
    good, _ = discovery.scan()
    return {n: e.folder for n, e in good.items() if e.distribution == discovery.SHIPPED_BY}


def test_the_bundle_was_built_and_matches_the_shipped_sources(tmp_path: Path) -> None:
    assert BUNDLED.is_dir(), "./lab builds the bundled registry; it is missing"
    registry = BundledRegistry()
    index = verify(*registry.index(), registry.public_key, None)
    assert index.registry == "bundled"
    assert {e.name for e in index.entries} == set(shipped())
    # In step with the sources: packing each shipped folder again gives the
    # bytes the signed index promises (packing is reproducible).
    for entry in index.entries:
        again = pack(shipped()[entry.name], tmp_path)
        assert again.name == f"{entry.name}-{entry.version}.symph"
        data, _ = registry.package(entry.name, entry.version)
        assert data == again.read_bytes(), f"{entry.name}: the bundle is older than its source"
    assert [h.name for h in registry.search("regex")] == ["text"]
    assert {h.name for h in registry.search("")} == set(shipped())
    with pytest.raises(RegistryError, match="read-only"):
        registry.publish(b"", "")


def test_install_of_a_shipped_extension_works_offline_on_a_fresh_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    # No registry configured, no network in the environment: the bundle only.
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()} | {
        "SYMPHONY_HOME": str(home),
        "no_proxy": "*",
    }
    done = subprocess.run(
        [str(SYMPHONY), "kit", "install", "text", "--yes"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "text@" in done.stdout
    kit = Kit(home)
    assert kit.installed()["text"].version == kit.lock()["package"][0]["version"]
    assert kit.lock()["package"][0]["source"] == "bundled"
    # The Stage now loads the kit's copy in place of the shipped one.
    monkeypatch.setenv("SYMPHONY_HOME", str(home))
    found = discovery.installed()["text"]
    assert (found.distribution, found.overrides) == (discovery.KIT, "symphony-lab")
    assert found.folder == kit.installed()["text"].folder
    assert found.folder in discovery.builtin()
    with Stage(["text"]) as stage:
        assert stage.call("text.join", {"parts": ["a", "b"], "sep": "-"}) == "a-b"
    kit.uninstall("text")
    assert discovery.installed()["text"].distribution == discovery.SHIPPED_BY


def test_an_altered_bundle_is_refused(tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    infos = build(shipped()["text"].parent, bundle)
    assert "text@" + infos[-1].version in [i.id for i in infos]
    registry = BundledRegistry(bundle)
    name, version = "text", infos[-1].version
    path = bundle / "packages" / f"{name}-{version}.symph"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 1
    path.write_bytes(bytes(data))
    kit = Kit(tmp_path / "home", registries=[registry])
    with pytest.raises(RegistryError, match="do not match the registry's signed index"):
        kit.install("text", yes=True)
    assert kit.installed() == {}
    # An index re-written without the bundle's key is refused too.
    (bundle / "index.json").write_bytes((bundle / "index.json").read_bytes().replace(b"0", b"1"))
    with pytest.raises(SignatureError):
        kit.install("text", yes=True)
    assert kit.installed() == {}


def test_the_bundle_comes_first_and_a_build_replaces_it_whole(tmp_path: Path) -> None:
    assert isinstance(configured(tmp_path)[0], BundledRegistry)
    out = tmp_path / "bundle"
    build(shipped()["text"].parent, out)
    first = (out / "keys" / "bundled.pub").read_text()
    build(shipped()["text"].parent, out)
    # A new build is signed with a new key, and nothing of the old is left.
    assert (out / "keys" / "bundled.pub").read_text() != first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bundle"]
    shutil.rmtree(out)
    with pytest.raises(RegistryError, match="missing or incomplete"):
        BundledRegistry(out)
