"""Rows reach DuckDB the same whether they travel as a VALUES list (few) or as an Arrow table (many)."""

from __future__ import annotations

import datetime as dt
import math
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from claimdesk import store_tables
from claimdesk.store_schema import TABLES
from claimdesk.store_tables import visible

from .conftest import write_desk

T = store_tables
COLUMNS = (("s", T.VARCHAR), ("i", T.INTEGER), ("b", T.BIGINT), ("d", T.DOUBLE), ("f", T.BOOLEAN), ("day", T.DATE),
           ("at", T.TIMESTAMP), ("texts", T.TEXTS), ("numbers", T.NUMBERS), ("names", T.NAMES), ("blob", T.BLOB))
ROWS = [
    ("plain", 1, 2**40, 1.5, True, 0, 0, ["a", "b"], [("batch", 40.0)], [("x", "claim_a")], b"\x00\xff"),
    ("", -7, -1, math.inf, False, -365, 1_764_460_800_123_456, [], [], [], b""),
    (None, None, None, None, None, None, None, None, None, None, None),
    ("nul \x00 é 💡 '\"; DROP TABLE t; --", 0, 0, -0.0, True, 20_000, 1, [""], [("key", 1.0), ("value", 2.0)],
     [("key", "value")], bytes(range(256))),
    ("nan", 2, 3, math.nan, False, dt.date(2026, 11, 30), dt.datetime(2026, 11, 30, 12, 0), ["x"] * 3,
     {"a": -1e308}, {"b": ""}, b"x"),
]


def _read(rows: list[tuple[object, ...]], arrow: bool, monkeypatch: pytest.MonkeyPatch) -> list[tuple[object, ...]]:
    monkeypatch.setattr(store_tables, "ARROW_FROM_CELLS", 0 if arrow else 10**9)
    if not arrow:  # the VALUES way is taken only while pyarrow is not loaded
        monkeypatch.delitem(sys.modules, "pyarrow", raising=False)
    con = duckdb.connect()
    declared = ", ".join(f'"{c}" {k}' for c, k in COLUMNS)
    con.execute(f"CREATE TABLE t ({declared})")
    with visible(con, "incoming", COLUMNS, rows):
        con.execute("INSERT INTO t SELECT * FROM incoming")
    assert con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'incoming'").fetchall() == [(0,)]
    return [tuple(repr(v) for v in row) for row in con.execute("SELECT * FROM t").fetchall()]


def test_both_ways_give_the_same_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    by_values = _read(ROWS, arrow=False, monkeypatch=monkeypatch)
    monkeypatch.undo()
    by_arrow = _read(ROWS, arrow=True, monkeypatch=monkeypatch)
    assert by_values == by_arrow
    assert len(by_values) == len(ROWS)
    names = by_values[3][COLUMNS.index(("names", T.NAMES))]
    assert names == repr({"key": "value"})  # a map whose key is "key" is that map, not DuckDB's own form


def test_many_rows_are_sent_in_several_statements(monkeypatch: pytest.MonkeyPatch) -> None:
    rows = [(f"id{i}", i, i, i / 3, i % 2 == 0, i, i, [str(i)], [("n", float(i))], [], b"") for i in range(450)]
    by_values = _read(rows, arrow=False, monkeypatch=monkeypatch)
    monkeypatch.undo()
    assert by_values == _read(rows, arrow=True, monkeypatch=monkeypatch)


def test_a_value_too_large_for_its_column_is_an_error_either_way(monkeypatch: pytest.MonkeyPatch) -> None:
    for arrow in (False, True):
        monkeypatch.undo()
        with pytest.raises((duckdb.Error, *store_tables.conversion_errors())):
            _read([("big", 2**40, *ROWS[0][2:])], arrow=arrow, monkeypatch=monkeypatch)


def test_the_store_columns_all_have_a_way_in() -> None:
    kinds = {kind for columns in TABLES.values() for _, kind in columns}
    assert kinds <= {kind for _, kind in COLUMNS}
    for kind in kinds:
        store_tables.arrow_type(kind)  # raises KeyError for a kind Arrow has no type for


def test_a_small_edit_is_stored_as_a_full_ingest_stores_it(tmp_path: Path) -> None:
    """After an edit written the VALUES way, the store's page tables hold what a rebuild
    (written the Arrow way) holds."""
    page = ("---\ntitle: Edited\ntags: [a, b]\nclaims:\n"
            "  - {id: given_claim, text: With givens., stance: bull, sources: [src_a], as_of: 2026-05, value: 3.5,\n"
            "     unit: USD/Mtok, check: cost_per_mtok, given: {batch: 40}, tolerance: 50%, stale_after: never,\n"
            "     metric: m.x, note: \"nul-free 'quoted' — text\"}\n---\n# Edited\n")
    root = write_desk(tmp_path / "desk", {})
    run = [sys.executable, "-c", "from claimdesk.cli import main; main()", "check", str(root)]
    subprocess.run(run, capture_output=True, cwd=root, check=False)
    (root / "kb" / "edited.md").write_text(page, encoding="utf-8")
    second = subprocess.run(run, capture_output=True, text=True, cwd=root)
    assert "incremental" in second.stderr, second.stderr
    tables = ("pages", "claims", "claim_sources", "page_cache", "problems")

    def dump() -> dict[str, list[tuple[object, ...]]]:
        con = duckdb.connect(str(root / "data" / "claimdesk.duckdb"), read_only=True)
        try:
            return {t: sorted(map(repr, con.execute(f"SELECT * EXCLUDE (mtime) FROM {t}" if t == "pages" else
                                                    f"SELECT * FROM {t}").fetchall())) for t in tables}
        finally:
            con.close()

    incremental = dump()
    assert any("given_claim" in row and "batch" in row for row in incremental["claims"])
    with_arrow = "import pyarrow; from claimdesk.cli import main; main()"  # loaded: every row goes the Arrow way
    subprocess.run([sys.executable, "-c", with_arrow, "ingest", "--rebuild", str(root)], capture_output=True,
                   cwd=root, check=True)
    assert dump() == incremental


def test_a_failing_statement_reports_its_own_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """Inside a transaction DuckDB aborts on an error; the temporary table's clean-up must not
    hide the error that aborted it."""
    monkeypatch.delitem(sys.modules, "pyarrow", raising=False)
    con = duckdb.connect()
    con.execute("CREATE TABLE t (n INTEGER)")
    con.begin()
    with pytest.raises(duckdb.ConversionException, match="out of range"):
        with visible(con, "incoming", (("n", T.BIGINT),), [(2**40,)]):
            con.execute("INSERT INTO t SELECT n FROM incoming")
    con.rollback()
    assert con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'incoming'").fetchall() == [(0,)]
