"""The ``files`` operator: read, write and list files by absolute path.

Every path must be absolute: the extension runs in its own working folder,
so a relative path would silently mean a different file than the caller
thinks. Contents larger than a bus frame travel through the ArtifactStore
(``as_artifact=true`` on read, ``artifact=HASH`` on write), never inline.
"""

from __future__ import annotations

import mimetypes
import os
from pathlib import Path

from symphony_lab.sdk import Context, operator

# Inline results share a 16 MiB bus frame with their envelope; beyond this,
# the caller must go through the store.
MAX_INLINE_BYTES = 8 << 20


def absolute(path: object, what: str = "path") -> Path:
    """``path`` as a Path, or a ValueError that says it must be absolute."""
    if not isinstance(path, str) or not path:
        raise TypeError(f"{what} must be a non-empty string, got {type(path).__name__}")
    p = Path(path)
    if not p.is_absolute():
        raise ValueError(f"{what} must be an absolute path, got the relative path {path!r}")
    return p


@operator
def read(
    path: str,
    binary: bool = False,
    encoding: str = "utf-8",
    as_artifact: bool = False,
    kind: str = "file",
    *,
    ctx: Context,
) -> str | bytes:
    """The file's text (or bytes with ``binary``), or with ``as_artifact`` the
    hash of its bytes in the store (streamed, so any size works)."""
    p = absolute(path)
    if not p.exists():
        raise FileNotFoundError(f"{p}: no such file")
    if p.is_dir():
        raise IsADirectoryError(f"{p}: is a folder, not a file")
    if not p.is_file():  # a FIFO or a device would block or never end
        raise ValueError(f"{p}: not a regular file")
    if as_artifact:
        media_type = mimetypes.guess_type(p.name)[0] or "application/octet-stream"
        digest, _ = ctx.store.put_file(
            str(p), kind=kind, media_type=media_type, producer=ctx.extension
        )
        return digest
    size = p.stat().st_size
    if size > MAX_INLINE_BYTES:
        raise ValueError(
            f"{p}: {size} bytes is too large to return inline (limit {MAX_INLINE_BYTES}); "
            "read it with as_artifact=true"
        )
    data = p.read_bytes()
    if binary:
        return data
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as e:
        raise ValueError(
            f"{p}: not valid {encoding} text (bad byte at offset {e.start}); "
            "read it with binary=true or as_artifact=true"
        ) from None


@operator
def write(
    path: str,
    text: str | None = None,
    data: bytes | None = None,
    artifact: str | None = None,
    encoding: str = "utf-8",
    make_dirs: bool = False,
    *,
    ctx: Context,
) -> str:
    """Writes exactly one of ``text``, ``data`` or the artifact ``artifact``
    to ``path`` and returns the path. The file is replaced atomically, so a
    reader never sees half of it."""
    p = absolute(path)
    sources = (("text", text), ("data", data), ("artifact", artifact))
    given = [name for name, value in sources if value is not None]
    if len(given) != 1:
        raise ValueError(
            f"write {p}: give exactly one of text, data or artifact "
            f"(got {', '.join(given) or 'none'})"
        )
    if p.is_dir():
        raise IsADirectoryError(f"{p}: is a folder, not a file")
    if not p.parent.is_dir():
        if not make_dirs:
            raise FileNotFoundError(
                f"{p.parent}: no such folder (pass make_dirs=true to create it)"
            )
        p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(f".{p.name}.{os.getpid()}.tmp")
    try:
        if artifact is not None:
            ctx.store.get_file(artifact, str(tmp))
        elif data is not None:
            tmp.write_bytes(data)
        else:
            tmp.write_text(text or "", encoding=encoding)
        os.replace(tmp, p)
    finally:
        tmp.unlink(missing_ok=True)
    return str(p)


@operator
def glob(pattern: str, root: str, files_only: bool = False, limit: int = 10_000) -> list[str]:
    """Absolute paths under ``root`` matching ``pattern`` (``**`` recurses),
    sorted. The pattern stays inside ``root``: no absolute pattern, no ``..``
    (symbolic links under ``root`` are followed, as the shell does)."""
    r = absolute(root, "root")
    if not r.is_dir():
        raise NotADirectoryError(f"{r}: no such folder")
    if not pattern or Path(pattern).is_absolute() or ".." in Path(pattern).parts:
        raise ValueError(f"pattern {pattern!r} must be relative to root and must not contain '..'")
    found: list[str] = []
    for match in r.glob(pattern):
        if files_only and not match.is_file():
            continue
        found.append(str(match))
        if len(found) > limit:
            raise ValueError(
                f"{pattern!r} matches more than {limit} paths under {r}; "
                "narrow the pattern or raise limit"
            )
    return sorted(found)
