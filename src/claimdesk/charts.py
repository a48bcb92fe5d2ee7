"""The nightly report's charts as SVG files, drawn with matplotlib from the Report's chart data.

Charts are deterministic: the same data gives the same bytes (no date in the file, a fixed hash
salt for the ids matplotlib puts in SVG, text kept as text, a fixed style), so that a report's
diff shows only real change; and a chart whose data did not change is not drawn again
(`chart_keys`). Nothing here reads the store or the desk: only the Report.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
from collections.abc import Collection
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .report_schema import ChartData, MetricSeries, ModelCurve, Report, RunCounts
from .schema import STATUSES

if TYPE_CHECKING:
    from matplotlib.figure import Figure

# One colour per status, most severe first (colour-blind safe where it matters: error and ok).
COLOURS = {"error": "#b2182b", "mismatch": "#ef8a62", "conflict": "#8856a7", "stale": "#999999",
           "due": "#2b8cbe", "ok": "#1a9850", "unchecked": "#d9d9d9"}
_STYLE: dict[str, Any] = {"svg.hashsalt": "claimdesk", "svg.fonttype": "none", "font.family": "DejaVu Sans", "font.size": 9,
                          "text.parse_math": False,  # no text is read as TeX
          "axes.spines.top": False, "axes.spines.right": False, "figure.dpi": 100}


def chart_keys(report: Report) -> dict[str, str]:
    """Chart file -> a key of everything its bytes depend on (its data, this module, matplotlib's
    version): a chart whose key is unchanged need not be drawn again."""
    import importlib.metadata

    base = hashlib.blake2b(Path(__file__).read_bytes() + importlib.metadata.version("matplotlib").encode(),
                           digest_size=8).hexdigest()
    data = report.chart_data
    keys = {}
    for chart in report.charts:
        if chart.kind == "status_history":
            part: Any = [run.model_dump() for run in data.status_history]
        elif chart.kind == "model_curve":
            part = data.model_curve.model_dump() if data.model_curve else None
        else:
            part = [s.model_dump() for s in data.metrics if s.metric == chart.subject]
        text = json.dumps([base, chart.title, part], sort_keys=True)
        keys[chart.file] = hashlib.blake2b(text.encode(), digest_size=12).hexdigest()
    return keys


def render_charts(report: Report, only: Collection[str] | None = None) -> dict[str, bytes]:
    """Chart file (relative to the report folder, as listed in `report.charts`) -> SVG bytes;
    with `only`, just those files."""
    wanted = [chart for chart in report.charts if only is None or chart.file in only]
    if not wanted:
        return {}
    import matplotlib

    matplotlib.use("Agg")
    data: ChartData = report.chart_data
    drawn: dict[str, bytes] = {}
    with matplotlib.rc_context(_STYLE):  # type: ignore[arg-type]
        for chart in wanted:
            if chart.kind == "status_history":
                figure = _status_history(data.status_history)
            elif chart.kind == "model_curve" and data.model_curve is not None:
                figure = _model_curve(data.model_curve)
            else:
                series = next((s for s in data.metrics if s.metric == chart.subject), None)
                if series is None:
                    continue
                figure = _metric(series)
            drawn[chart.file] = _svg(figure, chart.title)
    return drawn


def _svg(figure: Figure, title: str) -> bytes:
    import matplotlib.pyplot as plt

    figure.suptitle(title, fontsize=10)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="svg", metadata={"Date": None, "Creator": "claimdesk"}, bbox_inches="tight")
    plt.close(figure)
    return buffer.getvalue()


def _figure() -> tuple[Figure, Any]:
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7.5, 3.6))
    return figure, axes


def _status_history(runs: list[RunCounts]) -> Figure:
    figure, axes = _figure()
    xs = list(range(len(runs)))
    bottom = [0] * len(runs)
    for status in STATUSES:
        heights = [run.counts.get(status, 0) for run in runs]
        if any(heights):
            axes.bar(xs, heights, bottom=bottom, color=COLOURS[status], label=status, width=0.8)
            bottom = [b + h for b, h in zip(bottom, heights)]
    step = max(1, len(runs) // 12)
    axes.set_xticks(xs[::step], [f"{run.run_id}\n{run.today}" for run in runs][::step], fontsize=7)
    axes.set_xlabel("run and its day")
    axes.set_ylabel("results")
    axes.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False, fontsize=8)
    return figure


def _model_curve(curve: ModelCurve) -> Figure:
    figure, axes = _figure()
    styles = ["-", "--", ":", "-."]
    unit = curve.lines[0].unit if curve.lines else ""
    for i, line in enumerate(curve.lines):
        axes.plot([p.x for p in line.points], [p.y for p in line.points], styles[i % len(styles)], color="#333333",
                  linewidth=1.2, label=f"{line.quantity_id} (model)")
    axes.axvline(curve.default, color="#bbbbbb", linewidth=0.8)
    axes.axhline(0, color="#bbbbbb", linewidth=0.8)
    for matched in (True, False):
        chosen = [c for c in curve.claims if (c.status != "mismatch") == matched]
        if not chosen:
            continue
        axes.errorbar([c.x for c in chosen], [(c.stated_low + c.stated_high) / 2 for c in chosen],
                      yerr=[[(c.stated_high - c.stated_low) / 2 for c in chosen]] * 2, fmt="o" if matched else "X",
                      color=COLOURS["ok"] if matched else COLOURS["mismatch"], markersize=6 if matched else 8,
                      linestyle="none", capsize=2,
                      label="claims, as stated" if matched else "claims that do not match the model")
    axes.set_xscale("log")
    from matplotlib.ticker import FuncFormatter, NullFormatter

    # Plain numbers (1, 10, 100): the default log labels are mathtext, which the style turns off.
    axes.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    axes.xaxis.set_minor_formatter(NullFormatter())
    axes.set_xlabel(f"{curve.vary} ({curve.vary_unit}); the grey line is the model's value")
    axes.set_ylabel(unit)
    axes.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False, fontsize=8)
    return figure


def _metric(series: MetricSeries) -> Figure:
    figure, axes = _figure()
    days = [dt.date.fromisoformat(p.day) for p in series.points]
    middles = [(p.low + p.high) / 2 for p in series.points]
    spread = [(p.high - p.low) / 2 for p in series.points]
    axes.errorbar(days, middles, yerr=[spread, spread], fmt="o", color="#2b8cbe", capsize=2, linestyle="none")
    axes.plot(days, middles, color="#2b8cbe", linewidth=0.8, alpha=0.6)
    for day, middle, point in zip(days, middles, series.points):
        if point.status in ("mismatch", "conflict", "error"):
            axes.plot([day], [middle], "X", color=COLOURS[point.status], markersize=8)
    axes.set_ylabel(series.unit)
    axes.set_xlabel("as_of (middle of the period)")
    figure.autofmt_xdate()
    return figure
