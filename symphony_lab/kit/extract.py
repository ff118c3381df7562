"""Extraction that trusts nothing in the archive.

``tarfile``'s ``data`` filter is not relied on (the Python 3.11 here predates
the fixes for its known bypasses). Instead every member must be the next file
the signed listing names, a regular file of the listed size with no special
mode bits; parent folders are made here, never taken from the archive; every
write goes through folder descriptors opened with ``O_NOFOLLOW`` inside a
folder this call creates, with ``O_EXCL``, so no link (planted or raced) is
ever followed; and decompression is metered, so a small archive cannot expand
past the caps. Any refusal removes the folder it was writing.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import shutil
import tarfile
from pathlib import Path
from typing import IO

from symphony_lab.kit.errors import PackageError, UnsafePackage
from symphony_lab.kit.package import LISTING, MAX_BYTES, MAX_LISTING_BYTES, FileEntry, parse_listing

#: Bytes out per byte in, at most, once past the first MiB: text compresses
#: ten to twenty times, a decompression bomb a thousand.
MAX_RATIO = 200
_CHUNK = 2**20
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC

_KINDS = {
    tarfile.SYMTYPE: "a symbolic link",
    tarfile.LNKTYPE: "a hard link",
    tarfile.CHRTYPE: "a character device",
    tarfile.BLKTYPE: "a block device",
    tarfile.FIFOTYPE: "a FIFO",
    tarfile.DIRTYPE: "a folder entry",
    tarfile.CONTTYPE: "a contiguous file",
}


class _Meter(io.RawIOBase):
    """Counts the compressed bytes the decompressor has pulled."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw = raw
        self.count = 0

    def readable(self) -> bool:
        return True

    # io hands a memoryview; typeshed's WriteableBuffer has no slice assignment.
    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        data = self.raw.read(len(buffer))
        buffer[: len(data)] = data
        self.count += len(data)
        return len(data)


def extract(
    data: bytes, dest: str | Path, *, max_bytes: int = MAX_BYTES, max_ratio: int = MAX_RATIO
) -> list[FileEntry]:
    """Writes the package ``data`` into ``dest``, a folder that must not exist
    yet; returns the files written. Raises :class:`UnsafePackage` or
    :class:`PackageError` naming the member and the cause, and leaves no ``dest``."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.mkdir(dest, 0o755)
    except FileExistsError:
        raise PackageError(f"{dest}: the staging folder already exists") from None
    try:
        return _extract(data, dest, max_bytes, max_ratio)
    except BaseException:
        shutil.rmtree(dest, ignore_errors=True)
        raise


def _extract(data: bytes, dest: Path, max_bytes: int, max_ratio: int) -> list[FileEntry]:
    meter = _Meter(io.BytesIO(data))
    out = 0
    root = os.open(dest, _DIR_FLAGS)
    folders: dict[str, int] = {"": root}
    try:
        try:
            # Closed with the descriptors below; a streamed TarFile holds no file of its own.
            tar = tarfile.open(fileobj=io.BufferedReader(meter, _CHUNK), mode="r|gz")  # noqa: SIM115
            first = tar.next()
        except (tarfile.TarError, OSError, EOFError) as e:
            raise PackageError(f"not a readable package: {e}") from None
        if (
            first is None
            or first.name != LISTING
            or not first.isreg()
            or first.size > MAX_LISTING_BYTES
        ):
            raise UnsafePackage(f"the first member is not the listing {LISTING}")
        listed = _member(tar, first)
        _, _, files = parse_listing(listed.read(), "the package")
        expected = iter(files)
        while (member := _next(tar)) is not None:
            _check_kind(member)
            entry = next(expected, None)
            if entry is None:
                raise UnsafePackage(f"{member.name!r}: a member the listing does not name")
            _check(member, entry)
            parent, _, leaf = entry.path.rpartition("/")
            fd = os.open(
                leaf,
                _FILE_FLAGS,
                0o755 if entry.executable else 0o644,
                dir_fd=_folder(folders, parent),
            )
            digest = hashlib.sha256()
            written = 0
            with os.fdopen(fd, "wb") as f:
                src = _member(tar, member)
                while chunk := src.read(_CHUNK):
                    written += len(chunk)
                    out += len(chunk)
                    if written > entry.size or out > max_bytes:
                        raise UnsafePackage(
                            f"{entry.path!r}: more bytes than listed (over {max_bytes} in all)"
                        )
                    if out > _CHUNK and out > max_ratio * max(meter.count, 1):
                        raise UnsafePackage(
                            f"{entry.path!r}: over-compressed, {out} bytes out of {meter.count} "
                            f"(a ratio above {max_ratio})"
                        )
                    digest.update(chunk)
                    f.write(chunk)
            if written != entry.size or digest.hexdigest() != entry.sha256:
                raise UnsafePackage(f"{entry.path!r}: its bytes do not match the listing's SHA-256")
        if (missing := next(expected, None)) is not None:
            raise UnsafePackage(f"{missing.path!r}: listed but not in the archive (truncated?)")
        return files
    finally:
        for fd in folders.values():
            os.close(fd)


def _next(tar: tarfile.TarFile) -> tarfile.TarInfo | None:
    # next(), not iteration: a streamed TarFile's iterator starts over from
    # the members it has already passed.
    try:
        return tar.next()
    except (tarfile.TarError, OSError, EOFError) as e:
        raise PackageError(f"the archive is damaged or truncated: {e}") from None


def _member(tar: tarfile.TarFile, member: tarfile.TarInfo) -> IO[bytes]:
    try:
        f = tar.extractfile(member)
    except (tarfile.TarError, OSError, EOFError) as e:
        raise PackageError(f"{member.name!r}: cannot be read: {e}") from None
    if f is None:
        raise UnsafePackage(f"{member.name!r}: not a regular file")
    return f


def _check_kind(member: tarfile.TarInfo) -> None:
    if member.type in _KINDS:
        target = f" to {member.linkname!r}" if member.issym() or member.islnk() else ""
        raise UnsafePackage(
            f"{member.name!r}: {_KINDS[member.type]}{target}; a package holds only regular files"
        )
    if not member.isreg():
        raise UnsafePackage(
            f"{member.name!r}: a member of type {member.type!r}; a package holds only regular files"
        )
    if member.mode & 0o7000:
        raise UnsafePackage(
            f"{member.name!r}: a setuid, setgid or sticky bit (mode {member.mode:o})"
        )


def _check(member: tarfile.TarInfo, entry: FileEntry) -> None:
    if member.name != entry.path:
        raise UnsafePackage(
            f"{member.name!r}: not the file the listing names next ({entry.path!r})"
        )
    if member.size != entry.size:
        raise UnsafePackage(
            f"{member.name!r}: {member.size} bytes in the archive, {entry.size} in the listing"
        )


def _folder(folders: dict[str, int], path: str) -> int:
    """A descriptor of ``path`` under the root, made part by part, never through a link."""
    if path in folders:
        return folders[path]
    parent, _, leaf = path.rpartition("/")
    at = _folder(folders, parent)
    with contextlib.suppress(FileExistsError):
        os.mkdir(leaf, 0o755, dir_fd=at)
    try:
        fd = os.open(leaf, _DIR_FLAGS, dir_fd=at)
    except OSError as e:
        raise UnsafePackage(f"{path!r}: cannot be a folder here ({e.strerror})") from None
    folders[path] = fd
    return fd
