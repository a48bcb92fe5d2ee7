"""The store's schema: its tables and views, their DDL, and migrating an older store to it.

The tables and views are documented, with example queries, in kb/guide/store.md; keep the two in
step. A store records its schema version and a hash of its DDL; an older one is migrated when a
writer opens it: the desk's tables are dropped and re-read from kb/ on the next ingest, while the
history tables are carried across column by column in the same transaction.
"""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import duckdb
import pydantic

from .freshness import Period, Threshold
from .schema import MKDOCS_PAGE_KEYS, STATUSES, Claim, Page
from .store_tables import (
    BIGINT,
    BLOB,
    BOOLEAN,
    DATE,
    DOUBLE,
    INTEGER,
    NAMES,
    NUMBERS,
    TEXTS,
    TIMESTAMP,
    VARCHAR,
    Columns,
)
from .values import Stated, Tolerance

SCHEMA_VERSION = 3  # bump when a change needs more than "re-read kb/ and copy history by column name"
STORE_MARKER = ("application", "claimdesk")  # store_meta row: this file was created by claimdesk

# -- tables ----------------------------------------------------------------------------------


def _claim_columns(id_column: str) -> Columns:
    return (("path", VARCHAR), ("position", INTEGER), ("line", INTEGER), (id_column, VARCHAR), ("text", VARCHAR),
            ("stance", VARCHAR), ("value_kind", VARCHAR), ("value_low", DOUBLE), ("value_high", DOUBLE),
            ("value_op", VARCHAR), ("value_band", DOUBLE), ("value_written", VARCHAR), ("unit", VARCHAR),
            ("tolerance_written", VARCHAR), ("tolerance_amount", DOUBLE), ("tolerance_relative", BOOLEAN),
            ("check_expr", VARCHAR), ("given", NUMBERS), ("metric", VARCHAR), ("attributed_to", VARCHAR),
            ("as_of_written", VARCHAR), ("as_of_start", DATE), ("as_of_end", DATE), ("review_by", DATE),
            ("resolves", DATE), ("stale_after_count", INTEGER), ("stale_after_period", VARCHAR), ("note", VARCHAR),
            ("id_line", INTEGER), ("check_names", TEXTS), ("given_refs", NAMES))


def _link_columns(id_column: str) -> Columns:
    return (("path", VARCHAR), ("position", INTEGER), (id_column, VARCHAR), ("rank", INTEGER), ("source_id", VARCHAR))


