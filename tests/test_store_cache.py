"""The store as kb.py's page cache: a desk rebuilt from the store equals the desk parsed from files,
claim by claim and field by field, down to the types of the values and the fields that were set."""

from __future__ import annotations

import dataclasses
import datetime as dt
import importlib.util
import sys
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from claimdesk import page_cache, store_rows
from claimdesk import store as store_module
from claimdesk.kb import Desk, load_desk
from claimdesk.store import Store
from claimdesk.validate import validate_desk

from .conftest import REPO

HERE = Path(__file__).resolve().parent

EVERY_FIELD = """\
---
title: Every field
summary: A page whose claims use every field and every kind of value.
tags: [guide, every-field]
hide: [toc]
claims:
  - id: exact_claim
    text: >-
      An exact figure, written with a trailing zero that must survive.
    stance: bull
    sources: [src_a, divergent_token_economics]
    as_of: 2026-05-29
    value: 0.80
    unit: "%"
    tolerance: 0.05
    metric: every.share
    attributed_to: Someone (Somewhere)
    review_by: 2027-01-31
    stale_after: {count: 6, period: month}
    note: null
  - id: approx_claim
    text: An approximate figure checked against the model.
    stance: neutral
    sources: [divergent_token_economics]
    as_of: 2026
    value: "~2.19"
    unit: USD/Mtok
    check: cost_per_mtok
    given: {batch: 40}
    tolerance: "5%"
  - text: A range, its id not first and its sources one per line.
    id: range_claim
    stance: bear
    sources:
      - src_a
      - divergent_token_economics
    as_of: 2026-Q1
    value: [40, 60]
    unit: "%"
    stale_after: never
  - id: bound_claim
    text: A bound with the unicode operator.
    stance: bull
    sources: [src_a]
    as_of: 2025-H2
    value: "≥72"
    unit: x
    resolves: 2027-12-31
  - id: qualitative_claim
    text: A claim without a figure.
    stance: neutral
    sources: [src_a]
    as_of: 2026-05
---
# Every field
"""

WITH_PROBLEM = """\
---
title: Half broken
claims:
  - id: fine_claim
    text: This one is fine.
    stance: neutral
    sources: [src_a]
    as_of: 2026-05
    value: 3
    unit: USD bn
  - id: broken_claim
    text: This one has no stance.
    sources: [src_a]
    as_of: 2026-05
---
"""

DATE_IN_MKDOCS_KEY = """\
---
title: A page whose MkDocs key holds a date
description: 2026-05-01
claims:
  - id: dated_page_claim
    text: A claim on a page marshal cannot keep exactly.
    stance: neutral
    sources: [src_a]
    as_of: 2026
---
"""

NO_FRONT_MATTER = "# Just prose\n\nNo claims here.\n"

# Clean on its own (so it is cached), wrong for the desk: the desk-wide rules must still see it.
DESK_WIDE_MISTAKES = """\
---
title: Desk-wide mistakes
claims:
  - id: exact_claim
    text: An id another page uses already.
    stance: neutral
    sources:
      - src_a
      - no_such_source
    as_of: 2026
---
"""


