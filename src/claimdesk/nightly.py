"""The nightly job: check the desk, record the run and its report, write the report's files.

`run_nightly` is what `claimdesk nightly`, scripts/nightly.sh and the tests call:

1. job.check_and_record ingests and checks the desk (incrementally when it can: the results are
   those of a full run) and records the run with its dependencies; in the same transaction the
   report is built from the store (report.py) and kept in the `reports` table, with its charts in
   `report_charts` (a chart is drawn only when no chart from the same data is kept). A nightly killed
   before that commit leaves the store as it was; a second nightly meanwhile is refused by the
   store's write lock ("in use").
2. Then the files are written into the report folder (default `report/` beside kb/), each to a
   temporary file in the same folder, fsynced and renamed into place: `latest.md`, `latest.json`,
   `summary.md` (for a CI job summary), `charts/*.svg`, and the archive: `archive/<day>-run-<N>.md`
   and `.json` for every report, with `archive/index.md` listing them all. A nightly killed while
   writing leaves each file whole, either the previous one or the new one.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from . import kb
from .atomic import write_atomic
from .problems import DeskError
from .report_schema import FORMAT_VERSION, Report
from .schema import STATUSES

if TYPE_CHECKING:
    from .model import Model
    from .problems import Problem
    from .store import Store

REPORT_FOLDER = "report"


@dataclass
class NightlyOutcome:
    report: Report
    store: str  # the store's label, for messages
    folder: Path  # where the files were written
    written: list[Path] = field(default_factory=list)
    incremental: str | None = None  # "3 of 188 claims re-checked", or None after a full run
    problems: list[Problem] = field(default_factory=list)  # format errors and warnings


@dataclass
class _Archived:
    run_id: int
    today: dt.date
    exit_code: int
    counts: str


def run_nightly(path: Path | str | None = None, store_file: Path | str | None = None, today: dt.date | None = None,
                fail_on: list[str] | None = None, folder: Path | str | None = None,
                progress: Callable[[str], None] | None = None) -> NightlyOutcome:
    """Check and record the desk, keep the run's report in the store and write its files."""
    from .job import check_and_record
    from .report import build_report, counts_line
    from .report_render import markdown

    step = progress or (lambda _: None)
    root = kb.find_root(path)
    target = Path(folder).absolute() if folder is not None else root / REPORT_FOLDER
    _writable(target)  # before the run: a report that cannot be written is not worth recording
    created = dt.datetime.now(dt.UTC).replace(microsecond=0)
    kept: dict[str, object] = {}

    def keep_report(store: Store, run_id: int, model: Model) -> None:
        step("building the report")
        report = build_report(store, run_id, model, fail_on, created)
        store.select("INSERT INTO reports VALUES (?, ?, ?, ?, ?, ?, ?)",
                     [run_id, report.previous_run_id, created.replace(tzinfo=None), FORMAT_VERSION, report.exit_code,
                      report.model_dump_json(), markdown(report, charts=False)])
        kept["report"] = report
        step("drawing the charts")
        kept["charts"] = _keep_charts(store, run_id, report)
        kept["archive"] = [_Archived(r, d, e, counts_line(dict(zip(STATUSES, counts))))
                           for r, d, e, *counts in store.select(f"""
                               SELECT p.run_id, r.today, p.exit_code, {', '.join('r.' + s for s in STATUSES)}
                               FROM reports p JOIN runs r USING (run_id) ORDER BY p.run_id DESC""")]

    step("checking the desk")
    outcome = check_and_record(root, store_file, today, after_record=keep_report)
    report = kept["report"]
    assert isinstance(report, Report)
    result = NightlyOutcome(report, outcome.store or "", target, incremental=outcome.incremental,
                            problems=outcome.problems)
    from .charts import chart_keys

    keys = chart_keys(report)
    drawn_before = _chart_keys_read(target)
    unchanged = {name for name, key in keys.items() if drawn_before.get(name) == key and (target / name).exists()}
    every_chart = kept["charts"]
    assert isinstance(every_chart, dict)
    charts = {name: svg for name, svg in every_chart.items() if name not in unchanged}
    step("writing the report's files")
    archive = kept["archive"]
    assert isinstance(archive, list)
    try:
        result.written = write_files(report, charts, archive, target, keep=unchanged)
        write_atomic(target / CHART_KEYS, json.dumps(keys, indent=1, sort_keys=True).encode())
    except OSError as exc:
        raise DeskError(f"run {report.run_id} and its report are recorded in the store, but the report's files "
                        f"could not be written into {target}: {exc.strerror or exc}") from None
    return result


