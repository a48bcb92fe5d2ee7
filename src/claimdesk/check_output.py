"""What `claimdesk check` prints, and its exit code, from a finished check.

stdout carries the results (a table, lines or JSON) and nothing else, so that it can be piped;
stderr carries the format errors (before), the summary, what the scope left out and the run's
record (after). Scoping (--page, --metric, --tag, a page as PATH) narrows what is shown and what
the exit code looks at; the desk is checked whole either way, so a scoped result is the full
run's result.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from .job import CheckOutcome
from .render import plural, results_json, results_table, summary
from .results import Result
from .schema import STATUSES
from .target import page_path


@dataclass
class CheckReport:
    errors: str  # stderr, before the results
    stdout: str
    notes: str  # stderr, after the results
    exit_code: int


def check_report(outcome: CheckOutcome, pages: Collection[str], metrics: Collection[str], tags: Collection[str],
                 statuses: list[str] | None, failing: list[str] | None, output: str,
                 everything: bool) -> CheckReport:
    """`everything`: list every status (--all, or not a terminal). Otherwise a terminal shows what
    needs attention: the whole desk without its ok and unchecked claims (at 100k claims those are
    tens of thousands of lines nobody reads), a scope without its unchecked ones."""
    pages = [page_path(outcome.desk.root, page) for page in pages]
    scope = outcome.scope(pages, metrics, tags)
    hidden = [] if everything or statuses else ["unchecked"] if scope is not None else ["ok", "unchecked"]
    wanted = statuses or [s for s in STATUSES if s not in hidden]
    # JSON carries every field of a result; a text listing needs only what it shows (quicker to read back)
    listed, tally = (outcome.results(wanted), outcome.tally()) if output == "json" else outcome.listing(wanted)
    results = [r for r in listed if scope is None or r.claim_id in scope]
    errors = [str(p) for p in outcome.errors]
    if errors:
        errors.append(f"{plural(len(errors), 'format error')} (see claimdesk validate); claims with errors are "
                      "not checked")
    notes = [summary(tally)]
    if scope is not None:
        what = ", ".join([*pages, *(f"metric {m}" for m in metrics), *(f"tag {t}" for t in tags)])
        notes.append(f"shown: {plural(len(results), 'result')} of {what} (the desk was checked whole)")
    if hidden:
        counted = ", ".join(f"{tally.counts[status]} {status}" for status in hidden)
        notes.append(f"not shown on a terminal: {counted if scope is None else 'unchecked claims'} (--all shows them)")
    if outcome.run_id is not None:
        how = f"incremental: {outcome.incremental}" if outcome.incremental else "full run"
        notes.append(f"recorded as run {outcome.run_id} in {outcome.store} ({how})")
    failing = failing or list(outcome.desk.settings.fail_on)
    if scope is None:
        failed = any(tally.counts[status] for status in failing)
    else:
        failed = any(r.claim_id in scope for r in outcome.results(failing))
    if output == "json":
        stdout = results_json(tally, [r for r in results if isinstance(r, Result)])
    else:
        stdout = results_table(tally, results, with_summary=False)
    return CheckReport("\n".join(errors), stdout, "\n".join(notes), 1 if errors or failed else 0)
