"""Why a result changed between two recorded runs: causes looked up, never guessed.

For every claim whose result differs between run A (the earlier) and run B, the recorded
dependencies of both runs (dependencies.py) are compared, and every difference that can explain
the change becomes a typed `Cause`, most specific first:

1. the claim itself: added, removed, or one of its fields edited (old → new);
2. an input its check read (a claim or model parameter in `depends_on`, or a model quantity its
   check names): edited, added, removed, or its own status changed (it went stale, say);
3. another claim of its metric edited, added or removed (for a conflict that came or went);
4. a source it cites removed from data/sources.yaml;
5. the calendar: as_of crossed the freshness threshold, review_by passed, resolves came;
6. data/desk.yaml's freshness threshold (for a claim that follows it);
7. only when nothing above applies: a model file, the settings or claimdesk's code changed;
8. and if nothing at all: "changed for no recorded reason", so that no change goes unexplained silently.

Dates are computed with freshness.py, the one place for date arithmetic. Nothing here re-checks.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .dependencies import Input, context, snapshot
from .freshness import Threshold, parse_day, parse_period
from .report_schema import Cause, Change

if TYPE_CHECKING:
    from .store import Store

_OPEN = 2147483647
FIELD_ORDER = ("value", "unit", "as_of", "check", "given", "tolerance", "stale_after", "review_by", "resolves",
               "metric", "sources")


@dataclass
class _Row:
    claim_id: str
    kind: str
    path: str
    line: int | None
    old: dict[str, Any] | None  # the result at A (None: no result)
    new: dict[str, Any] | None


def changed_results(store: Store, a: int, b: int) -> list[Change]:
    """Every claim whose result (status, stated or recomputed value, reason, other findings)
    differs between runs a and b, each with its causes."""
    columns = ("path", "line", "kind", "status", "stated", "recomputed", "unit", "reason", "also", "depends_on",
               "check_expr", "metric")
    picked = ", ".join(f"{side}.{c} AS {side}_{c}" for side in ("a", "b") for c in columns)
    differs = " OR ".join(f"a.{c} IS DISTINCT FROM b.{c}" for c in ("status", "stated", "recomputed", "reason",
                                                                    "also"))
    rows = store.select(f"""
        WITH moved AS (  -- a result that differs starts or ends a version between the runs
            SELECT claim_id FROM result_versions WHERE (first_run > $1 AND first_run <= $2)
                                                    OR (last_run >= $1 AND last_run < $2)),
        a AS (SELECT * FROM result_versions WHERE first_run <= $1 AND coalesce(last_run, {_OPEN}) >= $1
                                              AND claim_id IN (SELECT claim_id FROM moved)),
        b AS (SELECT * FROM result_versions WHERE first_run <= $2 AND coalesce(last_run, {_OPEN}) >= $2
                                              AND claim_id IN (SELECT claim_id FROM moved))
        SELECT coalesce(b.claim_id, a.claim_id) AS claim_id, {picked}
        FROM a FULL JOIN b ON a.claim_id = b.claim_id
        WHERE a.first_run IS DISTINCT FROM b.first_run AND ({differs})
        ORDER BY coalesce(b.kind, a.kind) = 'claim', coalesce(b.path, a.path), coalesce(b.line, a.line), 1""",
                        [a, b])
    found = []
    for row in rows:
        old = dict(zip(columns, row[1:1 + len(columns)])) if row[3] is not None else None
        new = dict(zip(columns, row[1 + len(columns):])) if row[1 + len(columns) + 3] is not None else None
        side = new or old
        assert side is not None
        found.append(_Row(row[0], side["kind"], side["path"], side["line"], old, new))
    found += _citing_removed_sources(store, a, b, columns, {row.claim_id for row in found})
    if not found:
        return []
    lookup = _Lookup(store, a, b, found)
    return [lookup.change(row) for row in found]


def _citing_removed_sources(store: Store, a: int, b: int, columns: tuple[str, ...], known: set[str]) -> list[_Row]:
    """Claims citing a source that was removed between the runs: a removed source is a format
    error, not a different result, but the report names the claims it leaves without a source."""
    before, after = context(store, a), context(store, b)
    if before is None or after is None:
        return []
    removed = set(before.sources) - set(after.sources)
    if not removed:
        return []
    rows = store.select(f"""
        SELECT i.input_id, i.fields, {', '.join('r.' + c for c in columns)}
        FROM input_versions i JOIN result_versions r ON r.claim_id = i.input_id AND r.path = i.path
        WHERE i.first_run <= $1 AND coalesce(i.last_run, {_OPEN}) >= $1
          AND r.first_run <= $1 AND coalesce(r.last_run, {_OPEN}) >= $1 AND i.kind IN ('claim', 'parameter')
          AND i.input_id NOT IN (SELECT path FROM known)
          AND list_has_any(from_json(i.fields->'sources', '["VARCHAR"]'), $2::VARCHAR[])
        ORDER BY r.kind = 'claim', r.path, r.line, i.input_id""", [b, sorted(removed)], known=known)
    found = []
    for claim_id, fields, *values in rows:
        if removed & set(json.loads(fields).get("sources") or ()):
            result = dict(zip(columns, values))
            found.append(_Row(claim_id, result["kind"], result["path"], result["line"], result, result))
    return found


def involves(status: str | None, also: Iterable[str] | None, wanted: str) -> bool:
    """Whether a result has the finding `wanted`, as its status or among the others (`also`)."""
    return status == wanted or any(entry.startswith(wanted + ":") for entry in also or ())


class _Lookup:
    def __init__(self, store: Store, a: int, b: int, rows: list[_Row]):
        self.a, self.b = a, b
        self.context_a, self.context_b = context(store, a), context(store, b)
        ids: set[str] = set()
        metrics: set[str] = set()
        for row in rows:
            ids.add(row.claim_id)
            for side in (row.old, row.new):
                if side:
                    ids.update(side["depends_on"] or ())
                    ids.update(_check_names(side["check_expr"]))
                    if side["metric"] and involves(side["status"], side["also"], "conflict"):
                        metrics.add(side["metric"])
        if metrics:  # every claim of those metrics in either run: its copy in result_versions names the metric
            ids.update(claim_id for (claim_id,) in store.select(f"""
                SELECT DISTINCT claim_id FROM result_versions WHERE metric IN (SELECT path FROM metrics)
                  AND ((first_run <= $1 AND coalesce(last_run, {_OPEN}) >= $1)
                       OR (first_run <= $2 AND coalesce(last_run, {_OPEN}) >= $2))""", [a, b], metrics=metrics))
        self.before = snapshot(store, a, ids)
        self.after = snapshot(store, b, ids)
        # The inputs' own results in both runs, for an input whose status changed.
        statuses = store.select(f"""
            SELECT claim_id, first_run <= $1 AND coalesce(last_run, {_OPEN}) >= $1 AS in_a,
                   first_run <= $2 AND coalesce(last_run, {_OPEN}) >= $2 AS in_b, status
            FROM result_versions WHERE claim_id IN (SELECT path FROM wanted)
              AND ((first_run <= $1 AND coalesce(last_run, {_OPEN}) >= $1)
                   OR (first_run <= $2 AND coalesce(last_run, {_OPEN}) >= $2))""", [a, b], wanted=ids)
        self.status_a = {claim_id: status for claim_id, in_a, _, status in statuses if in_a}
        self.status_b = {claim_id: status for claim_id, _, in_b, status in statuses if in_b}
        self.metric_members: dict[str, set[str]] = {}
        for snap in (self.before, self.after):
            for versions in snap.values():
                for version in versions:
                    metric = version.fields.get("metric")
                    if metric in metrics and version.kind == "claim":
                        self.metric_members.setdefault(metric, set()).add(version.input_id)

    # -- one change -------------------------------------------------------------------------
    def change(self, row: _Row) -> Change:
        old, new = row.old or {}, row.new or {}
        causes = self.causes(row) if self.context_a and self.context_b else [Cause(
            type="not_recorded", text=f"run {self.a if not self.context_a else self.b} was recorded without its "
                                      "dependencies (by an older claimdesk): the cause cannot be looked up")]
        return Change(claim_id=row.claim_id, path=row.path, line=row.line, kind=row.kind,
                      old_status=old.get("status"), new_status=new.get("status"), old_stated=old.get("stated"),
                      new_stated=new.get("stated"), old_recomputed=old.get("recomputed"),
                      new_recomputed=new.get("recomputed"), unit=new.get("unit") or old.get("unit"),
                      reason=new.get("reason") or old.get("reason") or "", causes=causes)

    def causes(self, row: _Row) -> list[Cause]:
        assert self.context_a is not None and self.context_b is not None
        mine_a = _one(self.before.get(row.claim_id), row.path)
        mine_b = _one(self.after.get(row.claim_id), row.path)
        if row.new is None:
            return [Cause(type="claim_removed", text=f"the claim was removed from {row.path}", subject=row.claim_id,
                          path=row.path)]
        if row.old is None or mine_a is None:
            return [Cause(type="claim_added", text=f"the claim was added on {row.path}", subject=row.claim_id,
                          path=row.path)]
        causes: list[Cause] = []
        if mine_b is not None:
            causes += [Cause(type="claim_edited", text=f"the {row.kind} was edited: {text}", subject=row.claim_id,
                             path=row.path, field=name, old=before, new=after)
                       for name, before, after, text in _field_changes(mine_a.fields, mine_b.fields)]
        causes += self._inputs(row)
        causes += self._metric_claims(row)
        causes += self._sources(mine_a, mine_b)
        causes += self._calendar(mine_b or mine_a, "")
        if not causes or all(c.type == "claim_edited" and c.field not in _RESULT_FIELDS for c in causes):
            causes += self._settings(mine_b or mine_a)
        if not causes:
            causes += self._whole_run()
        if not causes:
            causes.append(Cause(type="no_recorded_reason", text="changed for no recorded reason"))
        return causes

    def _inputs(self, row: _Row) -> list[Cause]:
        assert row.old is not None and row.new is not None
        names = set(row.old["depends_on"] or ()) | set(row.new["depends_on"] or ())
        names |= set(_check_names(row.old["check_expr"])) | set(_check_names(row.new["check_expr"]))
        names.discard(row.claim_id)
        causes: list[Cause] = []
        for name in sorted(names):
            before, after = _one(self.before.get(name)), _one(self.after.get(name))
            if before is None and after is None:
                continue
            if before is None or after is None:
                there = after or before
                assert there is not None
                causes.append(Cause(type="input_added" if before is None else "input_removed", text=f"{_subject(there)} was {'added' if before is None else 'removed'}",
                                    subject=name, path=there.path))
                continue
            edits = _field_changes(before.fields, after.fields)
            for field_name, old, new, text in edits:
                causes.append(Cause(type="input_changed", text=f"{_subject(after)}: {text}", subject=name,
                                    path=after.path, field=field_name, old=old, new=new))
            status_a, status_b = self.status_a.get(name), self.status_b.get(name)
            if not edits and status_a != status_b and after.kind != "quantity":
                crossed = self._calendar(after, f"{_subject(after)}: ")
                text = crossed[0].text if crossed else f"{_subject(after)} is now {status_b} (was {status_a})"
                causes.append(Cause(type="input_status", text=text, subject=name, path=after.path, field="status",
                                    old=status_a, new=status_b))
        return causes

    def _metric_claims(self, row: _Row) -> list[Cause]:
        assert row.old is not None and row.new is not None
        if not any(involves(side["status"], side["also"], "conflict") for side in (row.old, row.new)):
            return []
        causes: list[Cause] = []
        for metric in sorted({side["metric"] for side in (row.old, row.new) if side["metric"]}):
            for other in sorted(self.metric_members.get(metric, set()) - {row.claim_id}):
                before, after = _one(self.before.get(other)), _one(self.after.get(other))
                if before is not None and after is not None and before.fields.get("metric") == metric == \
                        after.fields.get("metric"):
                    for field_name, old, new, text in _field_changes(before.fields, after.fields):
                        causes.append(Cause(type="metric_claim_changed",
                                            text=f"claim {other} of the same metric {metric} ({after.path}): {text}",
                                            subject=other, path=after.path, field=field_name, old=old, new=new))
                elif (after is not None and after.fields.get("metric") == metric) != \
                        (before is not None and before.fields.get("metric") == metric):
                    there = after if after is not None else before
                    assert there is not None
                    came = after is not None and after.fields.get("metric") == metric
                    causes.append(Cause(type="metric_claim_changed",
                                        text=f"claim {other} of the same metric {metric} ({there.path}) was "
                                             f"{'added' if came else 'removed'}", subject=other, path=there.path,
                                        field="metric", old=None if came else metric, new=metric if came else None))
        return causes

    def _sources(self, mine_a: Input | None, mine_b: Input | None) -> list[Cause]:
        assert self.context_a is not None and self.context_b is not None
        mine = mine_b or mine_a
        cited = set(mine.fields.get("sources") or ()) if mine is not None else set()
        gone = cited & (set(self.context_a.sources) - set(self.context_b.sources))
        return [Cause(type="source_removed", text=f"source {source} was removed from data/sources.yaml",
                      subject=source, path="data/sources.yaml") for source in sorted(gone)]

    def _calendar(self, mine: Input | None, prefix: str) -> list[Cause]:
        """What the days between the runs did to a claim or input: its as_of went stale, its
        review_by passed, its resolves date came."""
        assert self.context_a is not None and self.context_b is not None
        if mine is None or mine.kind == "quantity":
            return []
        day_a, day_b = self.context_a.today, self.context_b.today
        if day_a == day_b:
            return []
        causes: list[Cause] = []
        fields = mine.fields
        threshold = recorded_threshold(fields.get("stale_after") or self.context_b.settings.get("stale_after"))
        if threshold is not None and fields.get("as_of"):
            try:
                expires = threshold.expires(parse_period(fields["as_of"]))
            except ValueError:
                expires = None
            if expires is not None and min(day_a, day_b) < expires <= max(day_a, day_b):
                went = "went stale" if day_b >= expires else "is fresh again (the run's day moved back)"
                causes.append(Cause(type="calendar", text=f"{prefix}as_of {fields['as_of']} {went} on "
                                                          f"{expires.isoformat()} (older than {threshold})",
                                    subject=mine.input_id, field="as_of", old=day_a.isoformat(),
                                    new=day_b.isoformat()))
        for name, passed, text in (("review_by", lambda d, today: d < today, "review_by {} passed"),
                                   ("resolves", lambda d, today: d <= today, "the forecast resolves on {}: it is due")):
            if fields.get(name):
                day = parse_day(fields[name])
                if passed(day, day_b) != passed(day, day_a):
                    causes.append(Cause(type="calendar", text=prefix + text.format(day.isoformat()),
                                        subject=mine.input_id, field=name, old=day_a.isoformat(),
                                        new=day_b.isoformat()))
        return causes

    def _settings(self, mine: Input | None) -> list[Cause]:
        """data/desk.yaml's threshold, for a claim that follows it (no stale_after of its own)."""
        assert self.context_a is not None and self.context_b is not None
        old, new = self.context_a.settings.get("stale_after"), self.context_b.settings.get("stale_after")
        if old == new or (mine is not None and mine.fields.get("stale_after")):
            return []
        return [Cause(type="settings_changed", text=f"data/desk.yaml: stale_after {old} → {new}",
                      subject="stale_after", path="data/desk.yaml", field="stale_after", old=old, new=new)]

    def _whole_run(self) -> list[Cause]:
        """What changed for the whole run, when nothing closer to the claim did."""
        a, b = self.context_a, self.context_b
        assert a is not None and b is not None
        causes = []
        for path in sorted(set(a.model_files) | set(b.model_files)):
            if a.model_files.get(path) != b.model_files.get(path):
                causes.append(Cause(type="model_changed", text=f"the model file {path} changed", subject=path,
                                    path=path))
        for key in sorted(set(a.settings) | set(b.settings)):
            if a.settings.get(key) != b.settings.get(key):
                causes.append(Cause(type="settings_changed", text=f"data/desk.yaml: {key} {_text(a.settings.get(key))}"
                                                                  f" → {_text(b.settings.get(key))}",
                                    subject=key, path="data/desk.yaml", field=key, old=_text(a.settings.get(key)),
                                    new=_text(b.settings.get(key))))
        if (a.claimdesk_version, a.code_fingerprint) != (b.claimdesk_version, b.code_fingerprint):
            causes.append(Cause(type="code_changed", text=f"claimdesk's code changed ({a.claimdesk_version} "
                                                          f"{a.code_fingerprint} → {b.claimdesk_version} "
                                                          f"{b.code_fingerprint})",
                                subject="claimdesk", old=a.code_fingerprint, new=b.code_fingerprint))
        if a.today != b.today and not causes:
            causes.append(Cause(type="calendar", text=f"the run's day moved from {a.today} to {b.today}",
                                field="today", old=a.today.isoformat(), new=b.today.isoformat()))
        return causes


