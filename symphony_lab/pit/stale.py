"""The stale manager: keeps an :class:`ArtifactStore` within its limits
without losing what must be kept, archiving before it deletes.

>>> gc = StaleManager(store, StalePolicy(max_age=30 * DAY, max_total_bytes=50 << 30),
...                   archive="s3://bucket/archive", roots=[tracker])
>>> gc.plan().to_frame()        # the dry run: a decision and its rule per artifact
>>> gc.run()                    # archive, then remove
>>> gc.restore(hash)            # bring one back
>>> gc.start(interval=3600)     # or on a background thread

Whatever is reachable through lineage from a version of a name, a pin, a
DAG root, a kept tag or training data is kept. Every other artifact goes
when a limit says so; over ``max_total_bytes`` the least valuable go first,
valued by :class:`StalePolicy`'s weights (see its docstring). The planning,
marking and removal run in the Pit (crate ``pit-stale``); an archive at a
local path is written there too, any other URL through ``fsspec``.
"""

from __future__ import annotations

import atexit
import json
import os
import re
import weakref
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from symphony_lab.pit._pit import ArtifactStore, DagTracker, StalePlan
from symphony_lab.pit._pit import StaleManager as _StaleManager

if TYPE_CHECKING:
    import fsspec
    import pandas as pd

DAY = 86_400.0

RootSource = DagTracker | str | os.PathLike[str] | Callable[[], Iterable[str]]
"""A live DAG (its tasks' payloads, objects or bytes, are searched for
artifact hashes), a DAG checkpoint file (read again at every plan), or a
callable giving hashes."""

# An artifact hash in text: 64 hex digits not part of a longer run (so
# `model_<hash>.pt` counts).
HASH_PATTERN = re.compile(r"(?<![0-9a-fA-F])[0-9a-fA-F]{64}(?![0-9a-fA-F])")


@dataclass(frozen=True)
class StalePolicy:
    """What a store may keep.

    Nothing younger than ``grace`` seconds is removed, reachable or not: its
    producer has time to name it, pin it, or put what it made from it.
    Past that, an artifact nothing keeps goes when it was last read or written more
    than ``max_age`` seconds ago; when it is older than ``access_grace`` and
    was read fewer than ``min_access_count`` times; when its quality is
    below ``min_quality``; or, while the store holds more than
    ``max_total_bytes`` stored bytes, when it is among the least valuable.

    Value, in [0, 1], is the mean of these, weighted by ``weights``
    (recency, frequency, quality, training):

    - recency ``0.5 ** (idle / half_life)``, idle being the seconds since
      the last read or write;
    - frequency ``log1p(reads) / log1p(most reads of any artifact)``;
    - quality, the artifact's score clamped to [0, 1] (0.5 without one);
    - training, 1 for training data (tagged ``training_tag``), else 0.

    ``keep_last_versions``: only the last N versions of each name are kept
    by their name (``None``: all). ``action``: what happens to what goes.
    """

    grace: float = 3600.0
    max_age: float | None = None
    min_access_count: int | None = None
    access_grace: float = DAY
    min_quality: float | None = None
    max_total_bytes: int | None = None
    preserve_training: bool = True
    training_tag: str = "training"
    keep_tags: tuple[str, ...] = ()
    keep_last_versions: int | None = None
    weights: tuple[float, float, float, float] = (0.4, 0.3, 0.2, 0.1)
    half_life: float = 7 * DAY
    action: Literal["archive", "delete"] = "archive"


class FsspecArchive:
    """An archive anywhere ``fsspec`` can write (``s3://``, ``gcs://``,
    ``memory://``, ``sftp://`` …), in the store's own layout:
    ``objects/ab/<rest>.zst|.raw`` and ``meta/ab/<rest>.json``."""

    def __init__(self, url: str, *, fs: fsspec.AbstractFileSystem | None = None) -> None:
        # fsspec and pandas load on first use: every process that touches
        # the Pit (an extension's, say) would pay for them otherwise.
        import fsspec

        if fs is None:
            fs, path = fsspec.core.url_to_fs(url)
        else:
            path = url
        self.fs = fs
        self.root = path.rstrip("/")
        self.url = url

    def _paths(self, hash_hex: str, encoding: str) -> tuple[str, str]:
        suffix = "zst" if encoding == "zstd" else "raw"
        fan, rest = hash_hex[:2], hash_hex[2:]
        return (
            f"{self.root}/objects/{fan}/{rest}.{suffix}",
            f"{self.root}/meta/{fan}/{rest}.json",
        )

    def put(self, hash_hex: str, stored: bytes, encoding: str, record: str) -> None:
        obj, meta = self._paths(hash_hex, encoding)
        # The bytes first: a record is only ever beside whole bytes.
        self.fs.pipe_file(obj, stored)
        self.fs.pipe_file(meta, record.encode())

    def get(self, hash_hex: str) -> tuple[bytes, str, str]:
        _, meta = self._paths(hash_hex, "raw")
        record = self.fs.cat_file(meta).decode()
        encoding = json.loads(record)["encoding"]
        obj, _ = self._paths(hash_hex, encoding)
        return self.fs.cat_file(obj), encoding, record

    def __repr__(self) -> str:
        return f"FsspecArchive({self.url!r})"


