"""The ``tables`` operator: tables as Parquet artifacts, filtered and aggregated by pandas.

A table never crosses the bus: ``load`` stores it and every function takes
and returns its hash, with the row count and columns so that the caller
can plan without fetching it. Each derived table records the table it came
from as its lineage input, so ``store.lineage(hash)`` retraces a pipeline.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pandas as pd

from symphony_lab.sdk import Context, operator

KIND = "table"
MEDIA_TYPE = "application/vnd.apache.parquet"
# The groupby reductions that make sense on one column.
AGGREGATIONS = frozenset(
    {
        "count",
        "first",
        "last",
        "max",
        "mean",
        "median",
        "min",
        "nunique",
        "size",
        "std",
        "sum",
        "var",
    }
)
FORMATS = {".csv": "csv", ".tsv": "tsv", ".parquet": "parquet", ".pq": "parquet"}


class UnknownColumn(KeyError):
    """A column named in the call is not in the table; the message lists those that are."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


def _summary(digest: str, df: pd.DataFrame) -> dict[str, Any]:
    return {"hash": digest, "rows": len(df), "columns": [str(c) for c in df.columns]}


def _store(ctx: Context, df: pd.DataFrame, inputs: list[str]) -> dict[str, Any]:
    buf = io.BytesIO()
    df.to_parquet(buf, engine="pyarrow", index=False)
    digest = ctx.put(buf.getvalue(), kind=KIND, inputs=inputs, media_type=MEDIA_TYPE)
    return _summary(digest, df)


def _hash_of(table: str | dict[str, Any]) -> str:
    """A table's artifact hash, given as the hash or as the summary that
    ``load``, ``filter`` and ``aggregate`` return, so their results chain
    straight into the next call (in melodies and goal runs too)."""
    if isinstance(table, dict):
        digest = table.get("hash")
        if not isinstance(digest, str):
            raise ValueError(f"a table summary needs its 'hash'; got keys {sorted(table)}")
        return digest
    if not isinstance(table, str):
        raise TypeError(
            f"table must be an artifact hash or a table summary, got {type(table).__name__}"
        )
    return table


def _fetch(ctx: Context, table: str) -> pd.DataFrame:
    data = ctx.get(table)
    try:
        return pd.read_parquet(io.BytesIO(data), engine="pyarrow")
    except Exception as e:
        raise ValueError(f"artifact {table} is not a Parquet table: {e}") from None


def _check_columns(df: pd.DataFrame, names: list[str], table: str) -> None:
    missing = [n for n in names if n not in df.columns]
    if missing:
        raise UnknownColumn(
            f"no column {', '.join(map(repr, missing))} in table {table} "
            f"(its columns: {', '.join(map(str, df.columns))})"
        )


@operator
def load(
    path: str, format: str | None = None, sep: str | None = None, *, ctx: Context
) -> dict[str, Any]:
    """Reads a CSV/TSV or Parquet file (by suffix unless ``format`` says) and
    stores it as a Parquet table: ``{"hash", "rows", "columns"}``."""
    p = Path(path)
    if not p.is_absolute():
        raise ValueError(f"path must be an absolute path, got the relative path {path!r}")
    fmt = format or FORMATS.get(p.suffix.lower())
    if fmt not in {"csv", "tsv", "parquet"}:
        raise ValueError(
            f"{p}: cannot tell the table format from the suffix {p.suffix!r}; "
            "pass format='csv', 'tsv' or 'parquet'"
        )
    if not p.is_file():
        raise FileNotFoundError(f"{p}: no such file")
    try:
        if fmt == "parquet":
            df = pd.read_parquet(p, engine="pyarrow")
        else:
            df = pd.read_csv(p, sep=sep or ("\t" if fmt == "tsv" else ","))
    except (ValueError, OSError) as e:
        raise ValueError(f"{p}: cannot read it as {fmt}: {e}") from None
    return _store(ctx, df, [])


@operator
def filter(table: str | dict[str, Any], query: str, *, ctx: Context) -> dict[str, Any]:
    """Rows of ``table`` for which the pandas ``query`` holds, as a new table
    whose lineage input is ``table``."""
    table = _hash_of(table)
    df = _fetch(ctx, table)
    try:
        out = df.query(query, engine="python")
    except pd.errors.UndefinedVariableError as e:
        raise UnknownColumn(
            f"query {query!r} on table {table}: {e} "
            f"(its columns: {', '.join(map(str, df.columns))})"
        ) from None
    except (SyntaxError, ValueError, TypeError) as e:
        raise ValueError(f"query {query!r} on table {table} failed: {e}") from None
    return _store(ctx, out.reset_index(drop=True), [table])


@operator
def aggregate(
    table: str | dict[str, Any], group_by: list[str], aggregations: dict[str, str], *, ctx: Context
) -> dict[str, Any]:
    """One row per group of ``group_by``, with ``{column: function}`` applied
    (sum, mean, count, ...); columns keep their names."""
    if not isinstance(group_by, list) or not group_by:
        raise ValueError("group_by must be a non-empty list of column names")
    if not isinstance(aggregations, dict) or not aggregations:
        raise ValueError("aggregations must map column names to functions, e.g. {'x': 'sum'}")
    bad = {c: f for c, f in aggregations.items() if f not in AGGREGATIONS}
    if bad:
        raise ValueError(f"unknown aggregation(s) {bad}; known: {', '.join(sorted(AGGREGATIONS))}")
    table = _hash_of(table)
    df = _fetch(ctx, table)
    _check_columns(df, [*group_by, *aggregations], table)
    try:
        out = df.groupby(group_by, as_index=False, sort=True).agg(aggregations)
    except (TypeError, ValueError) as e:
        raise ValueError(f"aggregating table {table} with {aggregations} failed: {e}") from None
    return _store(ctx, out, [table])


@operator
def head(table: str | dict[str, Any], n: int = 10, *, ctx: Context) -> list[dict[str, Any]]:
    """The first ``n`` rows as JSON-like records, to look at a table."""
    df = _fetch(ctx, _hash_of(table)).head(n)
    records: list[dict[str, Any]] = json.loads(df.to_json(orient="records", date_format="iso"))
    return records