TABLES: dict[str, Columns] = {
    "store_meta": (("key", VARCHAR), ("value", VARCHAR)),
    "pages": (("path", VARCHAR), ("title", VARCHAR), ("summary", VARCHAR), ("tags", TEXTS),
              ("content_hash", VARCHAR), ("mtime", TIMESTAMP), ("size", BIGINT), ("body_line", INTEGER),
              ("claims", INTEGER), ("problems", INTEGER)),
    "claims": _claim_columns("claim_id"),
    "claim_sources": _link_columns("claim_id"),
    "sources": (("source_id", VARCHAR), ("line", INTEGER), ("title", VARCHAR), ("publisher", VARCHAR),
                ("author", VARCHAR), ("url", VARCHAR), ("published_written", VARCHAR), ("published_start", DATE),
                ("published_end", DATE), ("kind", VARCHAR), ("via", VARCHAR), ("note", VARCHAR)),
    "models": (("path", VARCHAR), ("content_hash", VARCHAR), ("title", VARCHAR), ("summary", VARCHAR),
               ("problems", INTEGER)),
    "parameters": _claim_columns("parameter_id"),
    "parameter_sources": _link_columns("parameter_id"),
    "quantities": (("path", VARCHAR), ("position", INTEGER), ("line", INTEGER), ("quantity_id", VARCHAR),
                   ("text", VARCHAR), ("unit", VARCHAR), ("expr", VARCHAR), ("solve_for", VARCHAR),
                   ("where_expr", VARCHAR), ("requires", VARCHAR), ("note", VARCHAR)),
    "runs": (("run_id", INTEGER), ("started", TIMESTAMP), ("finished", TIMESTAMP), ("today", DATE),
             ("desk_version", VARCHAR), ("model_fingerprint", VARCHAR), ("claims", INTEGER),
             *((status, INTEGER) for status in STATUSES)),
    # One row per stretch of consecutive runs in which a claim's result did not change (first_run to
    # last_run; last_run NULL while it is the latest run's). The view `results` gives one row per run.
    "result_versions": (("first_run", INTEGER), ("last_run", INTEGER), ("claim_id", VARCHAR), ("path", VARCHAR),
                        ("line", INTEGER),
                ("status", VARCHAR), ("reason", VARCHAR), ("also", TEXTS), ("stated", VARCHAR),
                ("recomputed", DOUBLE), ("unit", VARCHAR), ("relative_error", DOUBLE), ("depends_on", TEXTS),
                ("check_expr", VARCHAR), ("kind", VARCHAR), ("metric", VARCHAR), ("value_kind", VARCHAR),
                ("value_low", DOUBLE),
                ("value_high", DOUBLE), ("as_of_written", VARCHAR), ("as_of_start", DATE), ("as_of_end", DATE),
                ("acknowledged", TEXTS), ("verdict", VARCHAR), ("outcome", DOUBLE), ("resolved_by", VARCHAR)),
    "problems": (("path", VARCHAR), ("line", INTEGER), ("field", VARCHAR), ("message", VARCHAR),
                 ("severity", VARCHAR), ("owner_kind", VARCHAR), ("owner", VARCHAR)),
    "page_cache": (("path", VARCHAR), ("content_hash", VARCHAR), ("record", BLOB)),
    # The model's compiled quantities (model_form.py), so that a run whose model files and code did
    # not change needs no sympy: one row, keyed by the model's fingerprint and claimdesk's code.
    "model_forms": (("key", VARCHAR), ("form", VARCHAR)),
    # What each run's results depended on (dependencies.py; schema 3): the run's settings, sources,
    # model files and code, and every claim's, parameter's and quantity's own fields, stored as
    # versions like result_versions, so that a report can say why a result changed between two runs.
    "run_context": (("run_id", INTEGER), ("today", DATE), ("settings", VARCHAR), ("sources", TEXTS),
                    ("model_files", VARCHAR), ("model_fingerprint", VARCHAR), ("claimdesk_version", VARCHAR),
                    ("code_fingerprint", VARCHAR)),
    "input_versions": (("first_run", INTEGER), ("last_run", INTEGER), ("kind", VARCHAR), ("input_id", VARCHAR),
                       ("path", VARCHAR), ("line", INTEGER), ("fields", VARCHAR)),
    # The nightly reports (report.py), one per report, kept for good: `claimdesk query` and the site read them.
    "reports": (("run_id", INTEGER), ("previous_run_id", INTEGER), ("created", TIMESTAMP), ("format_version", INTEGER),
                ("exit_code", INTEGER), ("report", VARCHAR), ("markdown", VARCHAR)),
    # The charts of the latest report (charts.py), as drawn with it: the site shows them without
    # drawing them again, and a chart whose data did not change (`chart_key`) is never drawn twice.
    "report_charts": (("run_id", INTEGER), ("file", VARCHAR), ("chart_key", VARCHAR), ("svg", BLOB)),
}
RESULT_DATA: Columns = TABLES["result_versions"][2:]  # a result's own columns, as the `results` view has them
# What record_run receives from a CheckRun, before the copy of each claim is joined on.
RESULT_COLUMNS: Columns = tuple(column for column in RESULT_DATA if column[0] in (
    "claim_id", "path", "line", "status", "reason", "also", "stated", "recomputed", "unit", "relative_error",
    "depends_on", "check_expr", "kind", "acknowledged", "verdict", "outcome", "resolved_by"))
