"""The bundled registry: the shipped extensions as signed packages, offline.

``./lab`` builds it into ``symphony_lab/kit/bundled/`` with :func:`build` (and
wheels carry it)::

    keys/bundled.pub                 the build's key (its secret is discarded)
    index.json, index.json.minisig   the signed index, as any registry's
    packages/NAME-VERSION.symph      each shipped extension, packed, with its .minisig

so ``symphony kit install text`` works on a fresh machine with no registry
reachable. The build signs with a key made for it and thrown away: the trust
anchor is the public key inside the installed symphony-lab, as the shipped
code itself is. Hence the bundle's index never expires, and its version is not
remembered against rollback: reinstalling an older symphony-lab rolls the
bundle back with it, which is the user's choice, not a mirror's attack. Every
package is still checked against the signed index and its signature, so a
bundle altered after the build is refused like any registry's.
"""

from __future__ import annotations

import re
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from symphony_lab.kit import index as signed_index
from symphony_lab.kit.errors import RegistryError
from symphony_lab.kit.package import SUFFIX, PackageInfo, pack, read_info, read_package
from symphony_lab.kit.registry import Hit
from symphony_lab.kit.trust import keygen, sign_package, signature_path
from symphony_lab.pit import kit_key_id, kit_sort_versions
from symphony_lab.sdk.manifest import MANIFEST_NAME

#: Where ``./lab`` builds the bundle, inside the package.
BUNDLED = Path(__file__).parent / "bundled"
NAME = "bundled"
#: A century: the bundle is as current as the symphony-lab that carries it.
LIFETIME_S = 100 * 365 * 24 * 3600


def build(extensions: str | Path, out: str | Path = BUNDLED) -> list[PackageInfo]:
    """Packs and signs every extension folder under ``extensions`` into a
    bundled registry at ``out`` (replaced whole, atomically)."""
    out = Path(out)
    folders = sorted(p.parent for p in Path(extensions).glob(f"*/{MANIFEST_NAME}"))
    if not folders:
        raise RegistryError(f"{extensions}: no extension folder (none holds {MANIFEST_NAME})")
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        with tempfile.TemporaryDirectory() as secret_dir:
            key = keygen(secret_dir, NAME)
            (work / "keys").mkdir()
            shutil.copy(key.public, work / "keys" / f"{NAME}.pub")
            infos, entries = [], []
            for folder in folders:
                path = pack(folder, work / "packages")
                sign_package(path, key.secret)
                _, info = read_package(path)
                infos.append(info)
                entries.append(
                    signed_index.Entry(
                        info.name,
                        info.version,
                        info.digest,
                        info.size,
                        key.key_id,
                        info.manifest.dependencies,
                        info.manifest.description,
                    )
                )
            doc = signed_index.render(NAME, int(time.time()), time.time() + LIFETIME_S, entries)
            (work / "index.json").write_bytes(doc)
            (work / "index.json.minisig").write_text(signed_index.sign(doc, key.secret.read_text()))
        old = out.with_name(f".{out.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        if out.exists():
            out.rename(old)
        work.rename(out)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return infos


class BundledRegistry:
    """The bundle, read as a registry (read-only)."""

    name = NAME

    def __init__(self, folder: str | Path = BUNDLED) -> None:
        self.folder = Path(folder)
        self.keys = self.folder / "keys"
        try:
            self.public_key = (self.keys / f"{NAME}.pub").read_text()
        except OSError as e:
            raise RegistryError(
                f"{self.folder}: the bundled registry is missing or incomplete ({e}); "
                "./lab builds it (symphony_lab.kit.bundle.build)"
            ) from None
        self._infos: dict[tuple[str, str], PackageInfo] | None = None

    def index(self) -> tuple[bytes, str]:
        path = self.folder / "index.json"
        return path.read_bytes(), signature_path(path).read_text()

    def _path(self, name: str, version: str) -> Path:
        path = self.folder / "packages" / f"{name}-{version}{SUFFIX}"
        if "/" in name or "/" in version or not path.is_file():
            raise RegistryError(f"the bundled registry has no {name}@{version}")
        return path

    def package(self, name: str, version: str) -> tuple[bytes, str]:
        path = self._path(name, version)
        return path.read_bytes(), signature_path(path).read_text()

    def _packages(self) -> dict[tuple[str, str], PackageInfo]:
        if self._infos is None:
            self._infos = {}
            for path in sorted((self.folder / "packages").glob(f"*{SUFFIX}")):
                info = read_info(path.read_bytes(), path)
                self._infos[info.name, info.version] = info
        return self._infos

    def versions(self, name: str) -> list[dict[str, Any]]:
        infos = {v: i for (n, v), i in self._packages().items() if n == name}
        return [
            {
                "name": name,
                "version": v,
                "sha256": infos[v].digest,
                "size": infos[v].size,
                "key_id": kit_key_id(self.public_key),
                "description": infos[v].manifest.description,
                "dependencies": infos[v].manifest.dependencies,
            }
            for v in kit_sort_versions(list(infos))
        ]

    def search(self, query: str, limit: int = 20) -> list[Hit]:
        """Packages matching every word of ``query`` (in the name, description
        or functions), a match in the name counting most."""
        words = re.findall(r"\w+", query.lower())
        newest: dict[str, PackageInfo] = {}
        for (name, _), info in self._packages().items():
            have = newest.get(name)
            if have is None or kit_sort_versions([have.version, info.version])[-1] != have.version:
                newest[name] = info
        hits = []
        for name, info in newest.items():
            m = info.manifest
            fields = [
                (3.0, name.lower()),
                (1.0, m.description.lower()),
                (1.0, " ".join(f"{f.name} {f.description}" for f in m.functions).lower()),
            ]
            score = 0.0
            for w in words:
                found = sum(weight for weight, text in fields if w in text)
                if not found:
                    break
                score += found
            else:
                hits.append(Hit(name, info.version, m.description, score))
        hits.sort(key=lambda h: (-h.score, h.name))
        return hits[:limit]

    def publish(self, data: bytes, signature: str) -> dict[str, Any]:
        raise RegistryError(
            "the bundled registry is read-only: publish to a local or team registry"
        )
