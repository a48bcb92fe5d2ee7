"""Rows: pages, claims, data files and check results as the store's table rows, and writing them."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import marshal
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import duckdb

from . import kb
from .expr import ExprError, parse, refs
from .page_cache import _EPOCH, _STATED_FIELDS, _collector_paused, _page_content, _stored_fields
from .problems import Problem
from .results import Result
from .schema import given_reference
from .store_schema import (
    CACHE_FORMAT,
    CLAIM_FIELDS,
    DATA_TABLES,
    PAGE_FIELDS,
    PAGE_TABLES,
    RESULT_COLUMNS,
    RESULT_DATA,
    SCHEMA_HASH,
    TABLES,
)
from .store_tables import Columns, arrow_table, paths_visible, visible

if TYPE_CHECKING:
    import pyarrow as pa

Rows = Sequence[Sequence[Any]]


# -- rows ------------------------------------------------------------------------------------
def _result_rows(results: list[Result]) -> Rows:
    with _collector_paused():
        return [(r.claim_id, r.path, r.line, r.status, r.reason, list(r.also), r.stated, r.recomputed, r.unit,
                 r.relative_error, list(r.depends_on), r.check, r.kind, list(r.acknowledged), r.verdict, r.outcome,
                 r.resolved_by) for r in results]


def _record_results(con: duckdb.DuckDBPyConnection, run_id: int, incoming: Rows,
                    scope: Iterable[str] | None = None) -> None:
    """Make `incoming` run `run_id`'s results. A result equal to its claim's latest version extends
    that version to this run (nothing is written); any other result starts a new version, and the
    version it replaces ends with the previous run. `scope`: the claims this run decided (an
    incremental run); every other claim's latest version carries on unchanged. None: all of them
    (a full run), so the claims without a result here are gone and their versions end too."""
    # An id written twice is an error of its own; any_value keeps such a result to one row.
    _insert(con, """
        CREATE OR REPLACE TEMP TABLE new_results AS
        SELECT r.*, c.metric, c.value_kind, c.value_low, c.value_high,
               c.as_of_written, c.as_of_start, c.as_of_end
        FROM incoming r LEFT JOIN (
            SELECT path, claim_id, any_value(metric) AS metric, any_value(value_kind) AS value_kind,
                   any_value(value_low) AS value_low, any_value(value_high) AS value_high,
                   any_value(as_of_written) AS as_of_written, any_value(as_of_start) AS as_of_start,
                   any_value(as_of_end) AS as_of_end
            FROM (SELECT path, claim_id, metric, value_kind, value_low, value_high, as_of_written,
                         as_of_start, as_of_end FROM claims
                  UNION ALL
                  SELECT path, parameter_id, metric, value_kind, value_low, value_high, as_of_written,
                         as_of_start, as_of_end FROM parameters)
            WHERE claim_id IN (SELECT claim_id FROM incoming)  -- an incremental run's few, not the whole desk
            GROUP BY path, claim_id
        ) c ON c.path = r.path AND c.claim_id = r.claim_id""", RESULT_COLUMNS, incoming, always=True)
    same = " AND ".join(f"n.{name} IS NOT DISTINCT FROM v.{name}" for name, _ in RESULT_DATA)
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE unchanged AS
        SELECT n.claim_id FROM new_results n JOIN result_versions v
          ON v.claim_id = n.claim_id AND v.last_run IS NULL AND {same}""")
    ending = "last_run IS NULL AND claim_id NOT IN (SELECT claim_id FROM unchanged)"
    if scope is None:
        con.execute(f"UPDATE result_versions SET last_run = ? WHERE {ending}", [run_id - 1])
    else:
        with paths_visible(con, "scope", scope):
            con.execute(f"UPDATE result_versions SET last_run = ? WHERE {ending} "
                        "AND claim_id IN (SELECT path FROM scope UNION ALL SELECT claim_id FROM new_results)",
                        [run_id - 1])
    names = ", ".join(name for name, _ in RESULT_DATA)
    con.execute(f"INSERT INTO result_versions SELECT ? AS first_run, NULL AS last_run, {names} FROM new_results "
                "WHERE claim_id NOT IN (SELECT claim_id FROM unchanged)", [run_id])
    con.execute("DROP TABLE new_results")
    con.execute("DROP TABLE unchanged")


