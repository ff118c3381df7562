"""Extensions, keys and hand-made archives for the Orchestra Kit tests."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from symphony_lab.kit import KeyFiles, keygen, pack, sign_package
from symphony_lab.kit.package import LISTING
from symphony_lab.stage.scaffold import new_extension


def make_extension(
    root: Path,
    name: str,
    version: str = "1.0.0",
    dependencies: Mapping[str, str] | None = None,
    network: bool = False,
    body: str = "",
) -> Path:
    """A working operator ``name`` (one function, ``shout``) at ``version``."""
    folder = root / f"{name}-{version}"
    tmp = root / f".scaffold-{name}-{version}"
    made = new_extension(name, "operator", tmp)
    made.rename(folder)
    tmp.rmdir()
    (folder / f"test_{name}_ext.py").unlink()
    toml = (
        (folder / "symphony.toml")
        .read_text()
        .replace('version = "0.1.0"', f'version = "{version}"')
    )
    if dependencies:
        toml += "\n[dependencies]\n" + "".join(f'{k} = "{v}"\n' for k, v in dependencies.items())
    if network:
        toml += '\n[permissions]\nnetwork = { read = "allow", write = "allow" }\n'
    (folder / "symphony.toml").write_text(toml)
    if body:
        with (folder / f"{name}_ext.py").open("a") as f:
            f.write(body)
    return folder


def publish(folder: Path, out: Path, keys: KeyFiles) -> Path:
    """Packs and signs an extension's folder into ``out``."""
    package = pack(folder, out)
    sign_package(package, keys.secret)
    return package


def publisher(root: Path, name: str = "publisher") -> KeyFiles:
    return keygen(root / f"keys-{name}", name)


def craft(
    path: Path,
    members: list[tuple[tarfile.TarInfo, bytes]],
    listing: list[dict[str, Any]] | None = None,
) -> Path:
    """A gzip'd tar with exactly these members after a listing (by default,
    one naming every regular member truthfully), for attacks the packer never makes."""
    if listing is None:
        listing = [
            {
                "path": info.name,
                "sha256": hashlib.sha256(data).hexdigest(),
                "size": len(data),
                "executable": False,
            }
            for info, data in members
            if info.isreg()
        ]
        if not any(f["path"] == "symphony.toml" for f in listing):
            toml = b'name = "evil"\nversion = "1.0.0"\nkind = "operator"\nentry = "evil_ext"\n'
            members = [(_reg("symphony.toml", toml), toml), *members]
            listing.insert(
                0,
                {
                    "path": "symphony.toml",
                    "sha256": hashlib.sha256(toml).hexdigest(),
                    "size": len(toml),
                },
            )
    doc = json.dumps({"format": 1, "name": "evil", "version": "1.0.0", "files": listing}).encode()
    buf = io.BytesIO()
    with (
        gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as gz,
        tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        tar.addfile(_reg(LISTING, doc), io.BytesIO(doc))
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    path.write_bytes(buf.getvalue())
    return path


def _reg(name: str, data: bytes, mode: int = 0o644) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = mode
    return info


def reg(name: str, data: bytes = b"x", mode: int = 0o644) -> tuple[tarfile.TarInfo, bytes]:
    return _reg(name, data, mode), data


def link(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info, b""


def special(name: str, kind: bytes) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.type = kind
    return info, b""
