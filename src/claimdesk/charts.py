"""The nightly report's charts as SVG files, drawn from the Report's chart data: the status history
by hand, the model curve and the metrics with matplotlib.

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
import math
from collections.abc import Collection
from html import escape
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
    with `only`, just those files.

    The status history changes with every run, so it is drawn here as plain SVG: importing
    matplotlib would cost a nightly after one edit about a second. The other charts change only
    when the model or a metric's claims do."""
    wanted = [chart for chart in report.charts if only is None or chart.file in only]
    data: ChartData = report.chart_data
    drawn = {chart.file: status_history_svg(data.status_history, chart.title)
             for chart in wanted if chart.kind == "status_history"}
    wanted = [chart for chart in wanted if chart.kind != "status_history"]
    if not wanted:
        return drawn
    import matplotlib

    matplotlib.use("Agg")
    with matplotlib.rc_context(_STYLE):  # type: ignore[arg-type]
        for chart in wanted:
            if chart.kind == "model_curve" and data.model_curve is not None:
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


# The status history's canvas: plot area inside margins, the legend to its right.
_W, _H, _LEFT, _RIGHT, _TOP, _BOTTOM = 750, 360, 64, 120, 36, 64


def _nice_step(top: float) -> float:
    """A round step (1, 2 or 5 times a power of ten) that cuts 0..top into at most 6 intervals."""
    raw = max(top, 1) / 6
    power = 10 ** math.floor(math.log10(raw))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= raw)


def status_history_svg(runs: list[RunCounts], title: str) -> bytes:
    """The results of each run stacked by status, one bar per run (the last ones the report
    keeps), as SVG written by hand: the same bytes for the same runs, text kept as text and escaped."""
    width, height = _W - _LEFT - _RIGHT, _H - _TOP - _BOTTOM
    top = max((sum(run.counts.get(s, 0) for s in STATUSES) for run in runs), default=0)
    step = _nice_step(top)
    ceiling = max(step, math.ceil(top / step) * step)
    slot = width / max(len(runs), 1)

    def y(value: float) -> float:
        return _TOP + height - value / ceiling * height

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{_W}" height="{_H}" viewBox="0 0 {_W} {_H}" '
           'font-family="DejaVu Sans, sans-serif" font-size="9">',
           f'<title>{escape(title)}</title>',
           f'<text x="{_W / 2:.1f}" y="18" font-size="10" text-anchor="middle">{escape(title)}</text>']
    tick = 0.0
    while tick <= ceiling + step / 2:
        out.append(f'<line x1="{_LEFT}" x2="{_LEFT - 4}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" stroke="#000"/>'
                   f'<text x="{_LEFT - 7}" y="{y(tick) + 3:.1f}" text-anchor="end">{tick:g}</text>')
        tick += step
    for i, run in enumerate(runs):
        bottom = 0
        x = _LEFT + i * slot + slot * 0.1
        for status in STATUSES:
            count = run.counts.get(status, 0)
            if count:
                out.append(f'<rect x="{x:.1f}" y="{y(bottom + count):.1f}" width="{slot * 0.8:.1f}" '
                           f'height="{y(bottom) - y(bottom + count):.1f}" fill="{COLOURS[status]}">'
                           f'<title>run {run.run_id}, {escape(run.today)}: {count} {status}</title></rect>')
                bottom += count
    every = max(1, len(runs) // 12)
    for i, run in enumerate(runs[::every]):
        x = _LEFT + i * every * slot + slot / 2
        out.append(f'<text x="{x:.1f}" y="{_TOP + height + 14}" text-anchor="middle" font-size="7">{run.run_id}'
                   f'<tspan x="{x:.1f}" dy="9">{escape(run.today)}</tspan></text>')
    out.append(f'<path d="M{_LEFT},{_TOP} V{_TOP + height} H{_LEFT + width}" fill="none" stroke="#000"/>'
               f'<text x="{_LEFT + width / 2:.1f}" y="{_H - 14}" text-anchor="middle">run and its day</text>'
               f'<text transform="translate(16 {_TOP + height / 2:.1f}) rotate(-90)" text-anchor="middle">results</text>')
    shown = [s for s in STATUSES if any(run.counts.get(s, 0) for run in runs)]
    for i, status in enumerate(shown):
        ly = _TOP + 4 + i * 14
        out.append(f'<rect x="{_LEFT + width + 12}" y="{ly}" width="10" height="10" fill="{COLOURS[status]}"/>'
                   f'<text x="{_LEFT + width + 27}" y="{ly + 8}" font-size="8">{status}</text>')
    out.append("</svg>")
    return ('<?xml version="1.0" encoding="utf-8" standalone="no"?>\n' + "\n".join(out) + "\n").encode()


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
