"""What each recorded run's results depended on, written with the run and read back to explain a change.

A result depends on: its claim's own fields; the claims and model parameters its check read
(`Result.depends_on`) and their fields; the model's quantities its check names; the claims of its
metric (conflicts); the run's day, settings, sources, model files and claimdesk's code. Each run
records all of it in two store tables (kb/guide/store.md):

- `run_context`: one row per run: the day, data/desk.yaml's settings, the source ids of
  data/sources.yaml, each model file's content hash, the model's fingerprint, claimdesk's version
  and a fingerprint of its code.
- `input_versions`: every claim's, parameter's and quantity's fields that can change a result, as
  JSON, stored as versions like `result_versions`: one row per stretch of runs in which they did not
  change, so a run over an unchanged desk writes nothing here.

`record` runs inside the run's own transaction (store.record_run's `also`), so a run and its
dependencies are stored together or not at all. `snapshot` and `context` read them back for the
cause lookup (causes.py). This module never checks a claim and never renders.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import __version__

if TYPE_CHECKING:
    from .kb import Desk
    from .model import Model
    from .store import Store

_OPEN = 2147483647  # as store._OPEN: last_run of a version that is still the latest run's

# The fields of a claim or parameter that can change its result, named as in the claim format.
_CLAIM_FIELDS = """to_json(struct_pack(
        "value" := c.value_written, "unit" := c.unit, "as_of" := c.as_of_written, "check" := c.check_expr,
        "given" := c.given, "tolerance" := c.tolerance_written,
        "stale_after" := CASE WHEN c.stale_after_period = 'never' THEN 'never'
                            WHEN c.stale_after_count IS NOT NULL
                            THEN c.stale_after_count::VARCHAR || ' ' || c.stale_after_period END,
        "review_by" := c.review_by::VARCHAR, "resolves" := c.resolves::VARCHAR, "metric" := c.metric,
        "sources" := s.sources))::VARCHAR"""
_INPUTS_SQL = f"""
    WITH claim_links AS (SELECT path, position, list(source_id ORDER BY rank) AS sources
                         FROM claim_sources GROUP BY ALL),
    parameter_links AS (SELECT path, position, list(source_id ORDER BY rank) AS sources
                        FROM parameter_sources GROUP BY ALL)
    SELECT 'claim' AS kind, c.claim_id AS input_id, c.path, any_value(c.line) AS line,
           any_value({_CLAIM_FIELDS}) AS fields
    FROM claims c LEFT JOIN claim_links s USING (path, position) {{claim_filter}} GROUP BY c.claim_id, c.path
    UNION ALL
    SELECT 'parameter', c.parameter_id, c.path, any_value(c.line), any_value({_CLAIM_FIELDS})
    FROM parameters c LEFT JOIN parameter_links s USING (path, position) GROUP BY c.parameter_id, c.path
    UNION ALL
    SELECT 'quantity', quantity_id, path, any_value(line),
           any_value(to_json(struct_pack("unit" := unit, "expr" := expr, "solve_for" := solve_for, "where" := where_expr,
                                         "requires" := requires))::VARCHAR)
    FROM quantities GROUP BY quantity_id, path"""


@dataclass(frozen=True)
class RunContext:
    """What a whole run depended on besides the pages."""

    today: dt.date
    settings: dict[str, Any]  # data/desk.yaml as read: stale_after ("12 months" or "never"), fail_on, store
    sources: tuple[str, ...]  # the ids in data/sources.yaml
    model_files: dict[str, str]  # path -> content hash
    model_fingerprint: str
    claimdesk_version: str
    code_fingerprint: str


def run_context(desk: Desk, model: Model, today: dt.date, code_fingerprint: str) -> RunContext:
    stale_after = desk.settings.stale_after
    settings = {"stale_after": str(stale_after), "fail_on": list(desk.settings.fail_on),
                "store": desk.settings.store}
    return RunContext(today, settings, tuple(sorted(desk.sources)),
                      {m.path: m.content_hash for m in desk.models}, model.fingerprint, __version__,
                      code_fingerprint)


def record(store: Store, run_id: int, context: RunContext, pages: set[str] | None = None) -> None:
    """Record run `run_id`'s dependencies; call inside its transaction, after ingest. `pages`: the
    only pages whose claims can differ from the latest versions (an incremental run's changed
    pages); None compares every claim."""
    store.select("INSERT INTO run_context VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                 [run_id, context.today, json.dumps(context.settings, sort_keys=True), list(context.sources),
                  json.dumps(context.model_files, sort_keys=True), context.model_fingerprint,
                  context.claimdesk_version, context.code_fingerprint])
    claim_filter = "" if pages is None else "WHERE c.path IN (SELECT path FROM scope)"
    in_scope = "TRUE" if pages is None else "(kind <> 'claim' OR path IN (SELECT path FROM scope))"
    lists: dict[str, set[str]] = {} if pages is None else {"scope": pages}
    # A version equal to one still open carries on; an open one with no equal ends; the rest start.
    store.select(f"""CREATE OR REPLACE TEMP TABLE new_inputs AS
                     {_INPUTS_SQL.format(claim_filter=claim_filter)}""", (), **lists)
    same = "n.kind = v.kind AND n.input_id = v.input_id AND n.path = v.path AND n.line = v.line " \
           "AND n.fields = v.fields"
    store.select(f"""CREATE OR REPLACE TEMP TABLE unchanged_inputs AS
                     SELECT n.kind, n.input_id, n.path FROM new_inputs n JOIN input_versions v
                       ON v.last_run IS NULL AND {same}""")
    kept = "EXISTS (SELECT 1 FROM unchanged_inputs u WHERE u.kind = {t}.kind AND u.input_id = {t}.input_id " \
           "AND u.path = {t}.path)"
    store.select(f"""UPDATE input_versions SET last_run = ? WHERE last_run IS NULL AND {in_scope}
                     AND NOT {kept.format(t='input_versions')}""", [run_id - 1], **lists)
    store.select(f"""INSERT INTO input_versions
                     SELECT ?, NULL, n.kind, n.input_id, n.path, n.line, n.fields FROM new_inputs n
                     WHERE NOT {kept.format(t='n')}""", [run_id])
    store.select("DROP TABLE new_inputs")
    store.select("DROP TABLE unchanged_inputs")


@dataclass(frozen=True)
class Input:
    """A claim's, parameter's or quantity's fields as a run saw them."""

    kind: str  # claim, parameter or quantity
    input_id: str
    path: str
    line: int
    fields: dict[str, Any]


