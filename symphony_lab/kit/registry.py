"""Registries: where packages are published, searched and fetched.

A :class:`RegistryStore` is the registry itself, a folder::

    registry.json        its name, whether reading needs a token, the index's lifetime
    registry.key/.pub    the key that signs its index (see :mod:`.index`)
    publishers/          the publishers' keys it accepts packages from
    blobs/               the packages, content-addressed in an ArtifactStore
    index.sqlite         names, versions, digests, tokens (argon2 hashes) and a
                         full-text index (FTS5, ranked by BM25)

A client reads one through :class:`FolderRegistry` (the local default) or,
served by ``symphony kit serve``, through :class:`HttpRegistry`. Either way
it checks the signed index first, then each package's bytes against it.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from symphony_lab.kit import index as signed_index
from symphony_lab.kit.errors import AuthError, RegistryError
from symphony_lab.kit.package import PackageInfo, read_info
from symphony_lab.kit.registry_db import COLUMNS, IndexDb, open_db
from symphony_lab.kit.trust import Keyring, keygen
from symphony_lab.pit import ArtifactStore, kit_key_id, kit_sort_versions

CONFIG = "registry.json"
#: How long a signed index stays valid; the store re-signs it before then.
INDEX_LIFETIME_S = 7 * 24 * 3600


@dataclass(frozen=True)
class Hit:
    """A search result: the newest version of a package that matches."""

    name: str
    version: str
    description: str
    score: float


# argon2 (cffi) and urllib.request (http.client, ssl) load when first used:
# an install from a package file or a folder registry needs neither, and each
# would add tens of milliseconds to every ``symphony kit`` command.


def _hash(secret: str) -> str:
    from argon2 import PasswordHasher

    return str(PasswordHasher().hash(secret))


def _matches(stored: str, secret: str) -> bool:
    from argon2 import PasswordHasher
    from argon2.exceptions import VerificationError

    try:
        return bool(PasswordHasher().verify(stored, secret))
    except VerificationError:
        return False


class RegistryStore:
    """The registry's side: publish, search, info, the signed index, tokens."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        try:
            self.config: dict[str, Any] = json.loads((self.folder / CONFIG).read_text())
        except (OSError, ValueError) as e:
            raise RegistryError(
                f"{self.folder}: not a registry ({CONFIG}: {e}); "
                "create one with symphony kit registry init"
            ) from None
        self.name = str(self.config["name"])
        self._secret = (self.folder / "registry.key").read_text()
        self.public_key = (self.folder / "registry.pub").read_text()
        self.blobs = ArtifactStore(self.folder / "blobs")
        self._db: IndexDb = open_db(self.folder, self.config.get("dsn"))

    @classmethod
    def create(
        cls, folder: str | Path, name: str, *, public_read: bool = True, dsn: str | None = None
    ) -> RegistryStore:
        """A new registry in ``folder``; its index in SQLite there, or on
        PostgreSQL at ``dsn`` (the blobs stay in the folder either way)."""
        folder = Path(folder)
        if (folder / CONFIG).exists():
            raise RegistryError(f"{folder} is a registry already")
        folder.mkdir(parents=True, exist_ok=True)
        keygen(folder, "registry")
        (folder / "publishers").mkdir(exist_ok=True)
        config: dict[str, Any] = {"name": name, "public_read": public_read}
        if dsn:
            config["dsn"] = dsn
        (folder / CONFIG).write_text(json.dumps(config, indent=1))
        return cls(folder)

    @property
    def publishers(self) -> Keyring:
        """The publishers accepted now: read at each use, so a key accepted
        from a terminal counts at once in a registry being served."""
        return Keyring.load([self.folder / "publishers"])

    @property
    def public_read(self) -> bool:
        return bool(self.config.get("public_read", True))

    def close(self) -> None:
        self._db.close()

    # -- publishers and tokens ---------------------------------------------------
    def accept_publisher(self, public_key: str | Path) -> str:
        """Accepts packages signed by this key from now on."""
        return Keyring().trust(self.folder / "publishers", public_key)

    def add_token(self, label: str) -> str:
        """A new API token (shown once; only its argon2 hash is stored)."""
        token_id = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
        self._db.run(
            "INSERT INTO tokens VALUES (?, ?, ?, ?)",
            (token_id, label, _hash(secret), time.time()),
        )
        return f"symph_{token_id}_{secret}"

    def check_token(self, token: str | None) -> None:
        """Raises :class:`AuthError` unless ``token`` is one this registry issued."""
        if not token:
            raise AuthError(f"registry {self.name!r} needs an API token for this")
        _, token_id, secret = [*token.split("_", 2), "", ""][:3]
        row = self._db.one("SELECT hash FROM tokens WHERE id = ?", (token_id,))
        if row is None or not _matches(row[0], secret):
            raise AuthError(f"registry {self.name!r} does not know this token")

    # -- packages ----------------------------------------------------------------
    def publish(self, data: bytes, signature: str) -> PackageInfo:
        """Adds a signed package. Versions are immutable: publishing the same
        ``name@version`` again is refused."""
        key_id, trusted = self.publishers.verify(data, signature)
        info = read_info(data, "the published package")
        if trusted.split(" ")[0] != info.id:
            raise RegistryError(f"the signature is for {trusted!r}, not for {info.id}")
        functions = " ".join(f"{f.name} {f.description}" for f in info.manifest.functions)
        with self._db.transaction():
            if self._db.one(
                "SELECT 1 FROM packages WHERE name = ? AND version = ?", (info.name, info.version)
            ):
                raise RegistryError(
                    f"{info.id} is published already; versions are immutable, publish a new one"
                )
            blob, _ = self.blobs.put(
                f"kit/{info.id}", data, kind="symphony-package", media_type="application/gzip"
            )
            self._db.run(
                f"INSERT INTO packages ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    info.name,
                    info.version,
                    info.digest,
                    blob,
                    info.size,
                    key_id,
                    signature,
                    info.manifest.description,
                    functions,
                    json.dumps(info.manifest.dependencies, sort_keys=True),
                    time.time(),
                ),
            )
            rows = self._db.all(
                "SELECT version, description, functions FROM packages WHERE name = ?", (info.name,)
            )
            top = kit_sort_versions([r[0] for r in rows])[-1]
            newest = next(r for r in rows if r[0] == top)
            self._db.set_search(info.name, newest[1], newest[2])
            self._bump()
        return info

    def _bump(self) -> None:
        self._db.set_meta("version", str(int(self._meta("version", "0")) + 1))
        self._db.run("DELETE FROM meta WHERE key IN ('index', 'signature')")

    def _meta(self, key: str, default: str) -> str:
        row = self._db.one("SELECT value FROM meta WHERE key = ?", (key,))
        return str(row[0]) if row else default

    def search(self, query: str, limit: int = 20) -> list[Hit]:
        """Packages whose name, description or functions match every word, best first."""
        hits = []
        for name, score in self._db.search(query, limit):
            newest = self.versions(name)[-1]
            hits.append(Hit(name, newest["version"], newest["description"], score))
        return hits

    def versions(self, name: str) -> list[dict[str, Any]]:
        """Every version of ``name``, with its digest, publisher key and dependencies."""
        rows = self._db.all(
            "SELECT version, sha256, size, key_id, description, dependencies, published "
            "FROM packages WHERE name = ?",
            (name,),
        )
        order = kit_sort_versions([r[0] for r in rows])
        return [
            {
                "name": name,
                "version": r[0],
                "sha256": r[1],
                "size": r[2],
                "key_id": r[3],
                "description": r[4],
                "dependencies": json.loads(r[5]),
                "published": r[6],
            }
            for r in sorted(rows, key=lambda r: order.index(r[0]))
        ]

    def package(self, name: str, version: str) -> tuple[bytes, str]:
        row = self._db.one(
            "SELECT blob, signature FROM packages WHERE name = ? AND version = ?", (name, version)
        )
        if row is None:
            raise RegistryError(f"registry {self.name!r} has no {name}@{version}")
        return self.blobs.get_by_hash(row[0]), str(row[1])

    def index(self, now: float | None = None) -> tuple[bytes, str]:
        """The signed index; re-signed, with a new version, once half its life is gone."""
        now = time.time() if now is None else now
        with self._db.transaction():
            data, sig = self._meta("index", ""), self._meta("signature", "")
            if data:
                expires = json.loads(data)["expires"]
                if expires - now > INDEX_LIFETIME_S / 2:
                    return data.encode(), sig
                self._bump()
            rows = self._db.all(
                "SELECT name, version, sha256, size, key_id, dependencies, description "
                "FROM packages"
            )
            entries = [
                signed_index.Entry(r[0], r[1], r[2], int(r[3]), r[4], json.loads(r[5]), r[6])
                for r in rows
            ]
            version = int(self._meta("version", "0"))
            doc = signed_index.render(self.name, version, now + INDEX_LIFETIME_S, entries)
            sig = signed_index.sign(doc, self._secret)
            self._db.set_meta("index", doc.decode())
            self._db.set_meta("signature", sig)
            return doc, sig