HISTORY_TABLES = ("runs", "result_versions", "run_context", "input_versions", "reports", "report_charts")  # carried across a rebuild; everything else is re-read from the desk
INTERNAL_TABLES = ("store_meta", "page_cache", "model_forms", "report_charts")  # not exported
PAGE_TABLES = ("pages", "claims", "claim_sources", "page_cache")  # rows keyed by a page's path
DATA_TABLES = ("sources", "models", "parameters", "parameter_sources", "quantities")
_OPEN = 2147483647  # last_run of a version that is the latest run's, for range joins
VIEWS: dict[str, str] = {
    "results": f"""
        SELECT runs.run_id, v.* EXCLUDE (first_run, last_run)
        FROM result_versions v JOIN runs
          ON runs.run_id >= v.first_run AND runs.run_id <= coalesce(v.last_run, {_OPEN})""",
    "latest_results": """
        WITH latest AS (SELECT max(run_id) AS run_id FROM runs)
        SELECT coalesce(v.last_run, latest.run_id) AS run_id, v.* EXCLUDE (first_run, last_run),
               runs.started, runs.today
        FROM result_versions v, latest JOIN runs ON runs.run_id = coalesce(v.last_run, latest.run_id)
        QUALIFY row_number() OVER (PARTITION BY v.claim_id ORDER BY v.first_run DESC) = 1""",
    # A claim's status can only change where one of its versions begins or ends.
    "status_changes": """
        WITH pairs AS (
            SELECT * FROM (SELECT run_id, lag(run_id) OVER (ORDER BY run_id) AS previous_run_id FROM runs)
            WHERE previous_run_id IS NOT NULL),
        began AS (SELECT p.run_id AS pair, p.previous_run_id, v.* FROM pairs p
                  JOIN result_versions v ON v.first_run = p.run_id),
        ended AS (SELECT p.run_id AS pair, p.previous_run_id, v.* FROM pairs p
                  JOIN result_versions v ON v.last_run = p.previous_run_id)
        SELECT coalesce(n.pair, b.pair) AS run_id, coalesce(n.previous_run_id, b.previous_run_id) AS previous_run_id,
               coalesce(n.claim_id, b.claim_id) AS claim_id, coalesce(n.path, b.path) AS path,
               b.status AS old_status, n.status AS new_status, b.stated AS old_stated, n.stated AS new_stated,
               b.recomputed AS old_recomputed, n.recomputed AS new_recomputed,
               coalesce(n.reason, 'the claim is gone') AS reason
        FROM began n FULL JOIN ended b ON n.pair = b.pair AND n.claim_id = b.claim_id
        WHERE n.status IS DISTINCT FROM b.status""",
}


def _ddl() -> list[str]:
    tables = [f"CREATE TABLE {name} ({', '.join(f'{col} {kind}' for col, kind in cols)})"
              for name, cols in TABLES.items()]
    return tables + [f"CREATE VIEW {name} AS {sql.strip()}" for name, sql in VIEWS.items()]


SCHEMA_HASH = hashlib.blake2b("\n".join(_ddl()).encode(), digest_size=8).hexdigest()

# A page_cache blob is only as good as the code that parsed the page: it depends on the models'
# fields (its layout) and on every rule that decides what a page parses to. Any change to those
# modules, or to pydantic, makes every blob stale, and the next ingest parses every page again.
CLAIM_FIELDS = tuple(Claim.model_fields)
PAGE_FIELDS = tuple(Page.model_fields)
PARSING_MODULES = ("kb", "frontmatter", "schema", "values", "units", "freshness", "problems", "expr")


def _cache_format() -> str:
    digest = hashlib.blake2b(repr((
        3, CLAIM_FIELDS, PAGE_FIELDS, MKDOCS_PAGE_KEYS, pydantic.VERSION,
        *(tuple(f.name for f in dataclasses.fields(kind)) for kind in (Stated, Period, Tolerance, Threshold)),
    )).encode(), digest_size=8)
    for name in PARSING_MODULES:
        source = Path(__file__).with_name(f"{name}.py")
        digest.update(source.read_bytes() if source.exists() else name.encode())
    return digest.hexdigest()


CACHE_FORMAT = _cache_format()



