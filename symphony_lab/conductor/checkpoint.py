"""One file per saved Conductor, written atomically and checked on load.

Layout: the magic ``SYMPHONY-CONDUCTOR\\n``, the payload's length (8 bytes,
little-endian) and SHA-256 (32 bytes), then the payload: a ``torch.save``
archive of plain data (config, versions, weights, optimiser state), read
back with ``weights_only=True`` so loading never runs pickled code.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from symphony_lab.conductor.errors import ConductorFileError

MAGIC = b"SYMPHONY-CONDUCTOR\n"
#: Bumped when the layout of the payload changes.
FORMAT_VERSION = 1
_HEADER = len(MAGIC) + 8 + 32


def write(path: str | os.PathLike[str], payload: dict[str, Any]) -> Path:
    """Writes ``payload`` to ``path`` atomically: a temporary file in the same
    folder, fsync, rename over the target, fsync of the folder. A crash
    leaves the old file or the new one, never a torn one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    torch.save({"format_version": FORMAT_VERSION, **payload}, buf)
    body = buf.getvalue()
    header = MAGIC + len(body).to_bytes(8, "little") + hashlib.sha256(body).digest()
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o644)  # mkstemp makes it private; a checkpoint is shared
        with os.fdopen(fd, "wb") as f:
            f.write(header)
            f.write(body)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)
    return path


def read(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The payload of a file ``write`` made; ``ConductorFileError`` naming
    what is wrong otherwise."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise ConductorFileError(f"{path}: cannot be read ({e.strerror or e})") from e
    if not data.startswith(MAGIC):
        raise ConductorFileError(f"{path}: not a saved Conductor (no {MAGIC[:-1].decode()} header)")
    if len(data) < _HEADER:
        raise ConductorFileError(f"{path}: truncated inside the header ({len(data)} bytes)")
    length = int.from_bytes(data[len(MAGIC) : len(MAGIC) + 8], "little")
    digest = data[len(MAGIC) + 8 : _HEADER]
    body = data[_HEADER:]
    if len(body) < length:
        raise ConductorFileError(f"{path}: truncated: {len(body)} of {length} bytes of weights")
    if len(body) > length:
        raise ConductorFileError(f"{path}: {len(body) - length} unexpected bytes after the weights")
    if hashlib.sha256(body).digest() != digest:
        raise ConductorFileError(f"{path}: corrupt: the weights do not match their SHA-256")
    try:
        payload = torch.load(io.BytesIO(body), weights_only=True)
    except Exception as e:  # torch raises several types for a bad archive
        raise ConductorFileError(f"{path}: the weights cannot be read: {e}") from e
    version = payload.get("format_version") if isinstance(payload, dict) else None
    if not isinstance(payload, dict) or version != FORMAT_VERSION:
        raise ConductorFileError(
            f"{path}: file format version {version}, this symphony-lab reads {FORMAT_VERSION}"
        )
    return payload