class Registry(Protocol):
    """What a client needs of a registry, wherever it is."""

    name: str
    public_key: str

    def index(self) -> tuple[bytes, str]: ...
    def package(self, name: str, version: str) -> tuple[bytes, str]: ...
    def search(self, query: str, limit: int = 20) -> list[Hit]: ...
    def versions(self, name: str) -> list[dict[str, Any]]: ...
    def publish(self, data: bytes, signature: str) -> PackageInfo | dict[str, Any]: ...


class FolderRegistry:
    """A registry read straight from its folder (the local default)."""

    def __init__(self, folder: str | Path) -> None:
        self.store = RegistryStore(folder)
        self.folder = str(self.store.folder)
        self.name = self.store.name
        self.public_key = self.store.public_key

    def index(self) -> tuple[bytes, str]:
        return self.store.index()

    def package(self, name: str, version: str) -> tuple[bytes, str]:
        return self.store.package(name, version)

    def search(self, query: str, limit: int = 20) -> list[Hit]:
        return self.store.search(query, limit)

    def versions(self, name: str) -> list[dict[str, Any]]:
        return self.store.versions(name)

    def publish(self, data: bytes, signature: str) -> PackageInfo:
        return self.store.publish(data, signature)


class HttpRegistry:
    """A team registry served over HTTP by ``symphony kit serve``."""

    def __init__(
        self, url: str, public_key: str, *, token: str | None = None, timeout: float = 30.0
    ) -> None:
        self.url = url.rstrip("/")
        self.public_key = public_key
        self.name = f"registry {kit_key_id(public_key)} at {self.url}"
        self.token = token
        self.timeout = timeout

    def _get(self, path: str) -> bytes:
        return self._request("GET", path)

    def _request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> bytes:
        import urllib.error
        import urllib.request

        req = urllib.request.Request(
            f"{self.url}{path}", data=body, method=method, headers=headers or {}
        )
        if self.token:
            req.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as r:
                return bytes(r.read())
        except urllib.error.HTTPError as e:
            try:
                why = json.loads(e.read()).get("error", e.reason)
            except ValueError:
                why = e.reason
            error = AuthError if e.code in (401, 403) else RegistryError
            raise error(f"{self.url}{path}: {e.code} {why}") from None
        except (urllib.error.URLError, OSError) as e:
            raise RegistryError(f"{self.url}: cannot reach the registry: {e}") from None

    def index(self) -> tuple[bytes, str]:
        return self._get("/index.json"), self._get("/index.json.minisig").decode()

    def package(self, name: str, version: str) -> tuple[bytes, str]:
        path = f"/packages/{urllib.parse.quote(name)}/{urllib.parse.quote(version)}.symph"
        return self._get(path), self._get(path + ".minisig").decode()

    def search(self, query: str, limit: int = 20) -> list[Hit]:
        q = urllib.parse.urlencode({"q": query, "limit": limit})
        return [Hit(**h) for h in json.loads(self._get(f"/search?{q}"))]

    def versions(self, name: str) -> list[dict[str, Any]]:
        return list(json.loads(self._get(f"/info/{urllib.parse.quote(name)}")))

    def publish(self, data: bytes, signature: str) -> dict[str, Any]:
        sig = base64.b64encode(signature.encode()).decode()
        answer = self._request("PUT", "/packages", data, {"X-Symphony-Signature": sig})
        return dict(json.loads(answer))
