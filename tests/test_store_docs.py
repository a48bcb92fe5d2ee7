"""kb/guide/store.md: every example query runs against a real store of the bundled desk, and every
table and view the store has is documented there."""

from __future__ import annotations

import datetime as dt
import re
import shutil
from pathlib import Path

import pytest

from claimdesk.check import check_desk
from claimdesk.frontmatter import decode, load_front_matter
from claimdesk.store import Store
from claimdesk.store_schema import INTERNAL_TABLES, TABLES, VIEWS

from .conftest import REPO

GUIDE = REPO / "kb" / "guide" / "store.md"
QUERIES = re.findall(r"```sql\n(.*?)```", GUIDE.read_text(encoding="utf-8"), re.S)


@pytest.fixture(scope="module")
def bundled_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled desk with three recorded runs, the last after an edit that changes a status."""
    root = tmp_path_factory.mktemp("store-docs")
    desk = root / "desk"
    shutil.copytree(REPO / "kb", desk / "kb")
    shutil.copytree(REPO / "data", desk / "data", ignore=shutil.ignore_patterns("*.duckdb*", "*.lock"))
    path = root / "store.duckdb"
    with Store.open(path, write=True) as store:
        stats = store.ingest(desk)
        assert stats.desk is not None
        store.record_run(check_desk(stats.desk, dt.date(2026, 6, 1)), "v1")
        store.record_run(check_desk(stats.desk, dt.date.today()), "v2")
        page = desk / "kb" / "economics-of-a-token.md"
        page.write_text(page.read_text(encoding="utf-8").replace('value: "~2.19"', 'value: "~2.50"'),
                        encoding="utf-8")
        stats = store.ingest(desk)
        assert stats.desk is not None and stats.written == 1
        store.record_run(check_desk(stats.desk, dt.date.today()), "v3-dirty")
    return path


def test_the_guide_has_example_queries() -> None:
    assert len(QUERIES) >= 8


@pytest.mark.parametrize("sql", QUERIES, ids=[f"query{i}" for i in range(len(QUERIES))])
def test_every_example_query_runs(bundled_store: Path, sql: str) -> None:
    with Store.open(bundled_store) as store:
        result = store.query(sql)
    assert result.columns


def test_the_examples_find_something(bundled_store: Path) -> None:
    """Not just valid SQL: on a desk with history every query but the one about broken pages finds rows."""
    with Store.open(bundled_store) as store:
        results = [(sql, store.query(sql).rows) for sql in QUERIES]
    empty = [sql for sql, rows in results if not rows]
    assert len(empty) == 1 and "FROM pages" in empty[0]  # the bundled desk has no broken page
    edited = next(rows for sql, rows in results if sql.startswith("WITH last_two"))
    assert edited == [("batch40_cost_per_mtok", "~2.19 USD/Mtok", "~2.50 USD/Mtok", "mismatch")]
    since_yesterday = next(rows for sql, rows in results if "status_changes" in sql)
    assert ("batch40_cost_per_mtok", "ok", "mismatch") in [(r[2], r[4], r[5]) for r in since_yesterday]


def test_every_table_and_view_is_documented() -> None:
    text = GUIDE.read_text(encoding="utf-8")
    for name in [*TABLES, *VIEWS]:
        assert f"`{name}`" in text or f"### {name}" in text or f" {name}," in text, f"{name} is not in {GUIDE.name}"
    for table, columns in TABLES.items():
        if table in INTERNAL_TABLES:
            continue
        for column, _ in columns:
            assert f"`{column}`" in text or f"{column}," in text, f"{table}.{column} is not in {GUIDE.name}"


def test_the_guide_is_a_page_without_claims() -> None:
    text, _ = decode(GUIDE.read_bytes(), "store.md")
    assert text is not None
    loaded, _ = load_front_matter(text, "store.md")
    assert loaded is not None and set(loaded.data) == {"title", "summary"}
