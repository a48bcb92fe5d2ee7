"""Editing commands: add, update, source add, new; and find, show. Thin layers over workflow.py and find.py.

On a terminal the commands prompt for what their options do not give (click.prompt); in scripts
every field is an option and a missing required one is an error. Every command that writes shows
what it will change (the diff, and for claims the status, near-duplicates and effects) before
writing, stops there with --dry-run, and writes atomically (edit.py). Contributor text is printed
with control characters replaced, so a claim cannot drive the terminal.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import click

DESK_OPTION = click.option("--desk", "path", type=click.Path(path_type=Path),
                           help="The desk's folder (default: the current folder or its nearest parent holding kb/).")
DRY_RUN = click.option("--dry-run", is_flag=True, help="Show what would change and write nothing.")
FORCE = click.option("--force", is_flag=True, help="Write even when near-duplicates are found (scripts).")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def safe(text: object) -> str:
    """Text for the terminal: control characters (escape sequences, bidi overrides) shown as '?'."""
    return _CONTROL.sub("?", str(text))


def interactive() -> bool:
    return sys.stdin.isatty()


def register(main: click.Group) -> None:
    """Add the editing commands to the `claimdesk` group."""
    from .cli import TODAY_OPTION, _today, clean_errors

    @main.command()
    @click.argument("page")
    @click.option("--text", help="The claim's sentence.")
    @click.option("--stance", type=click.Choice(["bull", "bear", "neutral"]))
    @click.option("--source", "sources", multiple=True, help="A source id from data/sources.yaml (repeat, or a,b).")
    @click.option("--as-of", "as_of", help="Date or period: 2026-05-29, 2026-05, 2026-Q1, 2025-H2, 2026.")
    @click.option("--value", help="13, ~13, [2, 4], >=10 (as in a page).")
    @click.option("--unit", help="USD bn, %, USD/Mtok, ... (see the claim format).")
    @click.option("--metric", help="Dotted key such as openai.revenue.")
    @click.option("--check", help="Expression the checker recomputes the value from.")
    @click.option("--given", multiple=True, metavar="NAME=NUMBER", help="Model parameter override for the check.")
    @click.option("--id", "id", help="The claim's id (default: suggested from the text).")
    @click.option("--field", "extra", multiple=True, metavar="KEY=VALUE", help="Any other field, e.g. review_by=2026-12-31.")
    @DRY_RUN
    @FORCE
    @DESK_OPTION
    @TODAY_OPTION
    @clean_errors
    def add(page: str, path: Path | None, dry_run: bool, force: bool, today: str | None, extra: tuple[str, ...],
            **options: Any) -> None:
        """Add a claim to PAGE: validated and checked before it is written.

        Shows the suggested id, any format problem (as validate), the checker's status and
        recomputed value, near-duplicates across the desk with their scores, and the diff.
        Near-duplicates must be confirmed (--force when not on a terminal). Running the same add
        twice adds the claim once.

        Example: claimdesk add kb/token-pricing.md --text "An H100 rents for about $2 an hour." --stance neutral --source src_a --as-of 2026-05 --value "~2" --unit USD/h
        """
        from .workflow import propose_claim, typed_fields

        if interactive():
            prompt_claim(options)
        proposal = propose_claim(path, page, typed_fields(options, list(extra)), _today(today))
        finish(proposal, dry_run, force, f"added {proposal.key} to")

    @main.command()
    @click.argument("claim_id")
    @click.option("--value", required=True, help="The new figure, as in a page: 13, ~13, [2, 4], >=10.")
    @click.option("--as-of", "as_of", required=True, help="The new figure's date or period.")
    @click.option("--source", help="The new figure's source id (default: the old claim's sources).")
    @click.option("--text", help="The new claim's sentence (on a terminal: prompted, the old text offered).")
    @click.option("--id", "new_id", help="The new claim's id (default: suggested).")
    @click.option("--replace", is_flag=True, help="Replace the figure in place instead of adding a dated claim.")
    @DRY_RUN
    @FORCE
    @DESK_OPTION
    @TODAY_OPTION
    @clean_errors
    def update(claim_id: str, value: str, as_of: str, source: str | None, text: str | None, new_id: str | None,
               replace: bool, dry_run: bool, force: bool, path: Path | None, today: str | None) -> None:
        """A newer figure for CLAIM_ID: a new dated claim on the same metric, next to the old one.

        With --replace the value and as_of (and --source, --text) are replaced in place instead.
        Either way the claims whose status the change alters are shown, those whose check uses
        the claim marked, before anything is written.

        Example: claimdesk update openai_revenue_2025 --value 20 --as-of 2026 --source src_a --text "OpenAI's 2026 revenue is about $20bn."
        """
        from .workflow import propose_update, yaml_input

        if not replace and not text:
            text = prompt_text(path, claim_id)
        proposal = propose_update(path, claim_id, yaml_input(value, "value"), yaml_input(as_of, "as-of"), source,
                                  text, new_id, replace, _today(today))
        finish(proposal, dry_run, force, f"replaced the figure of {claim_id} in" if replace else f"added {proposal.key} to")

    @main.group()
    def source() -> None:
        """Sources: data/sources.yaml.

        Example: claimdesk source add https://example.com/report --title "A report" --publisher Example --published 2026-05 --kind report
        """

    @source.command("add")
    @click.argument("url")
    @click.option("--title")
    @click.option("--publisher")
    @click.option("--author")
    @click.option("--published", help="Date or period: 2026-05-29, 2026-05, 2026.")
    @click.option("--kind", type=click.Choice(["article", "report", "blog", "newsletter", "podcast", "interview",
                                               "filing", "dataset", "book", "forum", "other"]))
    @click.option("--note")
    @click.option("--id", "source_id", help="The source's id (default: suggested from publisher and title).")
    @DRY_RUN
    @DESK_OPTION
    @clean_errors
    def source_add(url: str, dry_run: bool, path: Path | None, source_id: str | None, **options: Any) -> None:
        """Add a source to data/sources.yaml; refuses a URL the desk already lists.

        URLs are compared without scheme, `www.`, trailing slash, fragment and tracking parameters
        (utm_*, fbclid, gclid, ref, ...). A near-identical title is named as a warning.

        Example: claimdesk source add https://example.com/ai-margins --title "AI margins" --publisher Example --published 2026-05 --kind article
        """
        from .workflow import propose_source, yaml_input

        if interactive():
            prompt_source(options)
        options["url"] = url
        order = ("title", "publisher", "author", "url", "published", "kind", "note")  # as data/sources.yaml writes them
        entry = {k: options[k] for k in order if options.get(k)}
        if "published" in entry:
            entry["published"] = yaml_input(entry["published"], "published")
        proposal = propose_source(path, entry, source_id)
        finish(proposal, dry_run, True, f"added source {proposal.key} to")

    @main.command()
    @click.argument("title")
    @click.option("--name", help="The file name under kb/, without .md (default: from the title).")
    @DRY_RUN
    @DESK_OPTION
    @clean_errors
    def new(title: str, name: str | None, dry_run: bool, path: Path | None) -> None:
        """Create a page kb/<name>.md from the template and add it to mkdocs.yml's nav.

        The nav entry is added after the nav's last entry, keeping the file's comments and
        formatting; a site without an explicit nav lists the page by itself.

        Example: claimdesk new "Inference pricing"
        """
        from .workflow import propose_page

        proposal = propose_page(path, title, name)
        finish(proposal, dry_run, True, "created")

    @main.command("find")
    @click.argument("query")
    @click.option("--limit", default=10, show_default=True, type=click.IntRange(1, 1000))
    @click.option("--format", "output", type=click.Choice(["text", "json"]), default="text", show_default=True)
    @DESK_OPTION
    @TODAY_OPTION
    @clean_errors
    def find_command(query: str, limit: int, output: str, path: Path | None, today: str | None) -> None:
        """Fuzzy search over claim texts, ids, metrics and source titles; best first.

        Each line: score, kind, id, file:line, status (claims), text.

        Example: claimdesk find "openai revenue"
        """
        from .find import find

        hits = find(path, query, limit, _today(today))
        if output == "json":
            click.echo(json.dumps([vars(hit) for hit in hits], ensure_ascii=False, indent=1))
            return
        for hit in hits:
            click.echo(f"{hit.score:5.1f}  {hit.kind:6}  {safe(hit.key)}  {hit.path}:{hit.line}  "
                       f"{hit.status or '-'}  {safe(hit.text)[:100]}")
        if not hits:
            click.echo("no match", err=True)

    @main.command()
    @click.argument("claim_id")
    @click.option("--store", "store_file", type=click.Path(path_type=Path), help="The DuckDB store to read history from.")
    @DESK_OPTION
    @TODAY_OPTION
    @clean_errors
    def show(claim_id: str, store_file: Path | None, path: Path | None, today: str | None) -> None:
        """Show a claim: fields, sources, status and reason, history across runs, what it uses and what uses it.

        Example: claimdesk show batch40_cost_per_mtok
        """
        from .find import show as show_claim

        click.echo(shown_text(show_claim(path, claim_id, _today(today), store_file)))


# -- prompting -------------------------------------------------------------------------------------
def prompt_claim(options: dict[str, Any]) -> None:
    """Ask on the terminal for the claim's fields that the options did not give."""
    if not options.get("text"):
        options["text"] = click.prompt("text (the claim's sentence)")
    if not options.get("stance"):
        options["stance"] = click.prompt("stance", type=click.Choice(["bull", "bear", "neutral"]))
    if not options.get("sources"):
        options["sources"] = (click.prompt("sources (ids from data/sources.yaml, comma-separated)"),)
    if not options.get("as_of"):
        options["as_of"] = click.prompt("as_of (2026-05-29, 2026-05, 2026-Q1, 2026)")
    if not options.get("value"):
        options["value"] = click.prompt("value (13, ~13, [2, 4], >=10; empty for none)", default="",
                                        show_default=False)
    if options.get("value") and not options.get("unit"):
        options["unit"] = click.prompt("unit (USD bn, %, USD/Mtok, ...)")
    for name, hint in (("metric", "dotted key like openai.revenue"), ("check", "expression")):
        if not options.get(name):
            options[name] = click.prompt(f"{name} ({hint}; empty for none)", default="", show_default=False)
    if options.get("check") and not options.get("given"):
        given = click.prompt("given (name=number, comma-separated; empty for none)", default="", show_default=False)
        options["given"] = tuple(g for g in given.split(",") if g.strip())


