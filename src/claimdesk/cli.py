"""The `claimdesk` command: a thin layer over the library.

Each command parses its options, calls one library function and formats the result. Domain
errors (`DeskError`) become a clean message and exit code 2; problems in the desk are printed as
`file:line: field: message` and give exit code 1. No command shows a traceback for bad input.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from .problems import DeskError
from .target import desk_folder_option, desk_or_page

F = TypeVar("F", bound=Callable[..., Any])

# PATH as the desk's folder only (model, ingest); check and validate also take a page.
DESK_ARG = click.argument("path", required=False, type=click.Path(path_type=Path), callback=desk_folder_option)
DESK_OR_PAGE_ARG = click.argument("path", required=False, type=click.Path(path_type=Path))


def clean_errors(command: F) -> F:
    """Turn DeskError into a message on stderr and exit code 2."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except DeskError as exc:
            for problem in exc.problems:
                click.echo(f"claimdesk: {problem}".replace(": : ", ": "), err=True)
            sys.exit(2)
        except OSError as exc:  # a file or folder the command was pointed at: one line, never a traceback
            from .problems import excerpt

            where = f"{excerpt(exc.filename, 200)}: " if exc.filename else ""
            click.echo(f"claimdesk: {where}{(exc.strerror or str(exc)).lower()}", err=True)
            sys.exit(2)
        except RecursionError:
            click.echo("claimdesk: the input nests too deeply to be read; simplify it", err=True)
            sys.exit(2)
        except Exception as exc:  # a store damaged where store.py did not look: one line, not a traceback
            if not type(exc).__module__.lstrip("_").startswith("duckdb"):
                raise
            from .problems import excerpt

            first = str(exc).strip().split("\n", 1)[0]
            click.echo(f"claimdesk: the store could not be read ({excerpt(first, 200)}); if it is damaged, move it "
                       "aside and run `claimdesk ingest` to build a new one from kb/", err=True)
            sys.exit(2)

    return wrapper  # type: ignore[return-value]


