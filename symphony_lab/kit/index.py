"""A registry's signed index: every package it serves, in one snapshot.

The index is one JSON document signed with the registry's own key (minisign
format, trusted comment ``symphony-index NAME vVERSION``). It carries a
version that grows with every change and an expiry. A client keeps the
highest version it has seen per registry, and refuses:

- an index older than one it has seen (a rollback to a vulnerable release);
- an index past its expiry (a mirror freezing it on a stale snapshot);
- a package whose bytes do not hash to what this snapshot says (mixing
  metadata and packages from two snapshots).

These are the attacks TUF names; one signed snapshot with a version and an
expiry answers them for a registry with one signing key.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from symphony_lab.kit.errors import RegistryError, StaleIndex
from symphony_lab.pit import kit_sign, kit_verify

FORMAT = 1


@dataclass(frozen=True)
class Entry:
    """One package version as the index lists it."""

    name: str
    version: str
    sha256: str
    size: int
    key_id: str
    dependencies: dict[str, str]
    description: str


@dataclass(frozen=True)
class Index:
    registry: str
    version: int
    expires: float
    entries: tuple[Entry, ...]

    def find(self, name: str, version: str) -> Entry:
        for e in self.entries:
            if (e.name, e.version) == (name, version):
                return e
        raise RegistryError(f"registry {self.registry!r} has no {name}@{version}")


def comment(registry: str, version: int) -> str:
    return f"symphony-index {registry} v{version}"


def render(registry: str, version: int, expires: float, entries: list[Entry]) -> bytes:
    doc = {
        "format": FORMAT,
        "registry": registry,
        "version": version,
        "expires": expires,
        "packages": [e.__dict__ for e in sorted(entries, key=lambda e: (e.name, e.version))],
    }
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


def sign(data: bytes, secret: str) -> str:
    doc = json.loads(data)
    return kit_sign(
        secret, data, comment(doc["registry"], doc["version"]), "symphony registry index"
    )


def verify(
    data: bytes, signature: str, public: str, seen: Path | None, now: float | None = None
) -> Index:
    """The index, once its signature, version and expiry check out; ``seen``
    (a small JSON file) keeps the highest version accepted so far."""
    trusted = kit_verify(public, data, signature)
    try:
        doc: dict[str, Any] = json.loads(data)
        index = Index(
            str(doc["registry"]),
            int(doc["version"]),
            float(doc["expires"]),
            tuple(Entry(**p) for p in doc["packages"]),
        )
    except (ValueError, KeyError, TypeError) as e:
        raise RegistryError(f"the registry's index is malformed: {e!r}") from None
    if trusted != comment(index.registry, index.version):
        raise RegistryError(
            f"the index's signature is for {trusted!r}, not for version {index.version}"
        )
    now = time.time() if now is None else now
    if index.expires < now:
        raise StaleIndex(
            f"registry {index.registry!r}: its index (version {index.version}) expired "
            f"{(now - index.expires) / 3600:.1f} h ago; a mirror may be freezing it on an old "
            "snapshot"
        )
    if seen is not None:
        last = 0
        if seen.exists():
            try:
                last = int(json.loads(seen.read_text()).get("version", 0))
            except (ValueError, OSError):
                last = 0
        if index.version < last:
            raise StaleIndex(
                f"registry {index.registry!r}: index version {index.version} is older than "
                f"version {last}, already seen; refusing a rollback"
            )
        seen.parent.mkdir(parents=True, exist_ok=True)
        seen.write_text(json.dumps({"version": index.version}))
    return index