def prompt_source(options: dict[str, Any]) -> None:
    if not options.get("title"):
        options["title"] = click.prompt("title")
    if not options.get("publisher") and not options.get("author"):
        options["publisher"] = click.prompt("publisher (empty for none)", default="", show_default=False)
        if not options["publisher"]:
            options["author"] = click.prompt("author")
    if not options.get("published"):
        options["published"] = click.prompt("published (2026-05-29, 2026-05, 2026)")
    if not options.get("kind"):
        options["kind"] = click.prompt("kind", type=click.Choice(["article", "report", "blog", "newsletter",
                                                                 "podcast", "interview", "filing", "dataset",
                                                                 "book", "forum", "other"]))


def prompt_text(path: Path | None, claim_id: str) -> str:
    """The new claim's text for `update`: prompted on a terminal (the old text offered)."""
    from .workflow import claim_text

    old = claim_text(path, claim_id)
    if not interactive():
        raise click.UsageError("give the new claim's sentence with --text (or use --replace)")
    return str(click.prompt("text of the new claim", default=old))


# -- showing and writing ---------------------------------------------------------------------------
def finish(proposal: Any, dry_run: bool, force: bool, done: str) -> None:
    """Print what the proposal changes; refuse on errors or unconfirmed near-duplicates; write."""
    if proposal.already:
        click.echo(f"already there: {safe(proposal.key)} at {proposal.already}; nothing to do")
        return
    click.echo(proposal_text(proposal))
    if proposal.errors:
        click.echo("refused: the change has format errors (above); nothing was written", err=True)
        sys.exit(1)
    risky = [n for n in proposal.near if n.kind in ("duplicate", "conflict")]
    if dry_run:
        click.echo("dry run: nothing was written", err=True)
        return
    if risky and not force:
        if not interactive():
            click.echo("refused: near-duplicates found (above); add --force to write anyway", err=True)
            sys.exit(1)
        if not click.confirm("Near-duplicates found. Write anyway?", default=False):
            click.echo("nothing was written", err=True)
            sys.exit(1)
    proposal.write()
    click.echo(f"{done} {' and '.join(c.rel for c in proposal.changes)}", err=True)


