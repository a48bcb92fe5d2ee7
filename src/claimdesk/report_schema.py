"""The nightly report's JSON format: pydantic models, from which `claimdesk schema --what report`
prints the JSON Schema. report.py fills them; report_render.py and charts.py read them. Bump
FORMAT_VERSION on any change a reader of an older report would trip over (kb/guide/report.md).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

FORMAT_VERSION = 1
MAX_ITEMS = 1000  # a section lists at most this many items (`total` counts them all)

CauseType = Literal[
    "claim_added", "claim_removed", "claim_edited", "input_changed", "input_added", "input_removed",
    "input_status", "metric_claim_changed", "source_removed", "calendar", "settings_changed", "model_changed",
    "code_changed", "not_recorded", "no_recorded_reason"]


class Item(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Cause(Item):
    """Why a result changed, looked up by comparing the two runs' recorded dependencies."""

    type: CauseType
    text: str  # the whole cause in words: "model parameter price_per_mtok: value 3 → 2.5 USD/Mtok"
    subject: str | None = None  # the claim, parameter, quantity, source, file or setting it is about
    path: str | None = None  # where the subject is written
    field: str | None = None  # the field that changed: value, unit, as_of, check, ...
    old: str | None = None
    new: str | None = None


class Change(Item):
    """A claim whose result differs between the previous run and this one."""

    claim_id: str
    path: str
    line: int | None
    kind: str  # claim or parameter
    old_status: str | None  # None: the claim is new
    new_status: str | None  # None: the claim is gone
    old_stated: str | None
    new_stated: str | None
    old_recomputed: float | None
    new_recomputed: float | None
    unit: str | None
    reason: str  # this run's reason (the previous one's for a claim that is gone)
    causes: list[Cause]  # most specific first; never empty


class CauseGroup(Item):
    """One cause and every claim of a section it explains: one line however many claims."""

    section: Literal["newly_failing", "newly_fixed", "other_changes"]
    cause: Cause
    claims: list[str]


class Changes(Item):
    total: int
    items: list[Change]


class Failing(Item):
    claim_id: str
    path: str
    line: int | None
    status: str
    reason: str
    since_run: int  # the first run of the stretch of failing runs that goes on now
    since_day: str  # that run's day (YYYY-MM-DD)


class FlipFlop(Item):
    claim_id: str
    path: str
    status: str
    statuses: list[str]  # its statuses over the window, oldest first, each once per change
    changes: int


class Stale(Item):
    claim_id: str
    path: str
    line: int | None
    as_of: str | None
    stale_since: str | None  # the day as_of crossed its threshold; None when stale for another reason
    reason: str


class GoingStale(Item):
    claim_id: str
    path: str
    line: int | None
    as_of: str | None
    stale_on: str  # the first day it will be stale
    why: str


class Forecast(Item):
    claim_id: str
    path: str
    line: int | None
    resolves: str
    due: bool  # the resolves date has come


class Conflict(Item):
    claim_id: str
    path: str
    line: int | None
    reason: str


class FailingSection(Item):
    total: int
    items: list[Failing]


class FlipFlopSection(Item):
    total: int
    items: list[FlipFlop]


class StaleSection(Item):
    total: int
    items: list[Stale]


class GoingStaleSection(Item):
    total: int
    items: list[GoingStale]


class ForecastSection(Item):
    total: int
    items: list[Forecast]


class ConflictSection(Item):
    total: int
    items: list[Conflict]


class Headline(Item):
    counts: dict[str, int]  # status -> results, every status present
    previous_counts: dict[str, int] | None
    deltas: dict[str, int] | None
    claims: int
    parameters: int
    quantitative: int
    checked: int
    coverage: float  # checked / quantitative, 0 to 1
    previous_coverage: float | None


class PageStances(Item):
    path: str
    title: str | None
    bull: int
    bear: int
    neutral: int


class Figure(Item):
    quantity_id: str
    text: str | None
    unit: str
    value: float | None  # None when it cannot be computed
    previous: float | None
    relative_change: float | None  # (value - previous) / |previous|


class ChartFile(Item):
    file: str  # relative to the report folder: charts/status-history.svg
    title: str
    kind: Literal["status_history", "model_curve", "metric"]
    subject: str | None = None  # the metric of a metric chart


class CurvePoint(Item):
    x: float
    y: float


class CurveLine(Item):
    quantity_id: str
    unit: str
    points: list[CurvePoint]


class CurveClaim(Item):
    claim_id: str
    quantity_id: str
    x: float
    stated_low: float
    stated_high: float
    status: str


class ModelCurve(Item):
    vary: str  # the parameter along the x axis (the model table's `vary`)
    vary_unit: str
    default: float  # the parameter's value in the model
    lines: list[CurveLine]
    claims: list[CurveClaim]


class MetricPoint(Item):
    claim_id: str
    as_of: str
    day: str  # the middle of the as_of period
    low: float
    high: float
    status: str | None


class MetricSeries(Item):
    metric: str
    unit: str
    points: list[MetricPoint]


class RunCounts(Item):
    run_id: int
    today: str
    counts: dict[str, int]


class ChartData(Item):
    status_history: list[RunCounts]
    model_curve: ModelCurve | None
    metrics: list[MetricSeries]


class Report(Item):
    """The nightly report: what this run found and what changed since the previous one, and why."""

    format_version: int
    claimdesk_version: str
    run_id: int
    previous_run_id: int | None  # the run compared with: the last reported run, else the run before
    today: str
    previous_today: str | None
    created: str  # UTC, ISO 8601
    desk_version: str | None
    fail_on: list[str]
    format_errors: int
    exit_code: int  # 0 or 1, as `claimdesk nightly` exits
    no_change: bool  # nothing changed since the previous run
    headline: Headline
    newly_failing: Changes
    newly_fixed: Changes
    other_changes: Changes
    cause_groups: list[CauseGroup]
    still_failing: FailingSection
    flip_flops: FlipFlopSection
    stale: StaleSection
    going_stale: GoingStaleSection
    forecasts: ForecastSection
    conflicts: ConflictSection
    stances: list[PageStances]
    model: list[Figure]
    charts: list[ChartFile]
    chart_data: ChartData


def report_schema() -> dict[str, Any]:
    document = Report.model_json_schema()
    document["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    document["$id"] = f"https://claimdesk.invalid/schema/report-{FORMAT_VERSION}.json"
    return document
