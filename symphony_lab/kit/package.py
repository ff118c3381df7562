"""The package: one reproducible archive (``NAME-VERSION.symph``) made from an
extension's folder.

A package is a gzip'd tar whose first member, ``symphony-kit.json``, lists
every file with its size, mode and SHA-256; the files follow in that order.
Only regular files travel (no links, no devices, no empty folders), every
header is normalised (owner 0, time 0, mode 0644 or 0755), and gzip's own
header carries no name or time, so the same folder always gives the same
bytes and the same digest. The package's digest is the SHA-256 of the archive.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import stat
import tarfile
import tomllib
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from symphony_lab.kit.errors import PackageError
from symphony_lab.sdk.manifest import (
    MANIFEST_NAME,
    Manifest,
    ManifestError,
    load_manifest,
    parse_manifest,
)

SUFFIX = ".symph"
LISTING = "symphony-kit.json"
FORMAT = 1

#: What a package may hold at most; each is named in the error that refuses it.
MAX_FILES = 5_000
MAX_BYTES = 256 * 2**20
MAX_FILE_BYTES = 64 * 2**20
MAX_LISTING_BYTES = 4 * 2**20

#: Left out of a package wherever they appear: caches and version control.
IGNORED = frozenset(
    {
        "__pycache__",
        ".git",
        ".hg",
        ".svn",
        ".ipynb_checkpoints",
        ".DS_Store",
        ".pytest_cache",
        ".mypy_cache",
        ".ruff_cache",
    }
)


@dataclass(frozen=True)
class FileEntry:
    path: str
    sha256: str
    size: int
    executable: bool = False

    def as_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "sha256": self.sha256,
            "size": self.size,
            "executable": self.executable,
        }


@dataclass(frozen=True)
class PackageInfo:
    """What a package says of itself, read without extracting it."""

    name: str
    version: str
    manifest: Manifest
    files: tuple[FileEntry, ...]
    #: SHA-256 of the whole archive, hex.
    digest: str
    size: int
    source: Path | None = field(default=None, compare=False)

    @property
    def id(self) -> str:
        return f"{self.name}@{self.version}"

    @property
    def filename(self) -> str:
        return f"{self.name}-{self.version}{SUFFIX}"


def _walk(folder: Path) -> Iterator[tuple[str, Path]]:
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if d not in IGNORED)
        here = Path(dirpath)
        for d in dirnames:
            if (here / d).is_symlink():
                raise PackageError(
                    f"{here / d}: a symbolic link; a package holds only regular files"
                )
        for name in sorted(filenames):
            if name in IGNORED or name.endswith((".pyc", ".pyo")):
                continue
            yield (here / name).relative_to(folder).as_posix(), here / name


def _listing(folder: Path, max_files: int, max_bytes: int) -> list[FileEntry]:
    entries: list[FileEntry] = []
    total = 0
    for rel, path in _walk(folder):
        st = path.lstat()
        if not stat.S_ISREG(st.st_mode):
            raise PackageError(
                f"{path}: not a regular file (a link, a socket or a device); "
                "a package holds only regular files"
            )
        if len(entries) + 1 > max_files:
            raise PackageError(f"{folder}: more than {max_files} files (the file-count cap)")
        if st.st_size > MAX_FILE_BYTES:
            raise PackageError(
                f"{path}: {st.st_size} bytes, over the per-file cap of {MAX_FILE_BYTES}"
            )
        total += st.st_size
        if total > max_bytes:
            raise PackageError(f"{folder}: over {max_bytes} bytes in all (the size cap)")
        digest = hashlib.sha256()
        with path.open("rb") as f:
            for chunk in iter(lambda: f.read(2**20), b""):
                digest.update(chunk)
        entries.append(
            FileEntry(rel, digest.hexdigest(), st.st_size, bool(st.st_mode & stat.S_IXUSR))
        )
    return entries


def _header(name: str, size: int, executable: bool) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mode = 0o755 if executable else 0o644
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.type = tarfile.REGTYPE
    return info


def pack(
    folder: str | Path,
    out: str | Path | None = None,
    *,
    max_files: int = MAX_FILES,
    max_bytes: int = MAX_BYTES,
) -> Path:
    """Makes ``NAME-VERSION.symph`` from an extension's folder, in ``out`` (a
    folder; the current one by default). The same folder gives the same bytes."""
    folder = Path(folder).resolve()
    manifest = load_manifest(folder)
    entries = _listing(folder, max_files, max_bytes)
    listing = json.dumps(
        {
            "format": FORMAT,
            "name": manifest.name,
            "version": manifest.version,
            "files": [e.as_json() for e in entries],
        },
        sort_keys=True,
        separators=(",", ":"),
    ).encode()
    target = Path(out) if out is not None else Path.cwd()
    target.mkdir(parents=True, exist_ok=True)
    path = target / f"{manifest.name}-{manifest.version}{SUFFIX}"
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with tmp.open("wb") as raw:
            # filename="" and mtime=0: gzip's header names no file and no time.
            with (
                gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=9, mtime=0) as gz,
                tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar,
            ):
                tar.addfile(_header(LISTING, len(listing), False), io.BytesIO(listing))
                for e in entries:
                    with (folder / e.path).open("rb") as f:
                        tar.addfile(_header(e.path, e.size, e.executable), f)
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def check_path(path: str) -> str | None:
    """Why ``path`` cannot name a file inside a package, or None."""
    if not path or "\0" in path or "\\" in path:
        return "an empty name, a NUL or a backslash"
    if path.startswith("/"):
        return "an absolute path"
    parts = path.split("/")
    if any(p in ("", ".", "..") for p in parts):
        return "'..', '.' or an empty part"
    if any(len(p.encode()) > 255 for p in parts):
        return "a part longer than 255 bytes"
    if parts[0] == LISTING:
        return "the listing's own name"
    return None


def parse_listing(data: bytes, source: str) -> tuple[str, str, list[FileEntry]]:
    """The package's listing, checked: names, sizes, digests and caps."""
    try:
        doc = json.loads(data)
        if doc.get("format") != FORMAT:
            raise PackageError(
                f"{source}: package format {doc.get('format')!r}, this kit reads {FORMAT}"
            )
        files = [
            FileEntry(
                str(f["path"]), str(f["sha256"]), int(f["size"]), bool(f.get("executable", False))
            )
            for f in doc["files"]
        ]
        name, version = str(doc["name"]), str(doc["version"])
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise PackageError(f"{source}: the listing {LISTING} is malformed: {e!r}") from None
    if len(files) > MAX_FILES:
        raise PackageError(f"{source}: {len(files)} files, over the file-count cap of {MAX_FILES}")
    seen: set[str] = set()
    total = 0
    for f in files:
        if why := check_path(f.path):
            raise PackageError(f"{source}: the file name {f.path!r} has {why}")
        if f.path in seen:
            raise PackageError(f"{source}: {f.path!r} is listed twice")
        seen.add(f.path)
        if not (0 <= f.size <= MAX_FILE_BYTES):
            raise PackageError(
                f"{source}: {f.path!r} claims {f.size} bytes, "
                f"over the per-file cap of {MAX_FILE_BYTES}"
            )
        if len(f.sha256) != 64 or any(c not in "0123456789abcdef" for c in f.sha256):
            raise PackageError(f"{source}: {f.path!r} has no SHA-256 digest")
        total += f.size
    if total > MAX_BYTES:
        raise PackageError(f"{source}: {total} bytes in all, over the size cap of {MAX_BYTES}")
    if MANIFEST_NAME not in seen:
        raise PackageError(f"{source}: no {MANIFEST_NAME} in the package")
    return name, version, files