def _keep_charts(store: Store, run_id: int, report: Report) -> dict[str, bytes]:
    """Every chart of the report, drawn only when the store holds none drawn from the same data
    (`chart_keys`), and kept in the store with the report (the site shows these, undrawn)."""
    from .charts import chart_keys, render_charts

    keys = chart_keys(report)
    kept = {key: bytes(svg) for key, svg in store.select("SELECT chart_key, svg FROM report_charts")}
    drawn = render_charts(report, {name for name, key in keys.items() if key not in kept})
    charts = {name: drawn[name] if name in drawn else kept[key] for name, key in keys.items()
              if name in drawn or key in kept}
    store.select("DELETE FROM report_charts")
    for name, svg in charts.items():
        store.select("INSERT INTO report_charts VALUES (?, ?, ?, ?)", [run_id, name, keys[name], svg])
    return charts


def _writable(folder: Path) -> None:
    """The report folder, created if need be; DeskError when it cannot be.

    The folder and its charts/ and archive/ must not be symbolic links: a desk is built from
    contributors' pull requests, and a committed `report -> kb` (or a link out of the desk) would
    make the nightly write and prune files wherever the link points."""
    for part in (folder, folder / "charts", folder / "archive"):
        if part.is_symlink():
            raise DeskError(f"{part}: the report folder is a symbolic link; claimdesk never writes through "
                            "links (remove the link, or choose a folder with --out)")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if not os.access(folder, os.W_OK):
            raise PermissionError(13, "permission denied")
    except OSError as exc:
        raise DeskError(f"{folder}: the report folder cannot be written ({exc.strerror or exc}); "
                        "choose another with --out") from None


CHART_KEYS = "charts/.keys.json"  # chart file -> the key of the data it was drawn from (charts.chart_keys)


def _chart_keys_read(folder: Path) -> dict[str, str]:
    try:
        keys = json.loads((folder / CHART_KEYS).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return keys if isinstance(keys, dict) else {}


def write_files(report: Report, charts: dict[str, bytes], archive: list[_Archived], folder: Path,
                keep: Collection[str] = ()) -> list[Path]:
    """The report's files in `folder`, each written atomically; returns them. `keep`: chart files
    already there and current."""
    from .report_render import markdown, summary

    stem = f"{report.today}-run-{report.run_id}"
    files: dict[str, bytes] = {
        "latest.md": markdown(report).encode(),
        "latest.json": report.model_dump_json(indent=2).encode(),
        "summary.md": summary(report).encode(),
        f"archive/{stem}.md": markdown(report, charts=False).encode(),
        f"archive/{stem}.json": report.model_dump_json(indent=2).encode(),
        **charts,
    }
    files["archive/index.md"] = _archive_index(archive, folder, set(files)).encode()
    written = []
    for name, data in files.items():
        target = folder / name
        write_atomic(target, data)
        written.append(target)
    charts_folder = folder / "charts"
    for old in sorted(charts_folder.glob("*.svg")):  # charts of metrics no longer shown
        if f"charts/{old.name}" not in charts and f"charts/{old.name}" not in keep:
            old.unlink()
    return written


def _archive_index(archive: list[_Archived], folder: Path, new: set[str]) -> str:
    lines = ["# Desk reports", "", "Every nightly report kept in the store, newest first.", "",
             "| day | run | exit status | results |", "|---|---:|---:|---|"]
    for entry in archive:
        stem = f"{entry.today.isoformat()}-run-{entry.run_id}"
        there = f"archive/{stem}.md" in new or (folder / "archive" / f"{stem}.md").exists()
        day = f"[{entry.today.isoformat()}]({stem}.md)" if there else entry.today.isoformat()
        lines.append(f"| {day} | {entry.run_id} | {entry.exit_code} | {entry.counts} |")
    return "\n".join(lines) + "\n"


