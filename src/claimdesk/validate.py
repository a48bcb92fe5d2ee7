"""Desk-wide rules over what kb.py read: ids unique across pages and models, sources known and
used, `via` and `given` naming things that exist, a metric measured in one dimension.

Per-file rules (YAML safety, field types) are found while reading; this module adds the rules
that need the whole desk. It reads a `Desk` and returns problems; it never changes anything.
"""

from __future__ import annotations

from collections import defaultdict

from .expr import ExprError, parse
from .kb import SOURCES_FILE, Desk, Located
from .model import Model, build_model
from .problems import Problem, did_you_mean
from .units import parse_unit


def validate_desk(desk: Desk, model: Model | None = None) -> list[Problem]:
    """Every problem in the desk, per-file and desk-wide, sorted by file and line. Pass the
    desk's `Model` when it is built already (the checker needs it too)."""
    problems = desk.all_problems()
    problems += _duplicate_ids(desk)
    problems += _source_references(desk)
    problems += _given_names(desk)
    problems += _metric_dimensions(desk)
    problems += _expressions(desk, model or build_model(desk))
    return sorted(set(problems), key=lambda p: (p.path, p.line, p.field, p.message))


def _duplicate_ids(desk: Desk) -> list[Problem]:
    first: dict[str, tuple[str, int]] = {}
    problems = []
    named: list[tuple[str, str, int, str]] = []  # (id, path, line, field)
    for model in desk.models:
        named += [(p.id, model.path, line, f"{where}.id") for p, line, where in model.parameter_lines()]
        named += [(q.id, model.path, line, f"{where}.id") for q, line, where in model.quantity_lines()]
    named += [(r.claim_id, r.path, r.id_line, f"{r.field}.id") for r in desk.references()
              if r.claim_id and r.field.startswith("claims")]
    for name, path, line, field in named:
        if name in first:
            where = f"{first[name][0]}:{first[name][1]}"
            problems.append(Problem(path, line, field, f"duplicate id '{name}' (also at {where}); ids are "
                                                       "unique across the desk and its models"))
        else:
            first[name] = (path, line)
    return problems


def _source_references(desk: Desk) -> list[Problem]:
    if not desk.sources_readable:
        return []  # the file's own error says it all; every citation would be "unknown"
    problems = []
    cited: set[str] = set()
    for reference in desk.references():
        for i, (source_id, line) in enumerate(reference.sources):
            cited.add(source_id)
            if source_id not in desk.sources and source_id not in desk.source_lines:
                problems.append(Problem(reference.path, line, f"{reference.field}.sources[{i}]",
                                        f"unknown source '{source_id}'{did_you_mean(source_id, desk.sources)}; "
                                        f"sources are listed in {SOURCES_FILE}"))
    for key, source in desk.sources.items():
        if source.via:
            cited.add(source.via)
            if source.via not in desk.source_lines:
                problems.append(Problem(SOURCES_FILE, desk.source_lines[key], f"{key}.via",
                                        f"unknown source '{source.via}'{did_you_mean(source.via, desk.sources)}"))
    for key in desk.sources:
        if key not in cited:
            problems.append(Problem(SOURCES_FILE, desk.source_lines[key], key,
                                    "no claim cites this source", "warning"))
    return problems


def _given_names(desk: Desk) -> list[Problem]:
    parameters = {p.claim.id for p in desk.parameters()}
    problems = []
    for located in desk.claims():
        for name in located.claim.given or {}:
            if name not in parameters:
                problems.append(Problem(located.path, located.line, f"{located.field}.given.{name}",
                                        f"'{name}' is not a model parameter{did_you_mean(name, parameters)}; "
                                        "given overrides parameters (see `claimdesk model`)"))
    return problems


def _metric_dimensions(desk: Desk) -> list[Problem]:
    by_metric: dict[str, list[Located]] = defaultdict(list)
    for located in desk.claims():
        if located.claim.metric and located.claim.unit:
            by_metric[located.claim.metric].append(located)
    problems = []
    for metric, claims in by_metric.items():
        first = claims[0]
        first_unit = parse_unit(first.claim.unit or "")
        for other in claims[1:]:
            unit = parse_unit(other.claim.unit or "")
            if unit.dims != first_unit.dims:
                problems.append(Problem(
                    other.path, other.line, f"{other.field}.unit",
                    f"metric '{metric}' is {first_unit.dimension} ({first_unit} at {first.path}:{first.line}) "
                    f"but this claim states it in {unit} ({unit.dimension})"))
    return problems


def _expressions(desk: Desk, model: Model) -> list[Problem]:
    """Checks that cannot even be read, and the model's own problems. Whether a readable check
    computes is the checker's finding (status `error`), not a format problem."""
    problems = list(model.problems)
    for located in desk.claims():
        if located.claim.check:
            try:
                parse(located.claim.check)
            except ExprError as exc:
                problems.append(Problem(located.path, located.line, f"{located.field}.check", str(exc)))
    return problems