# -- schema ----------------------------------------------------------------------------------
def _schema_of(con: duckdb.DuckDBPyConnection) -> tuple[int | None, str | None]:
    if "store_meta" not in _relations(con):
        return None, None
    meta = dict(con.execute("SELECT key, value FROM store_meta").fetchall())
    version = meta.get("schema_version")
    return (int(version) if version and version.isdigit() else 0), meta.get("schema_hash")


def _relations(con: duckdb.DuckDBPyConnection) -> list[str]:
    return [name for (name,) in con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' "
        "AND table_catalog = current_database() ORDER BY table_type, table_name").fetchall()]


def _rebuild_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create the current schema, keeping the history tables' rows: every column the old and new
    tables share is copied by name; new columns start empty. The desk's tables start empty and
    the next ingest reads every page."""
    existing = set(_relations(con))
    views = {name for (name,) in con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' AND table_type = 'VIEW' "
        "AND table_catalog = current_database()").fetchall()}
    for view in views:
        con.execute(f"DROP VIEW {view}")
    # Stores of schema 1 kept a row per claim and run in a table `results`; it becomes versions below.
    per_run = "results" in existing and "results" not in views
    if per_run:
        con.execute("ALTER TABLE results RENAME TO old_results")
    for table in HISTORY_TABLES:
        if table in existing:
            con.execute(f"ALTER TABLE {table} RENAME TO old_{table}")
    for table in TABLES:
        if table in existing and table not in HISTORY_TABLES:
            con.execute(f"DROP TABLE {table}")
    for statement in _ddl():
        con.execute(statement)
    for table in HISTORY_TABLES:
        if table in existing:
            old = {name for (name,) in con.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = ? "
                "AND table_catalog = current_database()", [f"old_{table}"]).fetchall()}
            shared = [col for col, _ in TABLES[table] if col in old]
            if shared:
                names = ", ".join(shared)
                con.execute(f"INSERT INTO {table} ({names}) SELECT {names} FROM old_{table}")
            con.execute(f"DROP TABLE old_{table}")
    if per_run:
        _versions_from_runs(con, "old_results")
        con.execute("DROP TABLE old_results")
    _set_meta(con, schema_version=str(SCHEMA_VERSION), schema_hash=SCHEMA_HASH, **dict([STORE_MARKER]))


def _versions_from_runs(con: duckdb.DuckDBPyConnection, table: str) -> None:
    """Fold a table of one result per claim and run into result_versions: consecutive runs in which
    a claim's result is the same become one version (columns the old table lacks stay empty)."""
    old = {name for (name,) in con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = ? "
        "AND table_catalog = current_database()", [table]).fetchall()}
    data = [name for name, _ in RESULT_DATA if name in old]
    names = ", ".join(data)
    changed = " OR ".join(f"lag({name}) OVER w IS DISTINCT FROM {name}" for name in data)
    con.execute(f"""
        INSERT INTO result_versions (first_run, last_run, {names})
        WITH numbered AS (
            SELECT r.*, n.position FROM {table} r
            JOIN (SELECT run_id, row_number() OVER (ORDER BY run_id) AS position FROM runs) n USING (run_id)),
        marked AS (
            SELECT *, (lag(position) OVER w IS DISTINCT FROM position - 1 OR {changed}) AS starts
            FROM numbered WINDOW w AS (PARTITION BY claim_id ORDER BY run_id)),
        grouped AS (
            SELECT *, sum(starts::INTEGER) OVER (PARTITION BY claim_id ORDER BY run_id) AS version FROM marked)
        SELECT min(run_id), max(run_id), {", ".join(f"arg_min({name}, run_id)" for name in data)}
        FROM grouped GROUP BY claim_id, version""")
    con.execute("UPDATE result_versions SET last_run = NULL WHERE last_run = (SELECT max(run_id) FROM runs)")


def _set_meta(con: duckdb.DuckDBPyConnection, **values: str) -> None:
    for key, value in values.items():
        con.execute("DELETE FROM store_meta WHERE key = ?", [key])
        con.execute("INSERT INTO store_meta VALUES (?, ?)", [key, value])
