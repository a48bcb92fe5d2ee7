"""The nightly reports on the site: the latest one with its charts, and an archive of past ones.

Reports are read from the store's `reports` table (written by `claimdesk nightly`), never built
here: the page is the report's own Markdown (report_render.py, which escapes contributor text)
and the charts are drawn from the report's recorded data by charts.py, so the site, the report
folder and the store say the same thing. Without any report the page says how to make one, so that
the navigation entry always has a page behind it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field

from ..store import Store

REPORT_PAGE = "desk/report.md"
ARCHIVE_FOLDER = "desk/reports"
ARCHIVE_INDEX = f"{ARCHIVE_FOLDER}/index.md"
ARCHIVE_PAGES = 60  # past reports published as pages; older ones stay listed, in the store and in report/archive/
CHARTS_FOLDER = "desk"  # a report's Markdown links its charts as charts/<name>.svg, next to the page

NO_REPORT = """# Desk report

No nightly report has been recorded for this desk yet. `claimdesk nightly` checks the desk, records
the run and keeps its report in the store (`make desk` runs it); the next site build shows it here,
with what broke, what went stale and what changed since the previous report, and why.
"""


@dataclass(frozen=True)
class StoredReport:
    run_id: int
    today: dt.date
    exit_code: int
    counts: str
    report_json: str
    markdown: str  # the archived copy, without charts
    charts: dict[str, tuple[str, bytes]] = field(default_factory=dict)  # the latest's: file -> (chart key, SVG)


def read_reports(store: Store) -> list[StoredReport]:
    """Every report kept in the store, newest first (only the newest ARCHIVE_PAGES with their text)."""
    from ..report import counts_line
    from ..schema import STATUSES

    rows = store.select(f"""
        SELECT p.run_id, r.today, p.exit_code, {', '.join('r.' + s for s in STATUSES)},
               CASE WHEN row_number() OVER (ORDER BY p.run_id DESC) <= ? THEN p.report END,
               CASE WHEN row_number() OVER (ORDER BY p.run_id DESC) <= ? THEN p.markdown END
        FROM reports p JOIN runs r USING (run_id) ORDER BY p.run_id DESC""", [ARCHIVE_PAGES, ARCHIVE_PAGES])
    reports = []
    for run_id, today, exit_code, *rest in rows:
        counts, report_json, markdown = rest[:len(STATUSES)], rest[-2], rest[-1]
        reports.append(StoredReport(run_id, today, exit_code, counts_line(dict(zip(STATUSES, counts))),
                                    report_json or "", markdown or ""))
    if reports:
        reports[0] = dataclasses.replace(reports[0], charts={name: (key, bytes(svg)) for name, key, svg in store.select(
            "SELECT file, chart_key, svg FROM report_charts WHERE run_id = ?", [reports[0].run_id])})
    return reports


def _stem(report: StoredReport) -> str:
    return f"{report.today.isoformat()}-run-{report.run_id}"


def report_pages(reports: list[StoredReport]) -> dict[str, str]:
    """docs path -> Markdown: the latest report, the archive's index and its pages."""
    if not reports:
        return {REPORT_PAGE: NO_REPORT}
    from ..report_render import markdown
    from ..report_schema import Report

    latest = Report.model_validate_json(reports[0].report_json)
    pages = {REPORT_PAGE: markdown(latest, charts=True).rstrip("\n")
             + "\n\nEarlier reports: [the archive](reports/index.md).\n"}
    rows = []
    for report in reports:
        kept = bool(report.markdown)
        if kept:
            pages[f"{ARCHIVE_FOLDER}/{_stem(report)}.md"] = report.markdown
        day = f"[{report.today.isoformat()}]({_stem(report)}.md)" if kept else report.today.isoformat()
        rows.append(f"| {day} | {report.run_id} | {report.exit_code} | {report.counts} |")
    pages[ARCHIVE_INDEX] = "\n".join([
        "# Desk reports", "",
        f"Every nightly report kept in the store, newest first; the newest {ARCHIVE_PAGES} are published as pages.",
        "", "| day | run | exit status | results |", "|---|---:|---:|---|", *rows]) + "\n"
    return pages


def report_assets(reports: list[StoredReport]) -> dict[str, bytes]:
    """Site path -> bytes of the latest report's charts (deterministic SVG): as the nightly kept
    them in the store, and drawn here only when it did not (a report from an older claimdesk)."""
    if not reports:
        return {}
    from ..charts import chart_keys, render_charts
    from ..report_schema import Report

    latest = Report.model_validate_json(reports[0].report_json)
    keys = chart_keys(latest)
    stored = reports[0].charts
    charts = {name: stored[name][1] for name, key in keys.items() if name in stored and stored[name][0] == key}
    charts.update(render_charts(latest, set(keys) - set(charts)))
    return {f"{CHARTS_FOLDER}/{name}": content for name, content in charts.items()}