@dataclass(frozen=True)
class StaleReport:
    """What a run did. ``spared``: planned to go, but reached by a put, ref
    or pin during the run. ``orphans``: files no artifact named (left by
    failed puts), deleted. ``failed``: could not be archived, so kept."""

    archived: int
    deleted: int
    kept: int
    spared: int
    orphans: int
    freed_bytes: int
    seconds: float
    failed: list[tuple[str, str]] = field(default_factory=list)
    plan: StalePlan | None = None


def plan_frame(
    plan: StalePlan, decision: Literal["keep", "archive", "delete"] | None = None
) -> pd.DataFrame:
    """A plan as a table: hash, decision, rule, value, stored_size."""
    import pandas as pd  # see FsspecArchive

    return pd.DataFrame(
        plan.rows(decision), columns=["hash", "decision", "rule", "value", "stored_size"]
    )


class StaleManager:
    """Keeps ``store`` within ``policy``; see the module docstring.

    ``archive``: a local folder, or a URL ``fsspec`` can write, or a
    :class:`FsspecArchive`; needed when the policy archives (the default).
    ``roots``: live DAGs, DAG checkpoint files or callables whose artifact
    hashes are always kept.
    """

    def __init__(
        self,
        store: ArtifactStore,
        policy: StalePolicy | None = None,
        *,
        archive: str | os.PathLike[str] | FsspecArchive | None = None,
        roots: Iterable[RootSource] = (),
    ) -> None:
        self.store = store
        self.policy = policy or StalePolicy()
        self._roots: list[RootSource] = list(roots)
        archive_dir, archive_obj = _archive(archive)
        self.archive = archive_obj or archive_dir
        # The policy's fields are the compiled manager's keywords, one for one.
        self._inner = _StaleManager(
            store,
            **asdict(self.policy),
            archive_dir=archive_dir,
            archive=archive_obj,
            roots=_weak_roots(self),
        )
        # A background thread must not outlive the interpreter's teardown.
        atexit.register(_stop_at_exit, weakref.ref(self))

    def add_roots(self, source: RootSource) -> None:
        """Keeps the artifacts ``source`` names from now on."""
        self._roots.append(source)

    def _root_hashes(self) -> list[str]:
        found: set[str] = set()
        for source in self._roots:
            found.update(_hashes_of(source))
        return sorted(found)

    def plan(self) -> StalePlan:
        """The dry run: what a run now would keep, archive and delete, and why
        (``plan.rows()``, ``plan.explain(hash)``, :func:`plan_frame`)."""
        return self._inner.plan()

    def run(self) -> StaleReport:
        """Archives, then removes, what the policy lets go."""
        r = self._inner.run()
        return StaleReport(**r)

    def restore(self, hash_hex: str) -> None:
        """Puts an archived artifact back, with its metadata and lineage."""
        self._inner.restore(hash_hex)

    def start(self, interval: float) -> None:
        """Runs every ``interval`` seconds on a background thread; a tick that
        finds a run in progress (here or in another process) is skipped."""
        self._inner.start(interval)

    def stop(self) -> None:
        """Stops the background thread, after the run in progress."""
        self._inner.stop()

    @property
    def running(self) -> bool:
        return self._inner.running

    @property
    def background_runs(self) -> int:
        return self._inner.background_runs

    @property
    def background_error(self) -> str | None:
        return self._inner.background_error

    def __enter__(self) -> StaleManager:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"StaleManager({self.store!r}, {self.policy!r}, archive={self.archive!r})"


def _weak_roots(manager: StaleManager) -> Callable[[], list[str]]:
    """The manager's roots, without the Pit holding the manager alive."""
    ref = weakref.ref(manager)

    def roots() -> list[str]:
        alive = ref()
        return [] if alive is None else alive._root_hashes()

    return roots


def _stop_at_exit(ref: weakref.ref[StaleManager]) -> None:
    manager = ref()
    if manager is not None:
        manager.stop()


def _archive(
    archive: str | os.PathLike[str] | FsspecArchive | None,
) -> tuple[Path | None, FsspecArchive | None]:
    if archive is None:
        return None, None
    if isinstance(archive, FsspecArchive):
        return None, archive
    text = os.fspath(archive)
    if "://" not in text:
        return Path(text), None
    if text.startswith("file://"):
        return Path(text.removeprefix("file://")), None
    return None, FsspecArchive(text)


def _hashes_of(source: RootSource) -> Iterator[str]:
    if isinstance(source, DagTracker):
        for key in source:
            yield from _hashes_in(key)
            yield from _hashes_in(source.payload(key))
    elif isinstance(source, str | os.PathLike):
        tracker = DagTracker.load(source)
        yield from _hashes_of(tracker)
    elif callable(source):
        yield from source()
    else:
        raise TypeError(
            f"a root source is a DagTracker, a checkpoint path or a callable, got {source!r}"
        )


def _hashes_in(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield from (h.lower() for h in HASH_PATTERN.findall(value))
    elif isinstance(value, bytes | bytearray | memoryview):
        # Checkpoints hold bytes payloads (JSON, msgpack…): hashes are ASCII in them.
        yield from (h.lower() for h in HASH_PATTERN.findall(bytes(value).decode("latin-1")))
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _hashes_in(k)
            yield from _hashes_in(v)
    elif isinstance(value, list | tuple | set | frozenset):
        for v in value:
            yield from _hashes_in(v)


__all__ = [
    "DAY",
    "HASH_PATTERN",
    "FsspecArchive",
    "RootSource",
    "StaleManager",
    "StalePolicy",
    "StaleReport",
    "plan_frame",
]
