"""The nightly report's data, built from two recorded runs (report_schema.Report).

`build_report` reads the store only: this run's results and the previous one's, their recorded
dependencies (for the causes, causes.py), the run history, the claims as ingested and the model.
It never re-checks: the report reads results. The previous run is the run of the last report, so
a report covers everything since the one before it; before any report, the run just before.

The Markdown and the charts are rendered from the Report (report_render.py, charts.py), never
computed beside it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import re
from typing import TYPE_CHECKING

from . import __version__
from .causes import changed_results, recorded_threshold
from .dependencies import context
from .expr import ExprError
from .freshness import Period, Threshold
from .report_schema import (
    FORMAT_VERSION,
    MAX_ITEMS,
    Cause,
    CauseGroup,
    Change,
    Changes,
    ChartData,
    ChartFile,
    Conflict,
    ConflictSection,
    CurveClaim,
    CurveLine,
    CurvePoint,
    Failing,
    FailingSection,
    Figure,
    FlipFlop,
    FlipFlopSection,
    Forecast,
    ForecastSection,
    GoingStale,
    GoingStaleSection,
    Headline,
    MetricPoint,
    MetricSeries,
    ModelCurve,
    PageStances,
    Report,
    RunCounts,
    Stale,
    StaleSection,
)
from .schema import STATUSES

if TYPE_CHECKING:
    from .model import Model
    from .store import Store

_OPEN = 2147483647
SOON_DAYS = 30  # "going stale" and "forecasts due" look this far ahead
FLIP_WINDOW = 10  # runs a flip-flop is looked for in
FLIP_CHANGES = 2  # status changes within the window that make a claim a flip-flop
HISTORY_RUNS = 60  # runs in the status chart
MAX_METRIC_CHARTS = 12
MAX_METRIC_POINTS = 200
CURVE_POINTS = 60


def previous_run(store: Store, run_id: int) -> int | None:
    """The run a report on `run_id` compares with: the last reported run, else the one before."""
    rows = store.select("SELECT max(run_id) FROM reports WHERE run_id < ?", [run_id])
    if rows[0][0] is not None:
        return int(rows[0][0])
    rows = store.select("SELECT max(run_id) FROM runs WHERE run_id < ?", [run_id])
    return int(rows[0][0]) if rows[0][0] is not None else None


def build_report(store: Store, run_id: int, model: Model, fail_on: list[str] | None = None,
                 created: dt.datetime | None = None) -> Report:
    """The report on run `run_id` (recorded with its dependencies). `fail_on`: the failing
    statuses (default: the run's data/desk.yaml `fail_on`)."""
    ctx = context(store, run_id)
    failing = list(fail_on or (ctx.settings.get("fail_on") if ctx else None) or ["mismatch", "conflict", "error"])
    previous = previous_run(store, run_id)
    today, desk_version = store.select("SELECT today, desk_version FROM runs WHERE run_id = ?", [run_id])[0]
    previous_today = store.select("SELECT today FROM runs WHERE run_id = ?", [previous])[0][0] \
        if previous is not None else None
    tally = store.run_tally(run_id)
    before = store.run_tally(previous) if previous is not None else None
    format_errors = int(store.select("SELECT count(*) FROM problems WHERE severity = 'error'")[0][0])

    changes = changed_results(store, previous, run_id) if previous is not None else []
    newly_failing = [c for c in changes if c.new_status in failing and c.old_status not in failing]
    newly_fixed = [c for c in changes if c.old_status in failing and c.new_status not in failing]
    others = [c for c in changes if c not in newly_failing and c not in newly_fixed]
    groups = _groups("newly_failing", newly_failing) + _groups("newly_fixed", newly_fixed) + \
        _groups("other_changes", others)

    coverage = tally.checked / tally.quantitative if tally.quantitative else 0.0
    headline = Headline(
        counts=tally.counts, previous_counts=before.counts if before else None,
        deltas={s: tally.counts[s] - before.counts[s] for s in STATUSES} if before else None,
        claims=tally.claims, parameters=tally.parameters, quantitative=tally.quantitative, checked=tally.checked,
        coverage=coverage,
        previous_coverage=(before.checked / before.quantitative if before.quantitative else 0.0) if before else None)
    exit_code = 1 if format_errors or any(tally.counts.get(s, 0) for s in failing) else 0
    threshold = recorded_threshold(ctx.settings.get("stale_after") if ctx else None)
    figures = _figures(store, model, previous)
    chart_data = ChartData(status_history=_status_history(store, run_id), model_curve=_model_curve(store, model, run_id),
                           metrics=_metric_series(store, run_id))
    return Report(
        format_version=FORMAT_VERSION, claimdesk_version=__version__, run_id=run_id, previous_run_id=previous,
        today=today.isoformat(), previous_today=previous_today.isoformat() if previous_today else None,
        created=(created or dt.datetime.now(dt.UTC)).isoformat(timespec="seconds"), desk_version=desk_version,
        fail_on=failing, format_errors=format_errors, exit_code=exit_code,
        no_change=previous is not None and not changes and before is not None and before.counts == tally.counts,
        headline=headline, newly_failing=_changes(newly_failing), newly_fixed=_changes(newly_fixed),
        other_changes=_changes(others), cause_groups=groups,
        still_failing=_still_failing(store, run_id, previous, failing),
        flip_flops=_flip_flops(store, run_id), stale=_stale(store, run_id, today, threshold),
        going_stale=_going_stale(store, run_id, today, threshold), forecasts=_forecasts(store, today),
        conflicts=_conflicts(store, run_id), stances=_stances(store), model=figures,
        charts=_chart_files(chart_data), chart_data=chart_data)


# -- changes ---------------------------------------------------------------------------------
def _changes(items: list[Change]) -> Changes:
    return Changes(total=len(items), items=items[:MAX_ITEMS])


def _groups(section: str, changes: list[Change]) -> list[CauseGroup]:
    """Each change's causes, grouped: one cause with many effects is one group. Biggest first."""
    by_cause: dict[tuple[str, str], tuple[Cause, list[str]]] = {}
    for change in changes:
        for cause in change.causes:
            entry = by_cause.setdefault((cause.type, cause.text), (cause, []))
            entry[1].append(change.claim_id)
    ordered = sorted(by_cause.values(), key=lambda entry: (-len(entry[1]), entry[0].text))
    return [CauseGroup(section=section, cause=cause, claims=claims[:MAX_ITEMS])  # type: ignore[arg-type]
            for cause, claims in ordered[:MAX_ITEMS]]


# -- sections --------------------------------------------------------------------------------
def _at(run: str) -> str:
    return f"first_run <= {run} AND coalesce(last_run, {_OPEN}) >= {run}"


def _still_failing(store: Store, run_id: int, previous: int | None, failing: list[str]) -> FailingSection:
    """Claims failing in this run and the previous one, with the first run of their failing stretch."""
    if previous is None:
        return FailingSection(total=0, items=[])
    rows = store.select(f"""
        WITH now_ AS (SELECT * FROM result_versions WHERE {_at('$1')} AND status IN (SELECT path FROM failing)),
             before AS (SELECT claim_id FROM result_versions WHERE {_at('$2')} AND status IN (SELECT path FROM failing))
        SELECT claim_id, path, line, status, reason, count(*) OVER () FROM now_
        WHERE claim_id IN (SELECT claim_id FROM before)
        ORDER BY kind = 'claim', path, line, claim_id LIMIT {MAX_ITEMS}""", [run_id, previous], failing=failing)
    total = rows[0][-1] if rows else 0
    shown = [row[:-1] for row in rows]
    versions = store.select(f"""
        SELECT v.claim_id, v.first_run, coalesce(v.last_run, {_OPEN}), v.status, r.today
        FROM result_versions v JOIN runs r ON r.run_id = v.first_run
        WHERE v.claim_id IN (SELECT path FROM ids) AND v.first_run <= $1
        ORDER BY v.claim_id, v.first_run DESC""", [run_id], ids={row[0] for row in shown})
    stretches: dict[str, list[tuple[int, int, str, dt.date]]] = {}
    for claim_id, first, last, status, day in versions:
        stretches.setdefault(claim_id, []).append((first, last, status, day))
    items = []
    for claim_id, path, line, status, reason in shown:
        since_run, since_day = run_id, None
        expected = None
        for first, last, version_status, day in stretches.get(claim_id, []):
            if version_status not in failing or (expected is not None and last < expected):
                break  # a stretch that was not failing, or a gap in which the claim had no result
            since_run, since_day, expected = first, day, first - 1
        items.append(Failing(claim_id=claim_id, path=path, line=line, status=status, reason=reason,
                             since_run=since_run, since_day=since_day.isoformat() if since_day else ""))
    return FailingSection(total=total, items=items)


def _flip_flops(store: Store, run_id: int) -> FlipFlopSection:
    window = store.select("SELECT min(run_id) FROM (SELECT run_id FROM runs WHERE run_id <= ? "
                          "ORDER BY run_id DESC LIMIT ?)", [run_id, FLIP_WINDOW])[0][0]
    rows = store.select(f"""
        SELECT claim_id, arg_max(path, first_run), list(status ORDER BY first_run)
        FROM result_versions WHERE coalesce(last_run, {_OPEN}) >= $1 AND first_run <= $2
          -- a change within the window starts a version within it: only those claims can flip
          AND claim_id IN (SELECT claim_id FROM result_versions WHERE first_run > $1 AND first_run <= $2)
        GROUP BY claim_id HAVING count(*) > {FLIP_CHANGES} ORDER BY claim_id""", [window, run_id])
    found = []
    for claim_id, path, statuses in rows:
        collapsed = [s for i, s in enumerate(statuses) if i == 0 or s != statuses[i - 1]]
        if len(collapsed) - 1 >= FLIP_CHANGES:
            found.append(FlipFlop(claim_id=claim_id, path=path, status=collapsed[-1], statuses=collapsed,
                                  changes=len(collapsed) - 1))
    return FlipFlopSection(total=len(found), items=found[:MAX_ITEMS])


def _involving(status: str) -> str:
    # Each entry of `also` is "status: reason"; joined with line breaks, one starts after a break.
    return f"(status = '{status}' OR (chr(10) || array_to_string(also, chr(10))) LIKE '%' || chr(10) || '{status}:%')"


def _stale(store: Store, run_id: int, today: dt.date, threshold: Threshold | None) -> StaleSection:
    total = int(store.select(f"SELECT count(*) FROM result_versions WHERE {_at('$1')} AND {_involving('stale')}",
                             [run_id])[0][0])
    rows = store.select(f"""
        WITH shown AS (SELECT * FROM result_versions WHERE {_at('$1')} AND {_involving('stale')}
                       ORDER BY as_of_end NULLS LAST, claim_id LIMIT {MAX_ITEMS}),
        own AS (SELECT path, claim_id, stale_after_count, stale_after_period FROM claims
                WHERE claim_id IN (SELECT claim_id FROM shown)
                UNION ALL SELECT path, parameter_id, stale_after_count, stale_after_period FROM parameters)
        SELECT r.claim_id, r.path, r.line, r.as_of_written, r.as_of_start, r.as_of_end, r.status, r.reason, r.also,
               any_value(c.stale_after_count), any_value(c.stale_after_period)
        FROM shown r LEFT JOIN own c USING (path, claim_id)
        GROUP BY ALL ORDER BY r.as_of_end NULLS LAST, r.claim_id""", [run_id])
    items = []
    for claim_id, path, line, as_of, start, end, status, reason, also, count, period in rows:
        expires = _expires(start, end, as_of, count, period, threshold)
        why = reason if status == "stale" else next((a[len("stale: "):] for a in also or () if a.startswith("stale:")),
                                                    reason)
        items.append(Stale(claim_id=claim_id, path=path, line=line, as_of=as_of,
                           stale_since=expires.isoformat() if expires and expires <= today else None, reason=why))
    return StaleSection(total=total, items=items)


def _going_stale(store: Store, run_id: int, today: dt.date, threshold: Threshold | None) -> GoingStaleSection:
    """Claims not stale now that will be within SOON_DAYS: as_of crossing its threshold, or review_by passing."""
    horizon = today + dt.timedelta(days=SOON_DAYS)
    combos = store.select("SELECT DISTINCT as_of_end, stale_after_count, stale_after_period FROM claims "
                          "WHERE as_of_end IS NOT NULL UNION SELECT DISTINCT as_of_end, stale_after_count, "
                          "stale_after_period FROM parameters WHERE as_of_end IS NOT NULL")
    expiring = {}
    for end, count, period in combos:
        expires = _expires(end, end, "", count, period, threshold)
        if expires is not None and today < expires <= horizon:
            expiring[_combo_key(end, count, period)] = expires
    key = "concat_ws('|', as_of_end::VARCHAR, coalesce(stale_after_count::VARCHAR, ''), coalesce(stale_after_period, ''))"
    rows = store.select(f"""
        WITH everything AS (SELECT claim_id, path, line, as_of_written, as_of_end, review_by, stale_after_count,
                                   stale_after_period, {key} AS combo FROM claims
                            UNION ALL
                            SELECT parameter_id, path, line, as_of_written, as_of_end, review_by, stale_after_count,
                                   stale_after_period, {key} FROM parameters),
        candidates AS (SELECT * FROM everything
                       WHERE (as_of_end IN (SELECT unnest($4::DATE[])) AND combo IN (SELECT path FROM expiring))
                          OR (review_by >= $2 AND review_by < $3))
        SELECT claim_id, path, line, as_of_written, as_of_end, review_by, stale_after_count, stale_after_period, combo
        FROM candidates
        WHERE claim_id IN (SELECT claim_id FROM result_versions WHERE claim_id IN (SELECT claim_id FROM candidates)
                           AND {_at('$1')} AND NOT {_involving('stale')})""",
                        [run_id, today, horizon, sorted({dt.date.fromisoformat(k.split("|")[0]) for k in expiring})],
                        expiring=set(expiring))
    soonest = []
    for claim_id, path, line, as_of, _, review_by, count, period, combo in rows:
        dates = []
        if combo in expiring:
            dates.append((expiring[combo], "as_of"))
        if review_by is not None and today <= review_by < horizon:
            dates.append((review_by + dt.timedelta(days=1), "review_by"))
        stale_on, what = min(dates)
        soonest.append((stale_on, claim_id, path, line, as_of, what, review_by, count, period))
    soonest.sort(key=lambda entry: (entry[0], entry[1]))
    items = []
    for stale_on, claim_id, path, line, as_of, what, review_by, count, period in soonest[:MAX_ITEMS]:
        shown = recorded_threshold(f"{count} {period}") if count else threshold
        why = f"as_of {as_of} will be older than {shown}" if what == "as_of" else \
            f"review_by {review_by.isoformat()} passes"
        items.append(GoingStale(claim_id=claim_id, path=path, line=line, as_of=as_of, stale_on=stale_on.isoformat(),
                                why=why))
    return GoingStaleSection(total=len(soonest), items=items)


def _forecasts(store: Store, today: dt.date) -> ForecastSection:
    rows = store.select("SELECT claim_id, path, line, resolves FROM claims WHERE resolves IS NOT NULL AND resolves <= ? "
                        "ORDER BY resolves, claim_id", [today + dt.timedelta(days=SOON_DAYS)])
    items = [Forecast(claim_id=c, path=p, line=line, resolves=r.isoformat(), due=r <= today)
             for c, p, line, r in rows[:MAX_ITEMS]]
    return ForecastSection(total=len(rows), items=items)


def _conflicts(store: Store, run_id: int) -> ConflictSection:
    rows = store.select(f"""SELECT claim_id, path, line, status, reason, also, count(*) OVER () FROM result_versions
                            WHERE {_at('$1')} AND {_involving('conflict')} ORDER BY path, line, claim_id
                            LIMIT {MAX_ITEMS}""", [run_id])
    items = []
    for claim_id, path, line, status, reason, also, _ in rows:
        why = reason if status == "conflict" else next(a[len("conflict: "):] for a in also if a.startswith("conflict:"))
        items.append(Conflict(claim_id=claim_id, path=path, line=line, reason=why))
    return ConflictSection(total=rows[0][-1] if rows else 0, items=items)


def _stances(store: Store) -> list[PageStances]:
    rows = store.select("""
        SELECT c.path, any_value(p.title), count(*) FILTER (WHERE stance = 'bull'),
               count(*) FILTER (WHERE stance = 'bear'), count(*) FILTER (WHERE stance = 'neutral')
        FROM claims c LEFT JOIN pages p USING (path) GROUP BY c.path ORDER BY c.path LIMIT ?""", [MAX_ITEMS])
    return [PageStances(path=p, title=t, bull=b, bear=r, neutral=n) for p, t, b, r, n in rows]


def _figures(store: Store, model: Model, previous: int | None) -> list[Figure]:
    """Every model quantity at the model's values, and where the previous report had it."""
    before: dict[str, float | None] = {}
    if previous is not None:
        stored = store.select("SELECT report FROM reports WHERE run_id = ? ORDER BY created DESC LIMIT 1", [previous])
        if stored:
            before = {f["quantity_id"]: f["value"] for f in json.loads(stored[0][0]).get("model", [])}
    figures = []
    for name, quantity in model.quantities.items():
        try:
            value: float | None = model.evaluate(name)
        except ExprError:
            value = None
        if value is not None and not math.isfinite(value):
            value = None
        old = before.get(name)
        change = (value - old) / abs(old) if value is not None and old else None
        figures.append(Figure(quantity_id=name, text=quantity.quantity.text,
                              unit=str(quantity.unit), value=value, previous=old, relative_change=change))
    return figures


# -- chart data ------------------------------------------------------------------------------
def _status_history(store: Store, run_id: int) -> list[RunCounts]:
    rows = store.select(f"SELECT run_id, today, {', '.join(STATUSES)} FROM runs WHERE run_id <= ? "
                        "ORDER BY run_id DESC LIMIT ?", [run_id, HISTORY_RUNS])
    return [RunCounts(run_id=r[0], today=r[1].isoformat(), counts=dict(zip(STATUSES, r[2:]))) for r in reversed(rows)]


def _model_curve(store: Store, model: Model, run_id: int) -> ModelCurve | None:
    """The model's first table as curves along its `vary` parameter, with every claim that checks
    one of its quantities at its batch (its `given`, else the model's value)."""
    if not model.tables or not model.quantities:
        return None
    _, table = model.tables[0]
    vary = table.vary
    if vary not in model.parameters:
        return None
    shown = [q for q in table.show if q in model.quantities]
    if not shown:
        return None
    unit = str(model.unit(shown[0]))
    shown = [q for q in shown if str(model.unit(q)) == unit]
    default = model.evaluate(vary)
    rows = store.select(f"""
        SELECT c.claim_id, c.check_expr, c.given[$1], c.value_low, c.value_high, r.status
        FROM claims c LEFT JOIN (SELECT claim_id, status FROM result_versions WHERE {_at('$2')}) r USING (claim_id)
        WHERE c.check_expr IN (SELECT path FROM shown) AND c.value_kind IS NOT NULL AND c.unit = $3
        ORDER BY c.claim_id LIMIT {MAX_ITEMS}""", [vary, run_id, unit], shown=shown)
    claims = []
    for claim_id, check, given, low, high, status in rows:
        x = given if given is not None else default
        low, high = (low if low is not None else high), (high if high is not None else low)
        if x is None or low is None or not x > 0:
            continue
        claims.append(CurveClaim(claim_id=claim_id, quantity_id=check, x=x, stated_low=low, stated_high=high,
                                 status=status or "unchecked"))
    xs = [float(v) for v in table.values if v > 0] + [c.x for c in claims] + [default]
    low_x, high_x = min(xs) / 1.5, max(xs) * 1.5
    steps = [low_x * (high_x / low_x) ** (i / (CURVE_POINTS - 1)) for i in range(CURVE_POINTS)]
    lines = []
    for name in shown:
        points = []
        for x in steps:
            try:
                y = model.evaluate(name, {vary: x})
            except ExprError:
                continue
            if math.isfinite(y):
                points.append(CurvePoint(x=round(x, 9), y=round(y, 9)))
        lines.append(CurveLine(quantity_id=name, unit=unit, points=points))
    return ModelCurve(vary=vary, vary_unit=str(model.unit(vary)), default=default, lines=lines, claims=claims)


def _metric_series(store: Store, run_id: int) -> list[MetricSeries]:
    """Each metric with three or more dated values (claims of it with distinct as_of), in its most common unit."""
    rows = store.select(f"""
        WITH candidates AS (
            SELECT metric, mode(unit) AS unit, count(DISTINCT as_of_written) AS dated FROM claims
            WHERE metric IS NOT NULL AND value_kind IS NOT NULL GROUP BY metric
            HAVING count(DISTINCT as_of_written) >= 3 ORDER BY dated DESC, metric LIMIT {MAX_METRIC_CHARTS})
        SELECT c.metric, c.unit, c.claim_id, c.as_of_written, c.as_of_start, c.as_of_end, c.value_low, c.value_high,
               r.status
        FROM claims c JOIN candidates m ON m.metric = c.metric AND m.unit = c.unit
        LEFT JOIN (SELECT claim_id, status FROM result_versions WHERE {_at('$1')}) r USING (claim_id)
        WHERE c.value_kind IS NOT NULL
        ORDER BY c.metric, c.as_of_start, c.claim_id""", [run_id])
    series: dict[str, MetricSeries] = {}
    for metric, unit, claim_id, as_of, start, end, low, high, status in rows:
        low, high = (low if low is not None else high), (high if high is not None else low)
        if low is None:
            continue
        entry = series.setdefault(metric, MetricSeries(metric=metric, unit=unit, points=[]))
        if len(entry.points) < MAX_METRIC_POINTS:
            middle = start + (end - start) / 2
            entry.points.append(MetricPoint(claim_id=claim_id, as_of=as_of, day=middle.isoformat(), low=low, high=high,
                                            status=status))
    return [s for s in series.values() if len({p.as_of for p in s.points}) >= 3]


def _chart_files(data: ChartData) -> list[ChartFile]:
    files = [ChartFile(file="charts/status-history.svg", title="Statuses over the recorded runs",
                       kind="status_history")] if data.status_history else []
    if data.model_curve is not None:
        curve = data.model_curve
        files.append(ChartFile(file=f"charts/model-{_slug(curve.vary)}.svg", kind="model_curve",
                               title=f"{', '.join(line.quantity_id for line in curve.lines)} against {curve.vary}"))
    for series in data.metrics:
        files.append(ChartFile(file=f"charts/metric-{_slug(series.metric)}.svg", kind="metric", subject=series.metric,
                               title=f"{series.metric} ({series.unit}) by as_of"))
    return files


def _slug(name: str) -> str:
    """A file name for any text: safe characters only, and a hash so that two names never collide."""
    readable = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:60] or "x"
    return f"{readable}-{hashlib.blake2b(name.encode(), digest_size=3).hexdigest()}"


# -- dates -----------------------------------------------------------------------------------
def _combo_key(end: dt.date, count: int | None, period: str | None) -> str:
    return f"{end.isoformat()}|{'' if count is None else count}|{period or ''}"


def _expires(start: dt.date | None, end: dt.date | None, written: str | None, count: int | None, period: str | None,
             threshold: Threshold | None) -> dt.date | None:
    """The first stale day of a figure for the period start..end: its own threshold, else the desk's."""
    if end is None:
        return None
    if period == "never":
        return None
    own = Threshold(count, period) if count is not None and period else threshold  # type: ignore[arg-type]
    if own is None:
        return None
    return own.expires(Period(start or end, end, written or ""))


def counts_line(counts: dict[str, int]) -> str:
    return ", ".join(f"{counts.get(s, 0)} {s}" for s in STATUSES)
