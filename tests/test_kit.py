"""Orchestra Kit: packages, signatures (checked by the real minisign), PubGrub
resolution against a brute-force resolver, and installs a real Stage loads."""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kit_helpers import make_extension, publish, publisher

from symphony_lab.kit import (
    STEPS,
    InstallError,
    IntegrityError,
    Keyring,
    Kit,
    PackageError,
    check_installed,
    pack,
    read_package,
    signature_path,
    verify_package,
)
from symphony_lab.pit import (
    PackageIndex,
    RequirementError,
    ResolutionError,
    SignatureError,
    UnknownKeyError,
    kit_matches,
    kit_sort_versions,
)
from symphony_lab.sdk.manifest import ManifestError, load_manifest
from symphony_lab.stage import Stage

MINISIGN = shutil.which("minisign")


# -- packages ------------------------------------------------------------------
def test_the_same_folder_gives_the_same_bytes(tmp_path: Path) -> None:
    folder = make_extension(tmp_path, "greeter")
    first = pack(folder, tmp_path / "a").read_bytes()
    os.utime(folder / "greeter_ext.py", (1, 1))  # times and caches never reach a package
    (folder / "__pycache__").mkdir()
    (folder / "__pycache__" / "x.pyc").write_bytes(b"junk")
    second = pack(folder, tmp_path / "b")
    assert second.name == "greeter-1.0.0.symph"
    assert second.read_bytes() == first
    _, info = read_package(second)
    assert {f.path for f in info.files} == {"symphony.toml", "greeter_ext.py"}
    (folder / "greeter_ext.py").write_text("# changed\n", encoding="utf-8")
    assert read_package(pack(folder, tmp_path / "c"))[1].digest != info.digest


def test_caps_and_links_are_named(tmp_path: Path) -> None:
    folder = make_extension(tmp_path, "greeter")
    with pytest.raises(PackageError, match="file-count cap"):
        pack(folder, tmp_path, max_files=1)
    with pytest.raises(PackageError, match="size cap"):
        pack(folder, tmp_path, max_bytes=100)
    (folder / "escape").symlink_to("/etc/passwd")
    with pytest.raises(PackageError, match="escape: not a regular file"):
        pack(folder, tmp_path)


def test_dependencies_are_checked_in_the_manifest(tmp_path: Path) -> None:
    folder = make_extension(tmp_path, "summarize", dependencies={"text": "^^1"})
    with pytest.raises(ManifestError, match=r"dependencies.*\^\^1"):
        load_manifest(folder)
    folder = make_extension(tmp_path, "loop", dependencies={"loop": "^1"})
    with pytest.raises(ManifestError, match="lists itself"):
        load_manifest(folder)
    folder = make_extension(tmp_path, "fine", dependencies={"text": "~1.2.3", "b": ">=1, <3"})
    assert load_manifest(folder).dependencies == {"text": "~1.2.3", "b": ">=1, <3"}


def test_versions_order_as_semver_org_says() -> None:
    order = [
        "1.0.0-alpha",
        "1.0.0-alpha.1",
        "1.0.0-alpha.beta",
        "1.0.0-beta",
        "1.0.0-beta.2",
        "1.0.0-beta.11",
        "1.0.0-rc.1",
        "1.0.0",
    ]
    assert kit_sort_versions(list(reversed(order))) == order
    assert kit_matches("^1.2", "1.9.0")
    assert not kit_matches("^1.2", "2.0.0")
    assert not kit_matches("^1.2", "1.3.0-rc.1"), "a pre-release only when a range names one"
    assert kit_matches(">=1.3.0-rc.1", "1.3.0-rc.2")
    with pytest.raises(RequirementError, match=r"1\.x\.y\.z"):
        kit_matches("1.x.y.z", "1.0.0")


