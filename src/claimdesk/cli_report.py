"""The `claimdesk nightly` command, a thin layer over nightly.py, and the report's JSON Schema.

Progress goes to stderr: a spinner naming the step on a terminal, plain `claimdesk nightly: ...`
lines otherwise (a log, CI). The report goes to stdout in the format asked for.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import click


class _Progress:
    """Names each step as it starts: a spinner on a terminal, one plain line per step otherwise."""

    def __init__(self) -> None:
        self.terminal = sys.stderr.isatty()
        self.started = time.perf_counter()
        self.status: Any = None

    def __call__(self, step: str) -> None:
        if not self.terminal:
            click.echo(f"claimdesk nightly: {step} ({time.perf_counter() - self.started:.1f} s)", err=True)
            return
        if self.status is None:
            from rich.console import Console

            self.status = Console(stderr=True).status(step)
            self.status.start()
        else:
            self.status.update(step)

    def stop(self) -> None:
        if self.status is not None:
            self.status.stop()
            self.status = None


def register(main: click.Group) -> None:
    """Add `nightly` to the `claimdesk` group."""
    from .cli import DESK_ARG, TODAY_OPTION, _statuses, _today, clean_errors

    @main.command()
    @DESK_ARG
    @click.option("--fail-on", metavar="LIST", help="Statuses that make the exit code 1 "
                                                    "(default: data/desk.yaml's fail_on, else mismatch,conflict,error).")
    @click.option("--store", "store_file", type=click.Path(path_type=Path),
                  help="The DuckDB store (default: the desk's `store` setting).")
    @click.option("--out", "folder", type=click.Path(path_type=Path),
                  help="The report folder (default: report/ in the desk's folder).")
    @click.option("--format", "output", type=click.Choice(["text", "json", "markdown", "summary"]), default="text",
                  show_default=True, help="What to print: a few lines, the JSON report, the Markdown report or the "
                                          "CI summary. The files are written in every case.")
    @TODAY_OPTION
    @clean_errors
    def nightly(path: Path | None, fail_on: str | None, store_file: Path | None, folder: Path | None, output: str,
                today: str | None) -> None:
        """Check the desk, record the run and write the consistency report: what broke, what went
        stale, what changed since the last report, and why.

        Writes report/latest.md, latest.json, summary.md, charts/*.svg and the archive
        (report/archive/), and keeps the report in the store. Exit code 0 when no claim has a
        status in --fail-on, 1 when one has (or the desk has format errors), 2 when the desk
        cannot be read or the store is in use.

        Example: claimdesk nightly --today 2026-11-22 --format summary
        """
        from .nightly import run_nightly
        from .render import plural
        from .report_render import markdown, summary, text

        progress = _Progress()
        try:
            outcome = run_nightly(path, store_file, _today(today), _statuses(fail_on), folder, progress)
        finally:
            progress.stop()
        report = outcome.report
        where = f"{outcome.folder}/latest.md"
        printed = {"json": lambda: report.model_dump_json(indent=2), "markdown": lambda: markdown(report),
                   "summary": lambda: summary(report),
                   "text": lambda: text(report, [f"report written to {where} (and latest.json, summary.md, "
                                                 f"{plural(len(report.charts), 'chart')}, archive/)"])}[output]
        click.echo(printed())
        how = f"incremental: {outcome.incremental}" if outcome.incremental else "full run"
        click.echo(f"recorded as run {report.run_id} in {outcome.store} ({how}); exit {report.exit_code}", err=True)
        sys.exit(report.exit_code)


def report_schema_text() -> str:
    from .report_schema import report_schema

    return json.dumps(report_schema(), indent=2, ensure_ascii=False)