def read_info(data: bytes, source: str | Path = "<package>") -> PackageInfo:
    """Reads the listing and the manifest of a package from its bytes, extracting nothing."""
    label = str(source)
    digest = hashlib.sha256(data).hexdigest()
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r|gz") as tar:
            first = tar.next()
            if (
                first is None
                or first.name != LISTING
                or not first.isreg()
                or first.size > MAX_LISTING_BYTES
            ):
                raise PackageError(
                    f"{label}: not a symphony package (its first member must be {LISTING})"
                )
            name, version, files = parse_listing(_read(tar, first), label)
            # next(), not iteration: a streamed TarFile's iterator starts
            # over from the members it has already passed.
            while (member := tar.next()) is not None:
                if (
                    member.name == MANIFEST_NAME
                    and member.isreg()
                    and member.size <= MAX_FILE_BYTES
                ):
                    toml = _read(tar, member)
                    break
            else:
                raise PackageError(f"{label}: no {MANIFEST_NAME} in the package")
    except PackageError:
        raise
    # tarfile and zlib raise these, besides their own, for some damaged
    # headers and streams (found by fuzzing, tests/fuzzing.py).
    except (tarfile.TarError, OSError, EOFError, zlib.error, ValueError, TypeError) as e:
        raise PackageError(f"{label}: not a readable package (truncated or damaged): {e}") from None
    try:
        manifest = parse_manifest(tomllib.loads(toml.decode("utf-8")), f"{label}:{MANIFEST_NAME}")
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise PackageError(f"{label}: its {MANIFEST_NAME} is not valid TOML: {e}") from None
    except ManifestError as e:
        raise PackageError(str(e)) from None
    if (manifest.name, manifest.version) != (name, version):
        raise PackageError(
            f"{label}: the listing says {name}@{version} but "
            f"{MANIFEST_NAME} says {manifest.name}@{manifest.version}"
        )
    return PackageInfo(
        name,
        version,
        manifest,
        tuple(files),
        digest,
        len(data),
        Path(source) if isinstance(source, Path) else None,
    )


def _read(tar: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    f: IO[bytes] | None = tar.extractfile(member)
    if f is None:
        raise PackageError(f"{member.name}: not a regular file")
    return f.read()


def read_package(path: str | Path, max_bytes: int = MAX_BYTES) -> tuple[bytes, PackageInfo]:
    """A package file's bytes and what it says of itself."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise PackageError(f"{path}: {size} bytes, over the size cap of {max_bytes}")
        data = path.read_bytes()
    except FileNotFoundError:
        raise PackageError(f"{path}: no such package") from None
    except OSError as e:
        raise PackageError(f"{path}: cannot read the package: {e}") from None
    return data, read_info(data, path)