def _write_problems(con: duckdb.DuckDBPyConnection, problems: Sequence[tuple[str, str, Problem]]) -> None:
    rows = [(p.path, p.line, p.field, p.message, p.severity, kind, owner) for kind, owner, p in problems]
    _insert(con, "INSERT INTO problems BY NAME SELECT * FROM incoming", TABLES["problems"], rows)


def _set_base(con: duckdb.DuckDBPyConnection, run_id: int, base: dict[str, Any] | None) -> None:
    con.execute("DELETE FROM store_meta WHERE key = 'run_base'")
    if base is not None:
        con.execute("INSERT INTO store_meta VALUES ('run_base', ?)", [json.dumps(dict(base, run_id=run_id))])


def _naive_utc(started: dt.datetime | None, default: dt.datetime) -> dt.datetime:
    if started is None:
        return default
    return started.astimezone(dt.UTC).replace(tzinfo=None) if started.tzinfo else started


class _Rows:
    """Rows of the page tables, gathered page by page (a parse worker hands them back as Arrow tables)."""

    def __init__(self) -> None:
        self.rows: dict[str, list[tuple[Any, ...]]] = {table: [] for table in PAGE_TABLES}

    def add(self, path: str, content_hash: str, mtime_us: int, size: int, record: kb.PageRecord,
            content: tuple[Any, ...], blob: bytes | None) -> None:
        header, entries = content
        page = dict(zip(PAGE_FIELDS, header[0])) if header else {}
        self.rows["pages"].append((path, page.get("title"), page.get("summary"), page.get("tags"), content_hash,
                                   mtime_us, size, record.body_line, len(entries), len(record.problems)))
        claims, links = self.rows["claims"], self.rows["claim_sources"]
        for position, line, _, values, id_line, _ in entries:
            fields = dict(zip(CLAIM_FIELDS, values))
            claims.append(_claim_row(path, position, line, id_line, fields))
            links.extend((path, position, fields["id"], rank, source) for rank, source in enumerate(fields["sources"]))
        if blob is not None:
            self.rows["page_cache"].append((path, content_hash, blob))

    def tables(self) -> dict[str, pa.Table]:
        return {name: arrow_table(TABLES[name], rows) for name, rows in self.rows.items()}


def _write_pages(con: duckdb.DuckDBPyConnection, changed: list[kb.PageRecord], gone: list[str],
                 on_disk: dict[str, tuple[float, int, int]], worker_tables: list[dict[str, pa.Table]],
                 from_workers: set[str]) -> None:
    """Replace the rows of the changed pages and delete those of the pages that are gone."""
    removed = [r.path for r in changed] + gone
    if removed:
        with paths_visible(con, "removed", removed):
            for table in PAGE_TABLES:
                con.execute(f"DELETE FROM {table} WHERE path IN (SELECT path FROM removed)")
    rows = _Rows()
    for record in changed:
        if record.path in from_workers:
            continue  # a worker made its rows already
        content = _page_content(record)
        blob = None
        if not record.problems and record.page is not None:
            try:
                blob = marshal.dumps(content)
            except ValueError:  # a value marshal cannot give back exactly (a date in an MkDocs key): not cached
                blob = None
        mtime_us, size = on_disk.get(record.path, (0.0, 0, 0))[1:]
        rows.add(record.path, record.content_hash, mtime_us, size, record, content, blob)
    if not worker_tables:
        for name, table_rows in rows.rows.items():
            _insert(con, f"INSERT INTO {name} BY NAME SELECT * FROM incoming", TABLES[name], table_rows)
        return
    import pyarrow as pa  # loaded already: the workers' rows came back as Arrow tables
    import pyarrow.compute as pc  # here: importing it costs 0.15 s, and only parsing workers need it

    wanted = pa.array(sorted(from_workers & {r.path for r in changed}), pa.string())
    for name, own in rows.tables().items():
        parts = [own, *(t[name].filter(pc.is_in(t[name]["path"], value_set=wanted)) for t in worker_tables)]
        _insert(con, f"INSERT INTO {name} BY NAME SELECT * FROM incoming", TABLES[name], pa.concat_tables(parts))


