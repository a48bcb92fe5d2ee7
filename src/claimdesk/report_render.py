"""The nightly report as Markdown (the site's "Desk report" page), as a short CI job summary and
as plain text lines for a terminal or a log. Everything here is rendered from a Report
(report_schema.py) and nothing else; contributor text is escaped for Markdown/HTML, and control
characters never reach a terminal.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from .report_schema import Change, Changes, Report
from .schema import STATUSES

MARKDOWN_ROWS = 200  # rows a Markdown section shows; the JSON has up to report_schema.MAX_ITEMS
SUMMARY_ROWS = 10

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
# Quoted with a backslash: punctuation that both Python-Markdown (with tables) and GitHub's Markdown
# read as an escape. `~` (strikethrough on GitHub) is not an escape in Python-Markdown, so it becomes
# a character reference, which both show as the character.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+!|])")


def md(text: object) -> str:
    """Contributor text as one line of inert Markdown: HTML escaped, Markdown punctuation quoted."""
    plain = _CONTROL.sub(" ", str(text)).replace("\n", " ")
    plain = plain.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MARKDOWN_SPECIAL.sub(r"\\\1", plain).replace("~", "&#126;")


def plain(text: object) -> str:
    """Contributor text for a terminal or a log: one line, no control characters."""
    return _CONTROL.sub(" ", str(text)).replace("\n", " ")


def _delta(value: int | None) -> str:
    if value is None:
        return ""
    return f"{value:+d}" if value else "±0"


def _pct(value: float) -> str:
    return f"{value:.0%}"


def _where(path: str, line: int | None) -> str:
    return f"{path}:{line}" if line else path


def _transition(change: Change) -> str:
    return f"{change.old_status or 'new'} → {change.new_status or 'gone'}"


def _comparison(report: Report) -> str:
    if report.previous_run_id is None:
        return f"Run {report.run_id} on {report.today}: the first recorded run, so there is nothing to compare with."
    text = (f"Run {report.run_id} on {report.today}, compared with run {report.previous_run_id} "
            f"on {report.previous_today}.")
    if report.no_change:
        text += f" No change since run {report.previous_run_id}: every result is as it was."
    return text


def _more(total: int, shown: int) -> list[str]:
    return ["", f"… and {total - shown} more (see latest.json)."] if total > shown else []


def _listing(columns: list[str], rows: list[str], total: int | None = None) -> list[str]:
    """A section's table (left-aligned columns), "None." when it has no rows, and with `total` the
    line saying how many more the JSON holds."""
    if not rows:
        return ["None."]
    header = ["|" + "|".join(f" {c} " if c else " " for c in columns) + "|", "|" + "---|" * len(columns)]
    return header + rows + (_more(total, len(rows)) if total is not None else [])


# -- Markdown --------------------------------------------------------------------------------
def markdown(report: Report, charts: bool = True) -> str:
    """The whole report as a Markdown page. `charts`: include the chart images (the latest report's
    page does; an archived copy does not, as the charts are redrawn for every run)."""
    h = report.headline
    out = [f"# Desk report: {report.today}", "", md(_comparison(report)), _exit_sentence(report), ""]
    out += ["## Headline", "", "| status | results | change |", "|---|---:|---:|"]
    for status in STATUSES:
        out.append(f"| {status} | {h.counts.get(status, 0)} | {_delta(h.deltas.get(status) if h.deltas else None)} |")
    coverage = f"Checked coverage: {h.checked} of {h.quantitative} quantitative claims have a check ({_pct(h.coverage)})"
    if h.previous_coverage is not None:
        points = round((h.coverage - h.previous_coverage) * 100, 1)
        coverage += f", {points:+g} points since run {report.previous_run_id}"
    out += ["", coverage + f"; {h.claims} claims and {h.parameters} model parameters.", ""]

    out += _changes_md("Newly failing", report.newly_failing, report, "newly_failing")
    out += _changes_md("Newly fixed", report.newly_fixed, report, "newly_fixed")
    out += _changes_md("Other changes", report.other_changes, report, "other_changes")

    still, stale, soon = report.still_failing, report.stale, report.going_stale
    out += [f"## Still failing ({still.total})", ""]
    out += _listing(["claim", "where", "status", "since", "reason"], [
        f"| {md(f.claim_id)} | {md(_where(f.path, f.line))} | {f.status} | run {f.since_run} ({f.since_day}) | "
        f"{md(f.reason)} |" for f in still.items[:MARKDOWN_ROWS]], still.total)
    out += ["", f"## Flip-flops ({report.flip_flops.total})", "",
            "Claims whose status changed at least twice over the last ten runs.", ""]
    out += _listing(["claim", "where", "statuses, oldest first"], [
        f"| {md(f.claim_id)} | {md(f.path)} | {' → '.join(f.statuses)} |" for f in report.flip_flops.items[:MARKDOWN_ROWS]])
    out += ["", f"## Stale ({stale.total}), oldest first", ""]
    out += _listing(["claim", "where", "as_of", "stale since", "why"], [
        f"| {md(s.claim_id)} | {md(_where(s.path, s.line))} | {md(s.as_of or '')} | {s.stale_since or ''} | "
        f"{md(s.reason)} |" for s in stale.items[:MARKDOWN_ROWS]], stale.total)
    out += ["", f"## Going stale within 30 days ({soon.total})", ""]
    out += _listing(["claim", "where", "stale on", "why"], [
        f"| {md(g.claim_id)} | {md(_where(g.path, g.line))} | {g.stale_on} | {md(g.why)} |"
        for g in soon.items[:MARKDOWN_ROWS]], soon.total)
    out += ["", f"## Forecasts due ({sum(1 for f in report.forecasts.items if f.due)} due, "
                f"{sum(1 for f in report.forecasts.items if not f.due)} within 30 days)", ""]
    out += _listing(["claim", "where", "resolves", ""], [
        f"| {md(f.claim_id)} | {md(_where(f.path, f.line))} | {f.resolves} | {'due' if f.due else 'soon'} |"
        for f in report.forecasts.items[:MARKDOWN_ROWS]])
    out += ["", f"## Conflicts between pages ({report.conflicts.total})", ""]
    out += _listing(["claim", "where", "disagrees with"], [
        f"| {md(c.claim_id)} | {md(_where(c.path, c.line))} | {md(c.reason)} |"
        for c in report.conflicts.items[:MARKDOWN_ROWS]])
    out += ["", "## Bull vs bear by page", ""]
    if report.stances:
        out += ["| page | bull | bear | neutral | balance |", "|---|---:|---:|---:|---:|"]
        out += [f"| {md(s.title or s.path)} ({md(s.path)}) | {s.bull} | {s.bear} | {s.neutral} | {s.bull - s.bear:+d} |"
                for s in report.stances[:MARKDOWN_ROWS]]
    else:
        out.append("No claims.")
    out += ["", "## The model's key figures", ""]
    if report.model:
        out += ["| quantity | value | previous report | change |", "|---|---:|---:|---:|"]
        for f in report.model:
            value = f"{f.value:.4g} {md(f.unit)}" if f.value is not None else "cannot be computed"
            previous = f"{f.previous:.4g}" if f.previous is not None else ""
            change = f"{f.relative_change:+.1%}" if f.relative_change is not None else ""
            out.append(f"| {md(f.quantity_id)} | {value} | {previous} | {change} |")
    else:
        out.append("The desk has no model.")
    if charts and report.charts:
        out += ["", "## Charts", ""]
        for chart in report.charts:
            out += [f"![{md(chart.title)}]({chart.file})", ""]
    return "\n".join(out).rstrip() + "\n"


def _exit_sentence(report: Report) -> str:
    failing = sum(report.headline.counts.get(s, 0) for s in report.fail_on)
    reasons = ([f"{failing} results with a failing status ({', '.join(report.fail_on)})"] if failing else []) + \
        ([f"{report.format_errors} format errors (see claimdesk validate)"] if report.format_errors else [])
    return f"Exit status {report.exit_code}: " + (" and ".join(reasons) if reasons else
                                                  "no claim has a failing status") + "."


def _changes_md(title: str, changes: Changes, report: Report, section: str) -> list[str]:
    out = [f"## {title} ({changes.total})", ""]
    if not changes.items:
        return out + ["None.", ""]
    groups = [g for g in report.cause_groups if g.section == section]
    out += ["By cause:", ""]
    for group in groups[:MARKDOWN_ROWS]:
        count = len(group.claims)
        names = ", ".join(md(c) for c in group.claims[:10]) + (f" and {count - 10} more" if count > 10 else "")
        depend = group.cause.type in ("input_changed", "input_added", "input_removed", "input_status")
        effect = f"{count} claims depend on it" if depend and count > 1 else \
            f"{count} claim{'s' if count > 1 else ''}"
        out.append(f"- {md(group.cause.text)}: {effect} ({names})")
    out += ["", "| claim | where | status | stated | recomputed | reason |", "|---|---|---|---|---|---|"]
    for change in changes.items[:MARKDOWN_ROWS]:
        stated = change.new_stated if change.new_stated == change.old_stated else \
            f"{change.old_stated or '-'} → {change.new_stated or '-'}"
        recomputed = _figures(change.old_recomputed, change.new_recomputed)
        out.append(f"| {md(change.claim_id)} | {md(_where(change.path, change.line))} | {_transition(change)} | "
                   f"{md(stated or '')} | {recomputed} | {md(change.reason)} |")
    out += _more(changes.total, min(MARKDOWN_ROWS, len(changes.items)))
    return out + [""]


def _figures(old: float | None, new: float | None) -> str:
    def text(value: float | None) -> str:
        return "-" if value is None else f"{value:.4g}"
    return text(new) if old == new else f"{text(old)} → {text(new)}"


# -- the CI job summary ----------------------------------------------------------------------
def summary(report: Report) -> str:
    """A short Markdown summary for a CI job (GitHub's $GITHUB_STEP_SUMMARY)."""
    h = report.headline
    failing = sum(h.counts.get(s, 0) for s in report.fail_on)
    out = [f"### claimdesk nightly: {report.today}, run {report.run_id}: "
           f"{failing} failing ({', '.join(report.fail_on)}), exit {report.exit_code}", "", md(_comparison(report)), "",
           "| status | results | change |", "|---|---:|---:|"]
    out += [f"| {s} | {h.counts.get(s, 0)} | {_delta(h.deltas.get(s) if h.deltas else None)} |" for s in STATUSES]
    out += ["", f"Checked coverage {_pct(h.coverage)} ({h.checked} of {h.quantitative}).", ""]
    for title, changes in (("Newly failing", report.newly_failing), ("Newly fixed", report.newly_fixed)):
        out.append(f"**{title} ({changes.total})**")
        out.append("")
        for change in changes.items[:SUMMARY_ROWS]:
            out.append(f"- {md(change.claim_id)} ({md(_where(change.path, change.line))}) {_transition(change)}: "
                       f"{md(change.causes[0].text)}")
        if changes.total > SUMMARY_ROWS:
            out.append(f"- … and {changes.total - SUMMARY_ROWS} more")
        out.append("")
    out.append(f"Still failing {report.still_failing.total}, stale {report.stale.total}, going stale within 30 days "
               f"{report.going_stale.total}, forecasts due {sum(1 for f in report.forecasts.items if f.due)}, "
               f"conflicts {report.conflicts.total}.")
    return "\n".join(out) + "\n"


# -- plain text ------------------------------------------------------------------------------
def text(report: Report, written: Iterable[str] = ()) -> str:
    """A few lines for a terminal or a log."""
    h = report.headline
    out = [plain(_comparison(report))]
    out.append("counts: " + ", ".join(
        f"{h.counts.get(s, 0)} {s}" + (f" ({_delta(h.deltas.get(s))})" if h.deltas and h.deltas.get(s) else "")
        for s in STATUSES))
    out.append(f"checked coverage: {h.checked} of {h.quantitative} quantitative claims ({_pct(h.coverage)})")
    for title, changes in (("newly failing", report.newly_failing), ("newly fixed", report.newly_fixed),
                           ("other changes", report.other_changes)):
        out.append(f"{title}: {changes.total}")
        for change in changes.items[:SUMMARY_ROWS]:
            out.append(f"  {plain(change.claim_id)}  {plain(_where(change.path, change.line))}  "
                       f"{_transition(change)}  because {plain(change.causes[0].text)}")
        if changes.total > SUMMARY_ROWS:
            out.append(f"  … and {changes.total - SUMMARY_ROWS} more")
    out.append(f"still failing: {report.still_failing.total}; stale: {report.stale.total}; going stale within 30 days: "
               f"{report.going_stale.total}; forecasts due: {sum(1 for f in report.forecasts.items if f.due)}; "
               f"conflicts: {report.conflicts.total}")
    out += [plain(line) for line in written]
    return "\n".join(out)