def proposal_text(proposal: Any) -> str:
    lines = []
    if proposal.result is not None:
        r = proposal.result
        recomputed = "" if r.recomputed is None or "recomputed" in r.reason else \
            f" (recomputed {r.recomputed:.6g} {r.unit or ''})".replace(" )", ")")
        lines.append(f"{safe(proposal.key)}: {r.status}: {safe(r.reason)}{recomputed}")
    for problem in proposal.problems:
        lines.append(safe(problem))
    for near in proposal.near:
        label = {"duplicate": "near-duplicate", "conflict": "conflict candidate"}.get(near.kind, near.kind)
        lines.append(f"{label} {near.score:.0f}/100: {safe(near.key)} ({near.path}:{near.line}) {safe(near.text)[:120]}"
                     f"  [{near.why}]")
    for effect in proposal.effects:
        mark = " (its check uses it)" if effect.dependent else ""
        lines.append(f"effect: {safe(effect.claim_id)} ({effect.path}) {effect.before or 'new'} -> "
                     f"{effect.after or 'gone'}{mark}")
    lines.extend(proposal.notes)
    lines.append(safe(proposal.diff()).rstrip("\n"))
    return "\n".join(line for line in lines if line)


def shown_text(shown: Any) -> str:
    lines = [f"{safe(shown.claim_id)} ({shown.kind}, {shown.path}:{shown.line})"]
    for key, value in shown.fields.items():
        lines.append(f"  {safe(key)}: {safe(_written(value))}")
    lines.append("sources:")
    lines += [f"  {safe(key)}: {safe(title)}" for key, title in shown.sources]
    if shown.result is not None:
        lines.append(f"status: {shown.result.status}: {safe(shown.result.reason)}")
        lines += [f"  also {safe(a)}" for a in shown.result.also]
    lines.append("history:" if shown.history else f"history: {safe(shown.history_note) or 'none'}")
    for e in shown.history:
        runs = f"run {e.first_run}" if e.first_run == e.last_run else f"runs {e.first_run}-{e.last_run}"
        lines.append(f"  {e.since.date().isoformat()} {runs}: {e.status} {safe(e.stated or '')} as of {e.as_of}")
    lines.append("uses: " + (", ".join(f"{safe(i)} ({s})" for i, s in shown.uses) or "nothing"))
    lines.append("used by: " + (", ".join(f"{safe(i)} ({p}, {s})" for i, p, s in shown.used_by) or "no claim"))
    if shown.quantities:
        lines.append("model quantities using it: " + ", ".join(shown.quantities))
    named = [f"{p}:{n}" for p, n in shown.cited_in]
    more = f" and {len(named) - 20} more" if len(named) > 20 else ""
    lines.append("named in prose: " + (", ".join(named[:20]) + more or "nowhere"))
    return "\n".join(lines)


def _written(value: Any) -> str:
    from .edit import yaml_value
    from .problems import DeskError

    try:
        return yaml_value(value)
    except DeskError:
        return str(value)