def gen_desk_module() -> Any:
    spec = importlib.util.spec_from_file_location("gen_desk", HERE.parent / "scripts" / "gen_desk.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["gen_desk"] = module  # dataclasses look their module up while the file runs
    spec.loader.exec_module(module)
    return module


def assert_same_value(parsed: Any, cached: Any, where: str) -> None:
    """Equal, of the same type, all the way down (a float is not an int, a str subclass is not a str)."""
    assert type(parsed) is type(cached), f"{where}: {type(parsed).__name__} != {type(cached).__name__}"
    if isinstance(parsed, BaseModel):
        assert parsed.model_fields_set == cached.model_fields_set, f"{where}: fields set differ"
        assert parsed.__pydantic_extra__ == cached.__pydantic_extra__, where
        assert list(parsed.__dict__) == list(cached.__dict__), f"{where}: field order differs"
        for name in type(parsed).model_fields:
            assert_same_value(getattr(parsed, name), getattr(cached, name), f"{where}.{name}")
    elif dataclasses.is_dataclass(parsed):
        for f in dataclasses.fields(parsed):
            assert_same_value(getattr(parsed, f.name), getattr(cached, f.name), f"{where}.{f.name}")
    elif isinstance(parsed, (list, tuple)):
        assert len(parsed) == len(cached), where
        for i, (a, b) in enumerate(zip(parsed, cached)):
            assert_same_value(a, b, f"{where}[{i}]")
    elif isinstance(parsed, dict):
        assert list(parsed) == list(cached), where
        for key in parsed:
            assert_same_value(parsed[key], cached[key], f"{where}.{key}")
    else:
        assert parsed == cached, f"{where}: {parsed!r} != {cached!r}"
    assert parsed == cached, where


def assert_same_desk(parsed: Desk, cached: Desk) -> None:
    assert [r.path for r in parsed.pages] == [r.path for r in cached.pages]
    for a, b in zip(parsed.pages, cached.pages):
        assert (a.path, a.content_hash, a.mtime, a.body_line) == (b.path, b.content_hash, b.mtime, b.body_line)
        assert a.problems == b.problems, a.path
        assert_same_value(a.page, b.page, f"{a.path}: page")
        assert [i for i, _ in a.claims] == [i for i, _ in b.claims], a.path
        for (i, claim_a), (_, claim_b) in zip(a.claims, b.claims):
            assert_same_value(claim_a, claim_b, f"{a.path}: claims[{i}]")
    assert [(c.claim, c.path, c.line, c.field) for c in parsed.claims()] == \
        [(c.claim, c.path, c.line, c.field) for c in cached.claims()]
    assert list(parsed.references()) == list(cached.references())  # what the desk-wide rules read


@pytest.fixture
def full_desk(make_desk) -> Path:
    return make_desk({"kb/every-field.md": EVERY_FIELD, "kb/sub/half-broken.md": WITH_PROBLEM,
                      "kb/dated.md": DATE_IN_MKDOCS_KEY, "kb/prose.md": NO_FRONT_MATTER,
                      "kb/zz-mistakes.md": DESK_WIDE_MISTAKES})


def test_cached_desk_equals_parsed_desk(full_desk: Path, tmp_path: Path) -> None:
    with Store.open(tmp_path / "store.duckdb", write=True) as store:
        first = store.ingest(full_desk)
        assert first.parsed == 6 and first.reused == 0
        second = store.ingest(full_desk)
    # the clean pages come from the store; the one with a problem, the one marshal cannot keep and
    # the prose page are read again
    assert second.reused == 3 and second.parsed == 3 and second.written == 0
    assert second.desk is not None
    parsed = load_desk(full_desk)
    assert_same_desk(parsed, second.desk)
    problems = validate_desk(parsed)
    assert validate_desk(second.desk) == problems
    assert any("duplicate id 'exact_claim'" in p.message for p in problems)
    assert any("unknown source 'no_such_source'" in p.message for p in problems)


def test_bundled_desk_round_trips(tmp_path: Path) -> None:
    with Store.open(tmp_path / "store.duckdb", write=True) as store:
        store.ingest(REPO)
        again = store.ingest(REPO)
    assert again.parsed == sum(1 for r in again.desk.pages if r.problems)  # type: ignore[union-attr]
    assert again.desk is not None
    assert_same_desk(load_desk(REPO), again.desk)


def test_pages_parsed_by_workers_round_trip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Many changed pages are parsed in worker processes; what they send back must be the same."""
    desk = gen_desk_module().generate_desk(tmp_path / "desk", 40, 5, seed=3)
    (desk / "kb" / "anthropic" / "broken.md").write_text(WITH_PROBLEM, encoding="utf-8")
    monkeypatch.setattr(page_cache, "PARALLEL_MIN_PAGES", 10)
    monkeypatch.setattr(page_cache, "CHUNK_PAGES", 7)
    with Store.open(tmp_path / "store.duckdb", write=True) as store:
        cold = store.ingest(desk)
        assert cold.parsed_ahead == 40 and cold.parsed == 41
        assert cold.desk is not None
        assert_same_desk(load_desk(desk), cold.desk)
        rows = store.query("SELECT count(*) FROM claims").rows[0][0]
        warm = store.ingest(desk)
    assert rows == 201 and warm.reused == 40
    assert warm.desk is not None
    assert_same_desk(load_desk(desk), warm.desk)
    with Store.open(tmp_path / "serial.duckdb", write=True) as serial:
        monkeypatch.setattr(page_cache, "PARALLEL_MIN_PAGES", 10**9)
        serial.ingest(desk)
        assert table_rows(serial) == table_rows(Store.open(tmp_path / "store.duckdb"))


def table_rows(store: Store) -> dict[str, list[tuple[Any, ...]]]:
    out = {}
    for table in ("pages", "claims", "claim_sources"):
        rows = store.query(f"SELECT * EXCLUDE (mtime) FROM {table} ORDER BY ALL" if table == "pages"
                           else f"SELECT * FROM {table} ORDER BY ALL").rows
        out[table] = rows
    return out


def test_a_stale_blob_is_parsed_again(full_desk: Path, tmp_path: Path) -> None:
    path = tmp_path / "store.duckdb"
    with Store.open(path, write=True) as store:
        store.ingest(full_desk)
        con = store._connect()
        con.execute("UPDATE page_cache SET record = 'not a page'::BLOB WHERE path = 'kb/every-field.md'")
        again = store.ingest(full_desk)
        assert again.reused == 2 and again.written == 1  # three clean pages, one copy spoilt: written again
        mended = store.ingest(full_desk)
    assert mended.reused == 3 and again.desk is not None and mended.desk is not None
    assert_same_desk(load_desk(full_desk), again.desk)
    assert_same_desk(load_desk(full_desk), mended.desk)


def test_the_generated_desk_validates_and_is_deterministic(tmp_path: Path) -> None:
    gen = gen_desk_module()
    first = gen.generate_desk(tmp_path / "one", 60, 8, seed=7)
    second = gen.generate_desk(tmp_path / "two", 60, 8, seed=7)
    desk = load_desk(first)
    assert [p for p in validate_desk(desk) if p.severity == "error"] == []
    assert len(desk.pages) == 60 and len(desk.claims()) == 480
    kinds = {c.claim.value.kind for c in desk.claims() if c.claim.value}
    assert kinds == {"exact", "approx", "range", "bound"}
    assert any(c.claim.given for c in desk.claims()) and any(c.claim.check and "_p0" in c.claim.check
                                                             for c in desk.claims())
    for rel in ("kb/anthropic/anthropic-notes-00000.md", "data/sources.yaml"):
        assert (first / rel).read_bytes() == (second / rel).read_bytes()


def test_mtime_follows_the_file(full_desk: Path, tmp_path: Path) -> None:
    import os

    with Store.open(tmp_path / "store.duckdb", write=True) as store:
        store.ingest(full_desk)
        page = full_desk / "kb" / "every-field.md"
        os.utime(page, (1_700_000_000, 1_700_000_000))
        touched = store.ingest(full_desk)
        assert touched.written == 0 and touched.desk is not None
        record = next(r for r in touched.desk.pages if r.path == "kb/every-field.md")
        assert record.mtime == 1_700_000_000
        stored = store.query("SELECT mtime FROM pages WHERE path = 'kb/every-field.md'").rows[0][0]
    assert stored == dt.datetime(2023, 11, 14, 22, 13, 20)


def test_new_parsing_code_reads_every_page_again(full_desk: Path, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """A cached page is only as good as the code that parsed it: other code, another parse."""
    with Store.open(tmp_path / "store.duckdb", write=True) as store:
        store.ingest(full_desk)
        for module in (store_module, store_rows):  # every room that reads the format
            monkeypatch.setattr(module, "CACHE_FORMAT", "parsed by other code")
        again = store.ingest(full_desk)
        assert (again.reused, again.parsed, again.written) == (0, 6, 6)
        assert store.ingest(full_desk).reused == 3


def test_validate_and_explain_read_unchanged_pages_from_the_store(full_desk: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """read_desk (claimdesk validate, explain) takes clean unchanged pages from the store's copies
    and gives exactly the desk kb.load_desk reads; without a usable store it parses every page."""
    from claimdesk import kb
    from claimdesk.store import read_desk

    parsed_pages: list[str] = []
    load_page = kb.load_page

    def counting(rel: str, raw: bytes, mtime: float = 0.0) -> kb.PageRecord:
        parsed_pages.append(rel)
        return load_page(rel, raw, mtime)

    monkeypatch.setattr(kb, "load_page", counting)
    assert_same_desk(load_desk(full_desk), read_desk(full_desk))  # no store yet: everything parsed
    assert len(parsed_pages) == 2 * 6
    with Store.open(full_desk / "data" / "claimdesk.duckdb", write=True) as store:
        store.ingest(full_desk)
    edited = full_desk / "kb" / "every-field.md"
    edited.write_text(edited.read_text(encoding="utf-8").replace("title: Every field", "title: Edited"),
                      encoding="utf-8")
    parsed_pages.clear()
    desk = read_desk(full_desk)
    # the edited page, the one with a problem, the one marshal cannot keep and the prose page
    assert sorted(parsed_pages) == ["kb/dated.md", "kb/every-field.md", "kb/prose.md", "kb/sub/half-broken.md"]
    assert_same_desk(load_desk(full_desk), desk)
    assert validate_desk(desk) == validate_desk(load_desk(full_desk))
    with Store.open(full_desk / "data" / "claimdesk.duckdb", write=True) as writer:
        writer._connect()  # a writer holds the file: the reader does not wait for it
        parsed_pages.clear()
        assert_same_desk(load_desk(full_desk), read_desk(full_desk))
        assert len(parsed_pages) == 2 * 6