# Fields whose edit can change a result; an edit to others alone leaves room for a broader cause.
_RESULT_FIELDS = set(FIELD_ORDER)


def _one(versions: list[Input] | None, path: str | None = None) -> Input | None:
    """The version of an id on `path` (any page when None): an id written twice has two."""
    if not versions:
        return None
    if path is not None:
        for version in versions:
            if version.path == path:
                return version
    return versions[0]


def _field_changes(before: dict[str, Any], after: dict[str, Any]) -> list[tuple[str, str | None, str | None, str]]:
    """(field, old, new, "field old → new") for each field that differs, in the claim format's order."""
    changes: list[tuple[str, str | None, str | None, str]] = []
    names = [n for n in FIELD_ORDER if n in before or n in after] + \
        sorted(n for n in set(before) | set(after) if n not in FIELD_ORDER)
    for name in names:
        old, new = before.get(name), after.get(name)
        if old == new:
            continue
        old_text, new_text = _text(old), _text(new)
        unit = after.get("unit") if name == "value" and before.get("unit") == after.get("unit") else None
        changes.append((name, old_text, new_text, f"{name} {old_text} → {new_text}{f' {unit}' if unit else ''}"))
    return changes


def _text(value: Any) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, list):
        return "[" + ", ".join(_text(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_text(v)}" for k, v in value.items()) + "}"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _subject(version: Input) -> str:
    if version.kind == "parameter":
        return f"model parameter {version.input_id}"
    if version.kind == "quantity":
        return f"model quantity {version.input_id}"
    return f"claim {version.input_id} ({version.path})"


def recorded_threshold(text: str | None) -> Threshold | None:
    """'12 months' or '12 month' (as recorded) back to a Threshold; None for 'never' or nothing."""
    if not text or text == "never":
        return None
    count, _, period = str(text).partition(" ")
    period = period.rstrip("s")
    if not count.isdigit() or period not in ("day", "week", "month", "year"):
        return None
    return Threshold(int(count), period)  # type: ignore[arg-type]


def _check_names(check: str | None) -> list[str]:
    from .store_rows import check_names

    return check_names(check) or []

