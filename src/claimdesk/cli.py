"""The `claimdesk` command: a thin layer over the library.

Each command parses its options, calls one library function and formats the result. Domain
errors (`DeskError`) become a clean message and exit code 2; problems in the desk are printed as
`file:line: field: message` and give exit code 1. No command shows a traceback for bad input.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from .problems import DeskError

F = TypeVar("F", bound=Callable[..., Any])

DESK_ARG = click.argument("path", required=False, type=click.Path(path_type=Path))


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

    return wrapper  # type: ignore[return-value]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="claimdesk")
def main() -> None:
    """claimdesk: a research desk's knowledge base that keeps its numbers honest.

    Pages live in kb/ as Markdown with claims in their YAML front-matter; sources, the shared
    model and settings live in data/. Commands take the desk's folder as PATH (default: the
    current folder or its nearest parent holding kb/).

    Example: claimdesk validate
    """


@main.command()
@DESK_ARG
@click.option("--warnings/--no-warnings", default=True, show_default=True, help="Also print warnings.")
@clean_errors
def validate(path: Path | None, warnings: bool) -> None:
    """Check every page under kb/ and every file under data/ against the claim format.

    Prints each problem as `file:line: field: message`; exits 0 when there is no error
    (warnings alone do not fail), 1 otherwise.

    Example: claimdesk validate ~/desks/token-economics
    """
    from .kb import load_desk
    from .validate import validate_desk

    desk = load_desk(path)
    problems = validate_desk(desk)
    errors = [p for p in problems if p.severity == "error"]
    for problem in problems:
        if problem.severity == "error" or warnings:
            click.echo(str(problem))
    pages = len(desk.pages)
    claims = len(desk.claims())
    summary = (f"{pages} pages, {claims} claims, {len(desk.sources)} sources: "
               f"{len(errors)} errors, {len(problems) - len(errors)} warnings")
    click.echo(summary, err=True)
    sys.exit(1 if errors else 0)


@main.command()
@click.option("--what", type=click.Choice(["page", "sources", "model", "settings"]), default="page",
              show_default=True, help="Which file's schema: a page's front-matter, data/sources.yaml, "
                                      "a data/models/*.yaml file or data/desk.yaml.")
def schema(what: str) -> None:
    """Print the JSON Schema of a page's front-matter (or of another desk file).

    Point an editor's YAML support at it to get completion and underlined mistakes.

    Example: claimdesk schema > data/claimdesk.schema.json
    """
    from .schema import DeskSettings, ModelFile, Page, Source

    if what == "sources":
        document: dict[str, Any] = {"type": "object", "additionalProperties": Source.model_json_schema()}
    else:
        model = {"page": Page, "model": ModelFile, "settings": DeskSettings}[what]
        document = model.model_json_schema()
    document["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    click.echo(json.dumps(document, indent=2, ensure_ascii=False))


def _register_extra_commands() -> None:
    """Commands that live in their own modules (one concern per module)."""
    from . import cli_store

    cli_store.register(main)


_register_extra_commands()