def context(store: Store, run_id: int) -> RunContext | None:
    """The run's recorded context; None for a run recorded without it (by a claimdesk before schema 3)."""
    rows = store.select("SELECT today, settings, sources, model_files, model_fingerprint, claimdesk_version, "
                        "code_fingerprint FROM run_context WHERE run_id = ?", [run_id])
    if not rows:
        return None
    today, settings, sources, model_files, fingerprint, version, code = rows[0]
    return RunContext(today, json.loads(settings), tuple(sources or ()), json.loads(model_files), fingerprint or "",
                      version or "", code or "")


def snapshot(store: Store, run_id: int, ids: set[str]) -> dict[str, list[Input]]:
    """Input id -> its versions as run `run_id` saw them (an id written on two pages has two),
    for the ids in `ids`."""
    rows = store.select(f"""
        SELECT kind, input_id, path, line, fields FROM input_versions
        WHERE first_run <= ? AND coalesce(last_run, {_OPEN}) >= ? AND input_id IN (SELECT path FROM wanted_ids)
        ORDER BY kind, input_id, path""", [run_id, run_id], wanted_ids=ids)
    found: dict[str, list[Input]] = {}
    for kind, input_id, path, line, fields in rows:
        found.setdefault(input_id, []).append(Input(kind, input_id, path, line, json.loads(fields)))
    return found
