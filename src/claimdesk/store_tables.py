"""Rows from Python, visible to DuckDB as a named table for the length of a `with` block.

Many rows go in as an Arrow table, which DuckDB reads without a copy. A few go in as one
parameterised VALUES list into a temporary table of the same column types: those are what a
check after one edit writes, and importing pyarrow (and numpy with it) costs ~0.1 s, more than
that whole write. Once pyarrow is loaded anyway (a cold check's parse workers use it), Arrow
carries everything. Both ways give DuckDB the same rows.

The rows' values are those Arrow takes: dates as days since 1970-01-01, timestamps as
microseconds since then, maps as lists of (key, value) pairs.
"""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING, Any

import duckdb

if TYPE_CHECKING:
    import pyarrow as pa

VARCHAR, INTEGER, BIGINT, DOUBLE, BOOLEAN = "VARCHAR", "INTEGER", "BIGINT", "DOUBLE", "BOOLEAN"
DATE, TIMESTAMP, TEXTS, NUMBERS, BLOB = "DATE", "TIMESTAMP", "VARCHAR[]", "MAP(VARCHAR, DOUBLE)", "BLOB"
NAMES = "MAP(VARCHAR, VARCHAR)"
Columns = tuple[tuple[str, str], ...]
PATHS: Columns = (("path", VARCHAR),)

ARROW_FROM_CELLS = 3_000  # rows x columns from which Arrow is quicker than importing it is slow
_ROWS_PER_STATEMENT = 200  # a VALUES list's cost grows faster than its length past a few hundred rows
_DAY_ZERO = dt.date(1970, 1, 1)
_TIME_ZERO = dt.datetime(1970, 1, 1)


def arrow_type(kind: str) -> pa.DataType:
    import pyarrow as pa

    return {VARCHAR: pa.string(), INTEGER: pa.int32(), BIGINT: pa.int64(), DOUBLE: pa.float64(),
            BOOLEAN: pa.bool_(), DATE: pa.date32(), TIMESTAMP: pa.timestamp("us"), TEXTS: pa.list_(pa.string()),
            NUMBERS: pa.map_(pa.string(), pa.float64()), BLOB: pa.binary(),
            NAMES: pa.map_(pa.string(), pa.string())}[kind]


def arrow_table(columns: Columns, rows: Sequence[Sequence[Any]]) -> pa.Table:
    import pyarrow as pa

    values = [list(column) for column in zip(*rows)] if rows else [[] for _ in columns]
    return pa.table({col: pa.array(vals, arrow_type(kind)) for (col, kind), vals in zip(columns, values)})


def conversion_errors() -> tuple[type[BaseException], ...]:
    """What handing rows to DuckDB can raise besides duckdb.Error (a value too large for its column)."""
    arrow = sys.modules.get("pyarrow")
    return (OverflowError, arrow.ArrowException) if arrow is not None else (OverflowError,)


def write_errors() -> tuple[type[BaseException], ...]:
    """Everything a write to the store can fail with that is the file's, the disk's or a value's fault."""
    return (duckdb.Error, OSError, *conversion_errors())


@contextmanager
def visible(con: duckdb.DuckDBPyConnection, name: str, columns: Columns,
            rows: Sequence[Sequence[Any]] | pa.Table) -> Iterator[None]:
    """`rows` (tuples in `columns` order, or an Arrow table) as the table `name` inside the block."""
    if not isinstance(rows, Sequence) or "pyarrow" in sys.modules or len(rows) * len(columns) >= ARROW_FROM_CELLS:
        con.register(name, rows if not isinstance(rows, Sequence) else arrow_table(columns, rows))
        try:
            yield
        finally:
            con.unregister(name)
        return
    declared = ", ".join(f'"{col}" {kind}' for col, kind in columns)
    con.execute(f"CREATE OR REPLACE TEMP TABLE {name} ({declared})")
    try:
        python = [_TO_PYTHON.get(kind) for _, kind in columns]
        for start in range(0, len(rows), _ROWS_PER_STATEMENT):
            chunk = rows[start:start + _ROWS_PER_STATEMENT]
            marks = "(" + ", ".join("?" * len(columns)) + ")"
            con.execute(f"INSERT INTO {name} VALUES {', '.join([marks] * len(chunk))}",
                        [value if convert is None or value is None else convert(value)
                         for row in chunk for value, convert in zip(row, python)])
        yield
    except BaseException:
        # the statement's own error is the one to report: in a transaction DuckDB has aborted,
        # dropping the table would fail too (and the rollback removes it anyway)
        with suppress(duckdb.Error):
            con.execute(f"DROP TABLE IF EXISTS {name}")
        raise
    con.execute(f"DROP TABLE IF EXISTS {name}")


def paths_visible(con: duckdb.DuckDBPyConnection, name: str, paths: Iterable[str]) -> Any:
    """A set of paths (or ids) as the one-column table `name` (column `path`), sorted."""
    return visible(con, name, PATHS, [(path,) for path in sorted(set(paths))])


def _pairs(pairs: Iterable[tuple[str, Any]]) -> dict[str, list[Any]]:
    # DuckDB's own form of a MAP parameter: a plain dict would be read as a STRUCT, and a dict
    # whose keys happen to be "key" and "value" as a MAP of the wrong entries
    keys, values = zip(*pairs) if pairs else ((), ())
    return {"key": list(keys), "value": list(values)}


_TO_PYTHON = {
    DATE: lambda days: days if isinstance(days, dt.date) else _DAY_ZERO + dt.timedelta(days=days),
    TIMESTAMP: lambda us: us if isinstance(us, dt.datetime) else _TIME_ZERO + dt.timedelta(microseconds=us),
    NUMBERS: lambda pairs: _pairs(pairs.items() if isinstance(pairs, dict) else pairs),
    NAMES: lambda pairs: _pairs(pairs.items() if isinstance(pairs, dict) else pairs),
}