class _GuardedGroup(click.Group):
    """The `claimdesk` group: output is guarded (terminal.py) before anything is parsed or printed,
    so even click's own messages about a mistyped command cannot carry escape sequences."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        from .terminal import guard_output

        guard_output()
        return super().main(*args, **kwargs)


@click.group(cls=_GuardedGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="claimdesk")
def main() -> None:
    """claimdesk: a research desk's knowledge base that keeps its numbers honest.

    Pages live in kb/ as Markdown with claims in their YAML front-matter; sources, the shared
    model and settings live in data/. Commands take the desk's folder as PATH (default: the
    current folder or its nearest parent holding kb/).

    Example: claimdesk validate
    """


@main.command()
@DESK_OR_PAGE_ARG
@click.option("--warnings/--no-warnings", default=True, show_default=True, help="Also print warnings.")
@clean_errors
def validate(path: Path | None, warnings: bool) -> None:
    """Check every page under kb/ and every file under data/ against the claim format.

    Prints each problem as `file:line: field: message` on stdout and a summary on stderr; exits 0
    when there is no error (warnings alone do not fail), 1 otherwise. PATH may be a page
    (kb/page.md): the whole desk is read and only that page's problems are shown.

    Example: claimdesk validate ~/desks/token-economics
    """
    from .render import plural
    from .store import read_desk
    from .validate import validate_desk

    root, page = desk_or_page(path)  # a page as PATH: only its problems are shown
    desk = read_desk(root)  # unchanged pages from the store's copies, when there is a store
    problems = [p for p in validate_desk(desk, checks=True) if page is None or p.path == page]
    errors = [p for p in problems if p.severity == "error"]
    for problem in problems:
        if problem.severity == "error" or warnings:
            click.echo(str(problem))
    counts = (plural(len(desk.pages), "page"), plural(len(desk.claims()), "claim"),
              plural(len(desk.sources), "source"), plural(len(errors), "error"),
              plural(len(problems) - len(errors), "warning"))
    click.echo("{}, {}, {}: {}, {}".format(*counts), err=True)
    sys.exit(1 if errors else 0)


@main.command()
@click.option("--what", type=click.Choice(["page", "sources", "model", "settings", "report"]), default="page",
              show_default=True, help="Which file's schema: a page's front-matter, data/sources.yaml, "
                                      "a data/models/*.yaml file, data/desk.yaml or the nightly report's JSON.")
def schema(what: str) -> None:
    """Print the JSON Schema of a page's front-matter (or of another desk file).

    Point an editor's YAML support at it to get completion and underlined mistakes.

    Example: claimdesk schema > data/claimdesk.schema.json
    """
    from pydantic import BaseModel

    from .schema import DeskSettings, ModelFile, Page, Source

    if what == "report":
        from .cli_report import report_schema_text

        click.echo(report_schema_text())
        return
    if what == "sources":
        document: dict[str, Any] = {"type": "object", "additionalProperties": Source.model_json_schema()}
    else:
        models: dict[str, type[BaseModel]] = {"page": Page, "model": ModelFile, "settings": DeskSettings}
        document = models[what].model_json_schema()
    document["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    click.echo(json.dumps(document, indent=2, ensure_ascii=False))


def _today(value: str | None) -> dt.date:
    if value is None:
        return dt.date.today()
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"'{value}' is not a date written YYYY-MM-DD") from None


TODAY_OPTION = click.option("--today", metavar="YYYY-MM-DD",
                            help="Judge freshness and due forecasts as of this date (default: today).")


def _statuses(value: str | None) -> list[str] | None:
    if not value:
        return None
    from .schema import STATUSES

    wanted = [v.strip() for v in value.split(",") if v.strip()]
    unknown = [v for v in wanted if v not in STATUSES]
    if unknown:
        raise click.BadParameter(f"unknown status {', '.join(unknown)}; use {', '.join(STATUSES)}")
    return wanted


@main.command()
@DESK_OR_PAGE_ARG
@click.option("--page", "pages", multiple=True, metavar="PAGE", help="Show only this page's claims (kb/page.md); repeatable.")
@click.option("--metric", "metrics", multiple=True, metavar="METRIC", help="Show only claims of this metric; repeatable.")
@click.option("--tag", "tags", multiple=True, metavar="TAG", help="Show only claims on pages with this tag; repeatable.")
@click.option("--status", "status_filter", metavar="LIST",
              help="Show only these statuses, comma-separated: error,mismatch,conflict,stale,due,ok,unchecked.")
@click.option("--all", "show_all", is_flag=True, help="On a terminal, also show ok and unchecked claims (always "
                                                          "shown when the output is not a terminal).")
@click.option("--format", "output", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--fail-on", metavar="LIST", help="Statuses that make the exit code 1 "
                                                "(default: data/desk.yaml's fail_on, else mismatch,conflict,error).")
@click.option("--store", "store_file", type=click.Path(path_type=Path),
              help="The DuckDB store to record the run in (default: the desk's `store` setting).")
@click.option("--no-store", is_flag=True, help="Check without touching the store (no ingest, no recorded run).")
@TODAY_OPTION
@clean_errors
def check(path: Path | None, pages: tuple[str, ...], metrics: tuple[str, ...], tags: tuple[str, ...],
          status_filter: str | None, show_all: bool, output: str, fail_on: str | None, store_file: Path | None,
          no_store: bool, today: str | None) -> None:
    """Recompute every quantitative claim and give each claim a status with its reason.

    Statuses, most severe first: error, mismatch, conflict, stale, due, ok, unchecked. The whole
    desk is always checked (and recorded in the store, unless --no-store; when the previous run
    allows it, only the claims an edit can affect are checked again, with the same results as a
    full run). PATH may be a page (kb/page.md): like --page, --metric and --tag it narrows what is
    shown and what the exit code looks at, never what is checked. The results go to stdout; format
    errors, the summary and the run's record go to stderr. On a terminal the whole desk's ok and
    unchecked claims are hidden (a scope's unchecked ones) unless --all. Exits 1 when there are format errors or a shown claim has a status in
    --fail-on, else 0.

    Example: claimdesk check kb/token-pricing.md --status mismatch,conflict,stale
    """
    from .check_output import check_report
    from .job import check_and_record

    root, page = desk_or_page(path)
    shown, failing = _statuses(status_filter), _statuses(fail_on)
    outcome = check_and_record(root, store_file, _today(today), record=not no_store)
    report = check_report(outcome, [*pages, *([page] if page else [])], metrics, tags, shown, failing,
                          output, show_all or not sys.stdout.isatty())
    if report.errors:
        click.echo(report.errors, err=True)
    click.echo(report.stdout)
    click.echo(report.notes, err=True)
    sys.exit(report.exit_code)


@main.command()
@click.argument("claim_id")
@click.option("--desk", "path", type=click.Path(path_type=Path), callback=desk_folder_option,
              help="The desk's folder (default: the current folder or its nearest parent holding kb/).")
@TODAY_OPTION
@clean_errors
def explain(claim_id: str, path: Path | None, today: str | None) -> None:
    """Show how a claim is checked, step by step.

    The expression, every input with its value, unit and source, the substituted arithmetic,
    the conversion into the claim's unit, the tolerance and the verdict.

    Example: claimdesk explain batch40_cost_per_mtok
    """
    from .explain import explain as explain_claim
    from .render import explanation_text
    from .store import read_desk

    click.echo(explanation_text(explain_claim(read_desk(path), claim_id, _today(today))))


@main.command()
@DESK_ARG
@clean_errors
def model(path: Path | None) -> None:
    """Show the shared model: parameters, equations, tables, break-even points and sensitivities.

    Sensitivity is d log(quantity) / d log(parameter) at the model's values: the % change in the
    quantity for a 1% change in the parameter.

    Example: claimdesk model
    """
    from .kb import load_desk
    from .model import build_model
    from .render import model_text

    desk = load_desk(path, paths=[])  # the model lives in data/models/: no page needs reading
    built = build_model(desk)
    click.echo(model_text(built))
    if built.problems:
        for problem in built.problems:
            click.echo(str(problem), err=True)
        sys.exit(1)


def _register_extra_commands() -> None:
    """Commands that live in their own modules (one concern per module)."""
    from . import cli_edit, cli_report, cli_site, cli_store

    cli_store.register(main)
    cli_edit.register(main)
    cli_report.register(main)
    cli_site.register(main)


_register_extra_commands()