def _claim_row(path: str, position: int, line: int, id_line: int, c: dict[str, Any]) -> tuple[Any, ...]:
    """A claims (or parameters) row from a claim's stored field values."""
    value = dict(zip(_STATED_FIELDS, c["value"])) if c["value"] is not None else {}
    tolerance, stale, given = c["tolerance"], c["stale_after"], c["given"]
    tol_written, tol_amount, tol_relative = tolerance if tolerance is not None else (None,) * 3
    count, period = (None, "never") if stale == "never" else (stale if stale is not None else (None, None))
    return (path, position, line, c["id"], c["text"], c["stance"], value.get("kind"), value.get("low"),
            value.get("high"), value.get("op"), value.get("band"), value.get("written"), c["unit"],
            tol_written, tol_amount, tol_relative, c["check"], _given_numbers(given),
            c["metric"], c["attributed_to"], c["as_of"][2], c["as_of"][0] - _EPOCH, c["as_of"][1] - _EPOCH,
            None if c["review_by"] is None else c["review_by"] - _EPOCH,
            None if c["resolves"] is None else c["resolves"] - _EPOCH, count, period, c["note"], id_line,
            check_names(c["check"], given), _given_names(given))


def _given_numbers(given: dict[str, float | str] | None) -> list[tuple[str, float]] | None:
    numbers = [(k, v) for k, v in given.items() if not isinstance(v, str)] if given else None
    return numbers or None


def _given_names(given: dict[str, float | str] | None) -> list[tuple[str, str]] | None:
    names = [(k, v) for k, v in given.items() if isinstance(v, str)] if given else None
    return names or None


_CHECK_NAMES: dict[str, list[str] | None] = {}


def check_names(check: str | None, given: dict[str, float | str] | None = None) -> list[str] | None:
    """The names a check expression mentions, and the figures its `given:` names, sorted: the edges
    along which a change to one claim reaches the claims whose checks use it. None without a check
    or when it cannot be read."""
    if check is None:
        return None
    if check not in _CHECK_NAMES:
        try:
            _CHECK_NAMES[check] = sorted({ref.name for ref in refs(parse(check))})
        except ExprError:
            _CHECK_NAMES[check] = None
    names = _CHECK_NAMES[check]
    referenced = {ref[0] for value in (given or {}).values()
                  if isinstance(value, str) and (ref := given_reference(value))}
    if names is None or not referenced:
        return names
    return sorted(set(names) | referenced)


def _insert(con: duckdb.DuckDBPyConnection, sql: str, columns: Columns, incoming: Rows | pa.Table,
            always: bool = False) -> None:
    """Run `sql` with `incoming` visible as the table `incoming` (skipped when it has no rows)."""
    if not len(incoming) and not always:
        return
    with visible(con, "incoming", columns, incoming):
        con.execute(sql)


def _write_data(con: duckdb.DuckDBPyConnection, desk: kb.Desk) -> None:
    """Sources and the model: small, so rewritten whole whenever one of their files changed."""
    for table in DATA_TABLES:
        con.execute(f"DELETE FROM {table}")
    rows: dict[str, list[tuple[Any, ...]]] = {table: [] for table in DATA_TABLES}
    rows["sources"] = [(key, desk.source_lines.get(key), s.title, s.publisher, s.author, s.url, s.published.written,
                        s.published.start.toordinal() - _EPOCH, s.published.end.toordinal() - _EPOCH, s.kind, s.via,
                        s.note) for key, s in desk.sources.items()]
    rows["models"] = [(m.path, m.content_hash, m.model.title if m.model else None,
                       m.model.summary if m.model else None, len(m.problems)) for m in desk.models]
    for m in desk.models:
        for i, (parameter, line, _) in enumerate(m.parameter_lines()):
            rows["parameters"].append(_claim_row(m.path, i, line, m.loaded.line_of(("parameters", i, "id")),
                                                 _stored_fields(parameter)))
            rows["parameter_sources"].extend((m.path, i, parameter.id, rank, source)
                                             for rank, source in enumerate(parameter.sources))
        for i, (q, line, _) in enumerate(m.quantity_lines()):
            rows["quantities"].append((m.path, i, line, q.id, q.text, q.unit, q.expr, q.solve_for, q.where,
                                       q.requires, q.note))
    for table, table_rows in rows.items():
        _insert(con, f"INSERT INTO {table} BY NAME SELECT * FROM incoming", TABLES[table], table_rows)


def _data_fingerprint(desk: kb.Desk) -> str:
    """Changes when data/sources.yaml or a model file changes (or the code that reads them)."""
    parts = [SCHEMA_HASH, CACHE_FORMAT, desk.sources_hash, *(f"{m.path}:{m.content_hash}" for m in desk.models)]
    return hashlib.blake2b("\n".join(parts).encode(), digest_size=8).hexdigest()
