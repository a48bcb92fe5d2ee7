"""One claim's computation, step by step: what `claimdesk explain` shows.

It reuses the checker's compiled pieces and verdict, so an explanation can never disagree with
`claimdesk check`. It returns plain data (`Explanation`); the CLI formats it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from .check import Checker
from .expr import ExprError, Ref, refs, render
from .kb import Desk, Located
from .problems import DeskError, did_you_mean
from .results import Result
from .schema import Claim
from .units import DIMENSIONLESS, base_unit_text, parse_unit
from .values import figure_text


@dataclass
class Input:
    name: str  # as written in the expression: batch, low(copilot_session_cost)
    kind: str  # parameter, quantity, claim
    value: float | None  # in `unit`
    unit: str
    where: str  # "data/models/token_cost.yaml:12" or "kb/page.md:30"
    sources: list[str] = field(default_factory=list)
    detail: str = ""  # a quantity's definition; "given" when overridden
    parts: list[Input] = field(default_factory=list)  # a quantity's parameters


@dataclass
class Explanation:
    claim_id: str
    text: str
    where: str
    stated: str | None
    as_of: str
    check: str | None
    given: dict[str, float | str]  # as written: a number, or the name of the figure it reads
    inputs: list[Input]
    substituted: str | None
    base_value: str | None  # the raw result with its dimension, before conversion
    converted: str | None  # the result in the claim's unit
    tolerance: str | None
    result: Result
    error: str | None = None


def explain(desk: Desk, claim_id: str, today: dt.date | None = None) -> Explanation:
    """Explain one claim. Raises DeskError when the id is unknown."""
    checker = Checker(desk, today)
    if claim_id not in checker.claims:
        raise DeskError(f"no claim or parameter '{claim_id}'{did_you_mean(claim_id, checker.claims)}")
    return explain_with(checker, claim_id, checker.run().by_id()[claim_id])


def explain_with(checker: Checker, claim_id: str, result: Result) -> Explanation:
    """Explain one claim with a checker already built and the verdict already known (the site
    takes it from the store's latest run, so that an explanation shows the recorded status)."""
    located = checker.claims[claim_id]
    claim = located.claim
    explanation = Explanation(
        claim.id, claim.text, f"{located.path}:{located.line}",
        f"{claim.value.written} {claim.unit}" if claim.value is not None else None, str(claim.as_of),
        claim.check, dict(claim.given or {}), [], None, None, None, _tolerance(checker, claim_id), result)
    if not claim.check:
        return explanation
    try:
        compiled = checker.compile(claim)
    except ExprError as exc:
        explanation.error = str(exc)
        return explanation
    try:
        given = checker.given_numbers(claim)
    except ExprError as exc:
        explanation.error = str(exc)
        return explanation
    credit = _given_credit(checker, claim, located)
    shown: dict[str, str] = {}
    for ref in _unique(refs(compiled.node)):
        item = _input(checker, ref, given, credit)
        explanation.inputs.append(item)
        shown[ref.key] = f"{figure_text(item.value)} {item.unit}" if item.value is not None else ref.key
    explanation.substituted = render(compiled.node, lambda ref: f"({shown[ref.key]})")
    try:
        recomputed = checker.recompute(claim)
    except ExprError as exc:
        explanation.error = str(exc)
        return explanation
    unit = parse_unit(claim.unit or "")
    base = figure_text(unit.to_base(recomputed))
    if unit.dims == DIMENSIONLESS:
        explanation.base_value = f"{base} (a plain number)"
    else:
        base = f"{base} {base_unit_text(unit.dims)}"
        explanation.base_value = f"{base} (in base units)"
    explanation.converted = f"{base} ÷ {unit.factor:g} = {figure_text(recomputed)} {unit}" if unit.factor != 1 else \
        f"{figure_text(recomputed)} {unit}"
    return explanation


def _unique(items: list[Ref]) -> list[Ref]:
    seen: dict[str, Ref] = {}
    for ref in items:
        seen.setdefault(ref.key, ref)
    return list(seen.values())


def _given_credit(checker: Checker, claim: Claim, located: Located) -> dict[str, tuple[str, list[str], str]]:
    """Where each given value comes from: parameter -> (where, sources, how). A number written in
    `given:` belongs to the claim itself; a name, to the figure it names. Never the parameter's own
    source: the parameter's value is not used."""
    credit = {}
    references = checker.given_references(claim)
    for name, value in (claim.given or {}).items():
        ref = references.get(name)
        if ref is None:
            credit[name] = (f"{located.path}:{located.line}", list(claim.sources),
                            f"given as {figure_text(value) if isinstance(value, float) else value} by this claim")
            continue
        if ref.name in checker.model.parameters or ref.name in checker.model.quantities:
            kind = "parameter" if ref.name in checker.model.parameters else "quantity"
            info = checker.model.parameters.get(ref.name) or checker.model.quantities[ref.name]
            sources = list(info.parameter.sources) if kind == "parameter" else []  # type: ignore[union-attr]
            credit[name] = (f"{info.path}:{info.line}", sources,
                            f"given from model {kind} {ref.key} ({checker.model.unit(ref.name)})")
            continue
        other = checker.claims[ref.name]
        assert other.claim.value is not None
        credit[name] = (f"{other.path}:{other.line}", list(other.claim.sources),
                        f"given from claim {ref.key}, stated {other.claim.value.written} {other.claim.unit}, "
                        f"as of {other.claim.as_of}")
    return credit


def _input(checker: Checker, ref: Ref, given: dict[str, float],
           credit: dict[str, tuple[str, list[str], str]]) -> Input:
    model = checker.model
    if ref.name in model.parameters:
        info = model.parameters[ref.name]
        if ref.name in given:
            where, sources, how = credit[ref.name]
            return Input(ref.key, "parameter", given[ref.name], str(info.unit), where, sources, how)
        return Input(ref.key, "parameter", info.parameter.value.number, str(info.unit), f"{info.path}:{info.line}",
                     list(info.parameter.sources))
    if ref.name in model.quantities:
        info_q = model.quantities[ref.name]
        try:
            value_q: float | None = model.evaluate(ref.name, given)
            detail = f"= {info_q.definition}"
        except ExprError as exc:
            value_q, detail = None, f"= {info_q.definition}; {exc}"
        used = info_q.names
        parts = [_input(checker, Ref(name), given, credit) for name in used]
        return Input(ref.key, "quantity", value_q, str(info_q.unit), f"{info_q.path}:{info_q.line}", [], detail,
                     parts)
    located = checker.claims[ref.name]
    claim = located.claim
    assert claim.value is not None
    return Input(ref.key, "claim", claim.value.part(ref.part), claim.unit or "", f"{located.path}:{located.line}", list(claim.sources),
                 f"stated {claim.value.written} {claim.unit}, as of {claim.as_of}")


def _tolerance(checker: Checker, claim_id: str) -> str | None:
    claim = checker.claims[claim_id].claim
    if claim.value is None:
        return None
    if claim.tolerance:
        kind = "relative" if claim.tolerance.relative else f"absolute, in {claim.unit}"
        return f"tolerance {claim.tolerance.written} ({kind})"
    value = claim.value
    if value.kind == "approx":
        return f"approximate as written: ±{figure_text(value.band)} {claim.unit} (half the last digit of {value.written})"
    if value.kind == "range":
        return f"the range {value.written} {claim.unit}, inclusive"
    if value.kind == "bound":
        return f"the bound {value.written} {claim.unit}"
    return "exact (up to float noise, relative 1e-9)"
