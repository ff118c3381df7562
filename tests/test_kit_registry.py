"""Registries: publish, search, info and install, from a folder and over real
HTTP (``symphony kit serve`` in a subprocess); tokens; and the signed index
refusing rollback, freeze and mix-and-match."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from kit_helpers import make_extension, publish, publisher
from postgres_server import fresh_database, postgres_server

from symphony_lab.kit import Keyring, Kit
from symphony_lab.kit.errors import AuthError, RegistryError, StaleIndex
from symphony_lab.kit.home import registry_keys
from symphony_lab.kit.index import verify
from symphony_lab.kit.registry import INDEX_LIFETIME_S, FolderRegistry, HttpRegistry, RegistryStore
from symphony_lab.kit.trust import KeyFiles, signature_path
from symphony_lab.pit import UnknownKeyError


@pytest.fixture(scope="module")
def postgres() -> Iterator[str]:
    with postgres_server() as dsn:
        yield dsn


@pytest.fixture(params=["sqlite", "postgres"])
def dsn(request: pytest.FixtureRequest) -> str | None:
    """Each registry test runs on the embedded SQLite index and on PostgreSQL."""
    if request.param == "sqlite":
        return None
    return fresh_database(request.getfixturevalue("postgres"))


def _scaffold(tmp: Path, keys: KeyFiles) -> dict[str, Path]:
    """Signed packages whose words differ by where 'translate' appears."""
    out = tmp / "packages"
    made = {}
    for name, description, extra in [
        ("translate", "Moves text between languages.", ""),
        ("summarize", "Shortens text; can translate first.", ""),
        ("misc", "Odds and ends.", "translate"),
    ]:
        folder = make_extension(tmp, name)
        toml = (folder / "symphony.toml").read_text()
        toml = toml.replace(f"TODO: what {name} does.", description)
        if extra:
            toml = toml.replace(
                "The text in capitals, repeated.", f"The text in capitals; does not {extra}."
            )
        (folder / "symphony.toml").write_text(toml)
        made[name] = publish(folder, out, keys)
    made["translate2"] = publish(make_extension(tmp, "translate", "2.0.0"), out, keys)
    return made


def _post(store: RegistryStore | HttpRegistry, package: Path) -> None:
    data = package.read_bytes()
    sig = signature_path(package).read_text()
    store.publish(data, sig)


def test_a_folder_registry_publishes_searches_and_installs(tmp_path: Path, dsn: str | None) -> None:
    keys = publisher(tmp_path)
    made = _scaffold(tmp_path, keys)
    store = RegistryStore.create(tmp_path / "reg", "team", dsn=dsn)
    with pytest.raises(Exception, match="not trusted"):
        _post(store, made["translate"])  # an unknown publisher
    store.accept_publisher(keys.public)
    for p in made.values():
        _post(store, p)
    with pytest.raises(RegistryError, match="published already"):
        _post(store, made["translate"])
    hits = store.search("translate")
    assert [h.name for h in hits] == ["translate", "summarize", "misc"], (
        "name, then description, then functions"
    )
    assert hits[0].version == "2.0.0"
    assert store.search("") == []
    assert store.search('tra" OR 1=1 --') == [], "the query is words, never syntax"
    assert [v["version"] for v in store.versions("translate")] == ["1.0.0", "2.0.0"]

    home = tmp_path / "home"
    kit = Kit(home, keyring=Keyring.of([keys.public]), registries=[FolderRegistry(store.folder)])
    assert kit.install("translate@^1", yes=True) == ["translate@1.0.0"]
    assert kit.lock()["package"][0]["source"] == "team"


def test_the_local_registry_is_made_on_first_publish(tmp_path: Path) -> None:
    keys = publisher(tmp_path)
    package = publish(make_extension(tmp_path, "greeter"), tmp_path / "out", keys)
    home = tmp_path / "home"
    kit = Kit(home)
    kit.keyring.trust(kit.keys_dir, keys.public)
    assert kit.publish(package)["version"] == "1.0.0"
    again = Kit(home)  # the local registry is found from now on
    assert [r.name for r in again.registries] == ["bundled", "local"]
    assert again.install("greeter", yes=True) == ["greeter@1.0.0"]


def test_the_index_refuses_rollback_freeze_and_mixing(tmp_path: Path, dsn: str | None) -> None:
    keys = publisher(tmp_path)
    made = _scaffold(tmp_path, keys)
    store = RegistryStore.create(tmp_path / "reg", "team", dsn=dsn)
    store.accept_publisher(keys.public)
    _post(store, made["translate"])
    old = store.index()
    _post(store, made["translate2"])
    new = store.index()
    seen = tmp_path / "seen.json"
    assert verify(*new, store.public_key, seen).version == 2
    with pytest.raises(StaleIndex, match="older than version 2"):
        verify(*old, store.public_key, seen)  # a replayed older index
    with pytest.raises(StaleIndex, match="expired"):
        verify(*new, store.public_key, None, now=time.time() + INDEX_LIFETIME_S + 60)
    forged = new[0].replace(b'"version":2', b'"version":9')
    with pytest.raises(Exception, match="does not match"):
        verify(forged, new[1], store.public_key, None)

    # Packages from another snapshot: the index says one digest, the bytes are others.
    other = RegistryStore.create(tmp_path / "other", "team")
    other.accept_publisher(keys.public)
    rebuilt = make_extension(tmp_path / "x", "translate", "2.0.0", body="\n# another build\n")
    _post(other, publish(rebuilt, tmp_path / "x" / "out", keys))

    class Mixed(FolderRegistry):
        def package(self, name: str, version: str) -> tuple[bytes, str]:
            return other.package(name, version)

    kit = Kit(
        tmp_path / "home", keyring=Keyring.of([keys.public]), registries=[Mixed(store.folder)]
    )
    with pytest.raises(RegistryError, match="do not match the registry's signed index"):
        kit.install("translate@^2", yes=True)
    assert kit.installed() == {}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def served(tmp_path: Path, dsn: str | None) -> Iterator[tuple[str, RegistryStore, str, KeyFiles]]:
    """``symphony kit serve`` on a loopback port, a token for it, a publisher it accepts."""
    keys = publisher(tmp_path)
    store = RegistryStore.create(tmp_path / "reg", "team", public_read=False, dsn=dsn)
    store.accept_publisher(keys.public)
    token = store.add_token("ci")
    port = _free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "symphony_lab.cli",
            "kit",
            "serve",
            str(store.folder),
            "--port",
            str(port),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"{url}/index.json", timeout=2)
        except urllib.error.HTTPError:
            break  # it answers (401: reading is private)
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                out = server.stdout.read().decode() if server.stdout else ""
                raise AssertionError(f"symphony kit serve did not start: {out}") from None
            time.sleep(0.2)
    try:
        yield url, store, token, keys
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_a_team_registry_over_http(
    served: tuple[str, RegistryStore, str, KeyFiles], tmp_path: Path
) -> None:
    url, store, token, keys = served
    made = _scaffold(tmp_path, keys)
    anonymous = HttpRegistry(url, store.public_key)
    with pytest.raises(AuthError, match="401"):
        anonymous.search("translate")  # reading is token-only on this registry
    with pytest.raises(AuthError, match="403"):
        _post(HttpRegistry(url, store.public_key, token="symph_bad_token"), made["translate"])
    client = HttpRegistry(url, store.public_key, token=token)
    for name in ("translate", "summarize", "misc", "translate2"):
        _post(client, made[name])
    with pytest.raises(RegistryError, match="409"):
        _post(client, made["misc"])
    assert [h.name for h in client.search("translate")] == ["translate", "summarize", "misc"]
    assert [v["version"] for v in client.versions("translate")] == ["1.0.0", "2.0.0"]
    kit = Kit(tmp_path / "home", keyring=Keyring.of([keys.public]), registries=[client])
    assert kit.install("translate", yes=True) == ["translate@2.0.0"]
    # Tokens are stored as argon2 hashes, never as themselves.
    hashes = store._db.all("SELECT hash FROM tokens")
    assert hashes
    assert all(h.startswith("$argon2") for (h,) in hashes)
    assert all(token.split("_", 2)[2] not in h for (h,) in hashes)


def test_a_publisher_can_be_trusted_for_one_registry_only(tmp_path: Path) -> None:
    keys = publisher(tmp_path)
    made = _scaffold(tmp_path, keys)
    team, other = (RegistryStore.create(tmp_path / n, n) for n in ("team", "other"))
    for store in (team, other):
        store.accept_publisher(keys.public)
        _post(store, made["translate"])
    home = tmp_path / "home"
    folder = registry_keys(home, team.public_key)
    Keyring().trust(folder, keys.public)
    kit = Kit(home, keyring=Keyring(), registries=[FolderRegistry(other.folder)])
    with pytest.raises(UnknownKeyError, match="not trusted"):
        kit.install("translate", yes=True)
    kit = Kit(home, keyring=Keyring(), registries=[FolderRegistry(team.folder)])
    assert kit.install("translate", yes=True) == ["translate@1.0.0"]
