"""Presentation: check results, explanations and the model as terminal text or JSON.

Reads results; never computes or checks anything itself. Plain text is used when the output is
not a terminal (pipes, files, tests), so that it is stable and greppable; a terminal gets a rich
table.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Sequence
from typing import Any

from .explain import Explanation, Input
from .expr import ExprError
from .model import Model, sensitivity
from .results import SEVERITY, Listed, Result, Tally
from .schema import STATUSES
from .values import figure_text

STATUS_STYLE = {"error": "bold red", "mismatch": "red", "conflict": "magenta", "stale": "yellow", "due": "cyan",
                "ok": "green", "unchecked": "dim"}


def summary(tally: Tally) -> str:
    share = f"{tally.checked / tally.quantitative:.0%}" if tally.quantitative else "n/a"
    counts = ", ".join(f"{tally.counts[s]} {s}" for s in STATUSES)
    acknowledged = f"; {tally.acknowledged} with acknowledged findings" if tally.acknowledged else ""
    return (f"{plural(tally.claims, 'claim')} and {plural(tally.parameters, 'model parameter')}: {counts}{acknowledged}; "
            f"checked {tally.checked} of {tally.quantitative} quantitative claims ({share}); as of "
            f"{tally.today.isoformat()}")


def plural(count: int, word: str) -> str:
    """'1 claim', '2 claims'."""
    return f"{count} {word}{'' if count == 1 else 's'}"


def _is_terminal() -> bool:
    return sys.stdout.isatty()


RICH_TABLE_MAX_ROWS = 500  # beyond this a terminal gets plain lines: a boxed table of a big desk helps nobody


def results_table(tally: Tally, results: Sequence[Listed], with_summary: bool = True) -> str:
    """Most severe first, then in desk order, so the findings lead and `ok` trails; the summary
    last unless `with_summary` is False (`claimdesk check` prints it on stderr)."""
    results = sorted(results, key=lambda r: (SEVERITY[r.status], r.path, r.line))
    if _is_terminal() and len(results) <= RICH_TABLE_MAX_ROWS:
        return _rich_table(tally, results, with_summary)
    lines = []
    for r in results:
        lines.append(f"{r.status:<9} {r.claim_id}  {r.path}:{r.line}  {r.reason}")
        lines += [f"{'':<9}   also {a}" for a in r.also]
        lines += [f"{'':<9}   acknowledged {a}" for a in r.acknowledged]
    if with_summary:
        lines.append(summary(tally))
    return "\n".join(lines)


def _rich_table(tally: Tally, results: Sequence[Listed], with_summary: bool = True) -> str:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    table = Table(show_lines=True, expand=True)
    table.add_column("status", no_wrap=True, min_width=9)
    table.add_column("claim", overflow="fold", ratio=1)
    table.add_column("reason", ratio=2)
    for r in results:
        reason = escape(r.reason) + "".join(f"\n[dim]also {escape(a)}[/dim]" for a in r.also) + \
            "".join(f"\n[dim]acknowledged {escape(a)}[/dim]" for a in r.acknowledged)
        claim = f"{escape(r.claim_id)}\n[dim]{escape(r.path)}:{r.line}[/dim]"
        table.add_row(f"[{STATUS_STYLE[r.status]}]{r.status}[/]", claim, reason)
    console = Console(record=True, color_system=None)  # no colours: the terminal guard escapes every ESC
    with console.capture() as capture:
        console.print(table)
        if with_summary:
            console.print(summary(tally))
    return capture.get().rstrip("\n")


def results_json(tally: Tally, results: list[Result]) -> str:
    document: dict[str, Any] = {
        "today": tally.today.isoformat(), "model_fingerprint": tally.model_fingerprint, "counts": tally.counts,
        "results": [dataclasses.asdict(r) for r in results],
    }
    return json.dumps(document, indent=2, ensure_ascii=False)


def explanation_text(e: Explanation) -> str:
    lines = [f"{e.claim_id} ({e.where})", f"  {e.text}"]
    if e.stated:
        lines.append(f"  stated: {e.stated}, as of {e.as_of}")
    if not e.check:
        lines.append("  no check: this claim is not recomputed")
    else:
        lines.append(f"expression: {e.check}")
        if e.given:
            lines.append("given: " + ", ".join(f"{k} = {v if isinstance(v, str) else figure_text(v)}"
                                              for k, v in e.given.items()))
        if e.inputs:
            lines.append("inputs:")
            for item in e.inputs:
                lines += _input_lines(item, "  ")
        if e.substituted:
            lines.append(f"substituted: {e.substituted}")
        if e.base_value:
            lines.append(f"result: {e.base_value}")
        if e.converted:
            lines.append(f"in the claim's unit: {e.converted}")
        if e.error:
            lines.append(f"cannot compute: {e.error}")
    if e.tolerance:
        lines.append(f"tolerance: {e.tolerance}")
    lines.append(f"verdict: {e.result.status}: {e.result.reason}")
    lines += [f"  also {a}" for a in e.result.also]
    lines += [f"  acknowledged {a}" for a in e.result.acknowledged]
    return "\n".join(lines)


def _input_lines(item: Input, indent: str) -> list[str]:
    value = f"{figure_text(item.value)} {item.unit}" if item.value is not None else "(cannot be computed)"
    sources = f"; sources: {', '.join(item.sources)}" if item.sources else ""
    detail = f"; {item.detail}" if item.detail else ""
    lines = [f"{indent}{item.name:<28} {item.kind:<9} {value}  [{item.where}]{detail}{sources}"]
    for part in item.parts:
        lines += _input_lines(part, indent + "    ")
    return lines


def model_text(model: Model) -> str:
    if not model.parameters:
        return "no model: data/models/ holds no model file with parameters (see kb/guide/model-format.md)"
    lines = ["parameters:"]
    for name, p in model.parameters.items():
        lines.append(f"  {name:<26} = {p.parameter.value.written} {p.unit}   "
                     f"(as of {p.parameter.as_of}; {', '.join(p.parameter.sources)})")
    lines.append("")
    lines.append("quantities (each expanded over the parameters, in base units USD, tok, s):")
    for name, q in model.quantities.items():
        try:
            value = f"{figure_text(model.evaluate(name))} {q.unit}"
        except ExprError as exc:
            value = f"cannot be computed: {exc}"
        lines.append(f"  {name} [{q.unit}] := {q.definition}")
        lines.append(f"      = {q.expr}")
        lines.append(f"      -> {value}")
        for condition in q.conditions:
            lines.append(f"      requires {condition.text}")
    for path, table in model.tables:
        lines.append("")
        lines.append(f"{table.title} ({path}):")
        header = [table.vary] + list(table.show)
        lines.append("  " + "  ".join(f"{h:>24}" for h in header))
        for value in table.values:
            row = [f"{figure_text(value)}"]
            for name in table.show:
                try:
                    row.append(f"{figure_text(model.evaluate(name, {table.vary: value}))} {model.unit(name)}")
                except ExprError:
                    row.append("undefined")
            lines.append("  " + "  ".join(f"{c:>24}" for c in row))
    lines.append("")
    lines.append("sensitivity, d log(quantity) / d log(parameter), at the model's values:")
    used = [p for p in model.parameters if any(p in q.names for q in model.quantities.values())]
    lines.append("  " + f"{'':<24}" + "".join(f"{p[:14]:>15}" for p in used))
    for name in model.quantities:
        cells = []
        for parameter in used:
            elasticity = sensitivity(model, name, parameter)
            cells.append(f"{'-' if elasticity is None else f'{elasticity:+.3g}':>15}")
        lines.append(f"  {name:<24}" + "".join(cells))
    return "\n".join(lines)