# -- signatures ----------------------------------------------------------------
def test_signatures_round_trip_and_refuse_every_change(tmp_path: Path) -> None:
    keys = publisher(tmp_path)
    package = publish(make_extension(tmp_path, "greeter"), tmp_path / "out", keys)
    data, _ = read_package(package)
    sig = signature_path(package).read_text()
    ring = Keyring.of([keys.public])
    info, key_id = verify_package(data, sig, ring, package)
    assert (info.id, key_id) == ("greeter@1.0.0", keys.key_id)
    assert "trusted comment: greeter@1.0.0" in sig
    for at in (0, len(data) // 3, len(data) // 2, len(data) - 1):  # a byte flipped anywhere
        flipped = bytearray(data)
        flipped[at] ^= 0x01
        with pytest.raises(SignatureError):
            verify_package(bytes(flipped), sig, ring, package)
    stranger = publisher(tmp_path, "stranger")
    with pytest.raises(UnknownKeyError, match=keys.key_id):
        verify_package(data, sig, Keyring.of([stranger.public]), package)
    # The same key's signature on another package does not carry over.
    other = publish(make_extension(tmp_path, "other"), tmp_path / "out", keys)
    with pytest.raises(SignatureError, match="does not match"):
        verify_package(read_package(other)[0], sig, ring, other)


def test_minisign_checks_our_signatures_and_we_check_its(tmp_path: Path) -> None:
    assert MINISIGN is not None, "minisign is not installed (./lab installs it with apt-get)"
    keys = publisher(tmp_path)
    package = publish(make_extension(tmp_path, "greeter"), tmp_path / "out", keys)
    ours = subprocess.run(
        [MINISIGN, "-Vm", str(package), "-p", str(keys.public)], capture_output=True, text=True
    )
    assert ours.returncode == 0, ours.stderr
    assert "greeter@1.0.0" in ours.stdout
    # minisign signs with a key of its own making; symphony kit checks it.
    pub, sec = tmp_path / "m.pub", tmp_path / "m.key"
    subprocess.run(
        [MINISIGN, "-G", "-W", "-p", str(pub), "-s", str(sec)], check=True, capture_output=True
    )
    subprocess.run(
        [MINISIGN, "-S", "-s", str(sec), "-m", str(package), "-t", "greeter@1.0.0"],
        check=True,
        capture_output=True,
    )
    data, _ = read_package(package)
    info, _ = verify_package(data, signature_path(package).read_text(), Keyring.of([pub]), package)
    assert info.id == "greeter@1.0.0"
    # And minisign signs with a key symphony kit made.
    subprocess.run(
        [MINISIGN, "-S", "-s", str(keys.secret), "-m", str(package), "-t", "greeter@1.0.0"],
        check=True,
        capture_output=True,
    )
    verify_package(data, signature_path(package).read_text(), Keyring.of([keys.public]), package)


# -- resolution ------------------------------------------------------------------
def test_a_conflict_is_explained_in_pubgrub_words() -> None:
    index = PackageIndex()
    index.add("a", "1.0.0", {"b": "^2"})
    index.add("c", "3.0.0", {"b": "^1"})
    index.add("b", "1.5.0")
    index.add("b", "2.1.0")
    assert index.resolve({"a": "*"}) == {"a": "1.0.0", "b": "2.1.0"}
    with pytest.raises(ResolutionError) as e:
        index.resolve({"a": "^1", "c": "^3"})
    why = str(e.value)
    assert "a 1.0.0 depends on b ^2" in why
    assert "c 3.0.0 depends on b ^1" in why
    assert "a 1.0.0 and c 3.0.0 are incompatible" in why


def _brute_force(
    registry: dict[str, dict[str, dict[str, str]]], request: dict[str, str]
) -> list[dict[str, str]]:
    """Every assignment (a version or absent, per package) that satisfies the request."""
    names = sorted(registry)
    choices = [[None, *registry[n]] for n in names]
    found = []
    for pick in itertools.product(*choices):
        chosen = {n: v for n, v in zip(names, pick, strict=True) if v is not None}
        if _valid(registry, request, chosen):
            found.append(chosen)
    return found


def _valid(
    registry: dict[str, dict[str, dict[str, str]]], request: dict[str, str], chosen: dict[str, str]
) -> bool:
    needs = list(request.items()) + [d for n, v in chosen.items() for d in registry[n][v].items()]
    return all(dep in chosen and kit_matches(r, chosen[dep]) for dep, r in needs)


VERSIONS = ["1.0.0", "1.1.0", "1.2.0-rc.1", "1.2.0", "2.0.0", "2.1.0"]
RANGES = ["*", "^1", "^1.1", "~1.0", ">=1.2.0-rc.1", "^2", ">=1.1, <2.1", "=1.2.0", "<1.2"]


@st.composite
def registries(draw: st.DrawFn) -> tuple[dict[str, dict[str, dict[str, str]]], dict[str, str]]:
    names = ["a", "b", "c", "d"]
    registry: dict[str, dict[str, dict[str, str]]] = {}
    for n in names:
        versions = draw(st.lists(st.sampled_from(VERSIONS), min_size=1, max_size=3, unique=True))
        registry[n] = {
            v: draw(
                st.dictionaries(
                    st.sampled_from([m for m in names if m != n]),
                    st.sampled_from(RANGES),
                    max_size=2,
                )
            )
            for v in versions
        }
    request = draw(
        st.dictionaries(st.sampled_from(names), st.sampled_from(RANGES), min_size=1, max_size=2)
    )
    return registry, request


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(registries())
def test_pubgrub_agrees_with_brute_force_on_random_registries(
    case: tuple[dict[str, dict[str, dict[str, str]]], dict[str, str]],
) -> None:
    registry, request = case
    index = PackageIndex()
    index.extend((n, v, deps) for n, versions in registry.items() for v, deps in versions.items())
    solutions = _brute_force(registry, request)
    try:
        got = index.resolve(request)
    except ResolutionError:
        assert not solutions, f"PubGrub found none; brute force found {solutions[0]}"
        return
    assert solutions, f"PubGrub returned {got}, but brute force finds no solution"
    assert _valid(registry, request, got), f"{got} breaks a requirement"


# -- install, upgrade, rollback, uninstall ---------------------------------------
@pytest.fixture
def channel(tmp_path: Path) -> tuple[Path, Keyring, Path]:
    """Signed packages: greeter 1.0.0, 1.1.0 (network) and 2.0.0; twice needs greeter ^1."""
    keys = publisher(tmp_path)
    out = tmp_path / "channel"
    publish(make_extension(tmp_path, "greeter", "1.0.0"), out, keys)
    publish(make_extension(tmp_path, "greeter", "1.1.0", network=True), out, keys)
    publish(make_extension(tmp_path, "greeter", "2.0.0"), out, keys)
    publish(make_extension(tmp_path, "twice", "1.0.0", dependencies={"greeter": "^1"}), out, keys)
    return out, Keyring.of([keys.public]), tmp_path / "home"


def test_install_resolves_dependencies_and_writes_the_lock(
    channel: tuple[Path, Keyring, Path],
) -> None:
    out, ring, home = channel
    kit = Kit(home, sources=[out], keyring=ring)
    with pytest.raises(InstallError, match="permissions were not accepted"):
        kit.install("twice")
    assert kit.installed() == {}
    shown: list[str] = []

    def accept(text: str) -> bool:
        shown.append(text)
        return True

    assert kit.install("twice", confirm=accept) == [
        "greeter@1.1.0",
        "twice@1.0.0",
    ]
    assert any("network: read, write" in s for s in shown), shown
    installed = kit.installed()
    assert installed["greeter"].version == "1.1.0", "the newest that ^1 allows"
    lock = kit.lock()
    assert lock["requested"] == {"twice": "*"}
    pins = {p["name"]: (p["version"], p["sha256"]) for p in lock["package"]}
    assert pins["greeter"] == ("1.1.0", read_package(out / "greeter-1.1.0.symph")[1].digest)
    with pytest.raises(InstallError, match="needed by twice"):
        kit.uninstall("greeter")


def test_upgrade_rollback_uninstall(channel: tuple[Path, Keyring, Path]) -> None:
    out, ring, home = channel
    kit = Kit(home, sources=[out], keyring=ring)
    kit.install(out / "greeter-1.0.0.symph", yes=True)
    assert kit.installed()["greeter"].version == "1.0.0"
    # 1.1.0 widens the permissions (network): refused unless accepted.
    with pytest.raises(InstallError, match="permissions were not accepted"):
        kit.install("greeter@^1", confirm=lambda _: False)
    assert kit.installed()["greeter"].version == "1.0.0", "a refused upgrade changes nothing"
    assert kit.install("greeter@^1", yes=True) == ["greeter@1.1.0"]
    assert kit.upgrade("greeter", yes=True) == [], "^1 is already at its newest"
    assert kit.install("greeter@^2", yes=True) == ["greeter@2.0.0"]
    assert (kit.installed()["greeter"].version, kit.installed()["greeter"].previous) == (
        "2.0.0",
        "1.1.0",
    )
    assert kit.rollback("greeter") == "1.1.0"
    check_installed(kit.installed()["greeter"].folder)
    kit.uninstall("greeter")
    assert kit.installed() == {}
    assert not (home / "extensions" / "greeter").exists()
    with pytest.raises(InstallError, match="not installed"):
        kit.rollback("greeter")


def test_unsigned_and_untrusted_packages_are_refused(
    channel: tuple[Path, Keyring, Path], tmp_path: Path
) -> None:
    out, ring, home = channel
    loose = pack(make_extension(tmp_path, "loose"), tmp_path / "loose")
    with pytest.raises(InstallError, match="no signature"):
        Kit(home, keyring=ring).install(loose, yes=True)
    with pytest.raises(UnknownKeyError, match="not trusted"):
        Kit(home, sources=[out], keyring=Keyring()).install("greeter", yes=True)
    assert Kit(home, allow_unsigned=True).install(loose, yes=True) == ["loose@1.0.0"]


def test_a_resolution_failure_names_the_packages(channel: tuple[Path, Keyring, Path]) -> None:
    out, ring, home = channel
    with pytest.raises(
        ResolutionError,
        match=r"twice depends on greeter \^1(.|\n)*the request asks for greeter \^2",
    ):
        Kit(home, sources=[out], keyring=ring).install("twice", "greeter@^2", yes=True)
    assert Kit(home).installed() == {}


def test_the_stage_loads_an_installed_extension_and_rechecks_it(
    channel: tuple[Path, Keyring, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    out, ring, home = channel
    Kit(home, sources=[out], keyring=ring).install("greeter@=1.0.0", yes=True)
    monkeypatch.setenv("SYMPHONY_HOME", str(home))
    with Stage(["greeter"]) as stage:
        assert stage.call("greeter.shout", {"text": "hi"}) == "HI"
    folder = Kit(home).installed()["greeter"].folder
    (folder / "greeter_ext.py").write_text("raise SystemExit('tampered')\n", encoding="utf-8")
    with pytest.raises(IntegrityError, match=r"greeter_ext\.py: changed since install"):
        Stage(["greeter"])


# An upgrade killed (SIGKILL) right after each of its steps: what is current
# is the old version or the new, whole, and nothing half-made is left once the
# home is opened again.
KILLED = textwrap.dedent(
    """
    import os, signal, sys
    from symphony_lab.kit import Keyring, Kit
    home, source, pub, at = sys.argv[1:]
    def step(name, _):
        if name == at:
            os.kill(os.getpid(), signal.SIGKILL)
    kit = Kit(home, sources=[source], keyring=Keyring.of([pub]), on_step=step)
    kit.install("greeter@^2", yes=True)
    """
)


@pytest.mark.parametrize("step", STEPS)
def test_an_upgrade_killed_at_each_step_leaves_a_working_version(
    channel: tuple[Path, Keyring, Path], step: str, tmp_path: Path
) -> None:
    out, ring, home = channel
    Kit(home, sources=[out], keyring=ring).install("greeter@=1.0.0", yes=True)
    pub = tmp_path / "keys-publisher" / "publisher.pub"
    done = subprocess.run(
        [sys.executable, "-c", KILLED, str(home), str(out), str(pub), step], capture_output=True
    )
    assert done.returncode == -9, done.stderr.decode()
    kit = Kit(home)  # opening the home clears what the killed process left
    ext = kit.installed()["greeter"]
    expected = "1.0.0" if STEPS.index(step) < STEPS.index("switched") else "2.0.0"
    assert ext.version == expected
    check_installed(ext.folder)
    assert not (home / "staging").exists()
    assert not (home / "trash").exists()
    assert [
        p.name for p in (home / "extensions" / "greeter").iterdir() if p.name.startswith(".")
    ] == []
    kit.lock()  # still readable
    # And the next try completes.
    assert Kit(home, sources=[out], keyring=ring).install("greeter@^2", yes=True) in (
        [],
        ["greeter@2.0.0"],
    )
    assert Kit(home).installed()["greeter"].version == "2.0.0"
