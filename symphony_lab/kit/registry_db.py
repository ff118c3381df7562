"""A registry's index database: SQLite (FTS5) embedded, or PostgreSQL given a DSN.

The two speak the same small interface, so the registry and its tests run
unchanged on either. Full-text search weighs a package's name over its
description over its functions' docs: BM25 with column weights in SQLite,
``ts_rank`` over weighted ``tsvector`` parts in PostgreSQL.
"""

from __future__ import annotations

import contextlib
import re
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

from symphony_lab.kit.errors import RegistryError

#: A package row, in this order.
COLUMNS = (
    "name, version, sha256, blob, size, key_id, signature, description, functions, "
    "dependencies, published"
)

_SQLITE = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS packages(
    name TEXT NOT NULL, version TEXT NOT NULL, sha256 TEXT NOT NULL, blob TEXT NOT NULL,
    size INTEGER NOT NULL, key_id TEXT NOT NULL, signature TEXT NOT NULL,
    description TEXT NOT NULL, functions TEXT NOT NULL, dependencies TEXT NOT NULL,
    published REAL NOT NULL, PRIMARY KEY (name, version));
CREATE VIRTUAL TABLE IF NOT EXISTS search USING fts5(
    name, description, functions, tokenize = 'porter unicode61');
CREATE TABLE IF NOT EXISTS tokens(
    id TEXT PRIMARY KEY, label TEXT NOT NULL, hash TEXT NOT NULL, created REAL NOT NULL);
"""

_POSTGRES = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS packages(
    name TEXT NOT NULL, version TEXT NOT NULL, sha256 TEXT NOT NULL, blob TEXT NOT NULL,
    size BIGINT NOT NULL, key_id TEXT NOT NULL, signature TEXT NOT NULL,
    description TEXT NOT NULL, functions TEXT NOT NULL, dependencies TEXT NOT NULL,
    published DOUBLE PRECISION NOT NULL, PRIMARY KEY (name, version));
CREATE TABLE IF NOT EXISTS search(name TEXT PRIMARY KEY, doc TSVECTOR NOT NULL);
CREATE INDEX IF NOT EXISTS search_doc ON search USING GIN (doc);
CREATE TABLE IF NOT EXISTS tokens(
    id TEXT PRIMARY KEY, label TEXT NOT NULL, hash TEXT NOT NULL,
    created DOUBLE PRECISION NOT NULL);
"""


def words(query: str) -> list[str]:
    """A user's query as plain words: never query syntax."""
    return re.findall(r"\w+", query.lower())


class IndexDb(Protocol):
    def transaction(self) -> contextlib.AbstractContextManager[None]: ...
    def one(self, sql: str, args: Sequence[Any] = ()) -> tuple[Any, ...] | None: ...
    def all(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...
    def run(self, sql: str, args: Sequence[Any] = ()) -> None: ...
    def set_meta(self, key: str, value: str) -> None: ...
    def set_search(self, name: str, description: str, functions: str) -> None: ...
    def search(self, query: str, limit: int) -> list[tuple[str, float]]: ...
    def close(self) -> None: ...


class SqliteDb:
    """The embedded default: ``index.sqlite`` beside the blobs, in WAL mode."""

    def __init__(self, path: Path) -> None:
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode = WAL")
        self._db.executescript(_SQLITE)
        self._lock = threading.RLock()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def one(self, sql: str, args: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        with self._lock:
            row: tuple[Any, ...] | None = self._db.execute(sql, args).fetchone()
            return row

    def all(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return list(self._db.execute(sql, args).fetchall())

    def run(self, sql: str, args: Sequence[Any] = ()) -> None:
        with self._lock:
            self._db.execute(sql, args)

    def set_meta(self, key: str, value: str) -> None:
        self.run("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    def set_search(self, name: str, description: str, functions: str) -> None:
        self.run("DELETE FROM search WHERE name = ?", (name,))
        self.run("INSERT INTO search VALUES (?, ?, ?)", (name, description, functions))

    def search(self, query: str, limit: int) -> list[tuple[str, float]]:
        terms = " AND ".join(f'"{w}"*' for w in words(query))
        if not terms:
            return []
        rows = self.all(
            "SELECT name, bm25(search, 10.0, 3.0, 1.0) AS rank FROM search "
            "WHERE search MATCH ? ORDER BY rank LIMIT ?",
            (terms, limit),
        )
        return [(str(n), -float(r)) for n, r in rows]

    def close(self) -> None:
        self._db.close()


class PostgresDb:
    """A team registry's index on PostgreSQL (``psycopg``, from the ``registry`` extra)."""

    def __init__(self, dsn: str) -> None:
        try:
            import psycopg  # optional: only a registry given a DSN needs it
        except ImportError:
            raise RegistryError(
                "a registry on PostgreSQL needs psycopg: pip install 'symphony-lab[registry]'"
            ) from None
        try:
            self._db = psycopg.connect(dsn, autocommit=True)
        except psycopg.Error as e:
            raise RegistryError(f"cannot reach the registry's PostgreSQL ({dsn}): {e}") from None
        self._lock = threading.RLock()
        self._db.execute(_POSTGRES)

    @staticmethod
    def _sql(sql: str) -> str:
        return sql.replace("?", "%s").replace("INSERT OR REPLACE INTO meta", "INSERT INTO meta")

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        with self._lock, self._db.transaction():
            yield

    def one(self, sql: str, args: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        with self._lock:
            row: tuple[Any, ...] | None = self._db.execute(self._sql(sql), args).fetchone()
            return row

    def all(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return list(self._db.execute(self._sql(sql), args).fetchall())

    def run(self, sql: str, args: Sequence[Any] = ()) -> None:
        with self._lock:
            self._db.execute(self._sql(sql), args)

    def set_meta(self, key: str, value: str) -> None:
        self.run(
            "INSERT INTO meta VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
            (key, value),
        )

    def set_search(self, name: str, description: str, functions: str) -> None:
        self.run(
            "INSERT INTO search VALUES (?, setweight(to_tsvector('english', ?), 'A') || "
            "setweight(to_tsvector('english', ?), 'B') || "
            "setweight(to_tsvector('english', ?), 'C')) "
            "ON CONFLICT (name) DO UPDATE SET doc = EXCLUDED.doc",
            (name, name.replace("-", " ").replace("_", " "), description, functions),
        )

    def search(self, query: str, limit: int) -> list[tuple[str, float]]:
        ws = words(query)
        if not ws:
            return []
        terms = " & ".join(f"{w}:*" for w in ws)
        rows = self.all(
            "SELECT name, ts_rank('{0.1, 0.3, 0.6, 1.0}', doc, q) AS rank "
            "FROM search, to_tsquery('english', ?) AS q WHERE doc @@ q "
            "ORDER BY rank DESC, name LIMIT ?",
            (terms, limit),
        )
        return [(str(n), float(r)) for n, r in rows]

    def close(self) -> None:
        self._db.close()


def open_db(folder: Path, dsn: str | None) -> IndexDb:
    return PostgresDb(dsn) if dsn else SqliteDb(folder / "index.sqlite")
