"""Desk-wide rules over what kb.py read: ids unique across pages and models, sources known and
used, `via` and `given` naming things that exist, a metric measured in one dimension.

Per-file rules (YAML safety, field types) are found while reading; this module adds the rules
that need the whole desk. It reads a `Desk` and returns problems; it never changes anything.

Every problem has an owner: what has to change for the problem to change. A page owns its own
problems (format, unknown sources, `given`, unreadable checks); an id owns its duplicate-id
problems; a metric owns its dimension problems; a source owns its "no claim cites" warning; the
data files own the rest. `owned_problems` finds them for the whole desk or, given a `Scope`, for
some pages, ids and metrics only, with the context of the rest of the desk given as data (the
store supplies it in an incremental run, see job.py). One implementation serves both, so an
incremental validation gives exactly the problems of a full one.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from .expr import ExprError, parse
from .kb import SOURCES_FILE, Desk, Located, PageRecord, Reference, model_references, page_claims, page_references
from .model import Model, build_model
from .problems import Problem, did_you_mean
from .schema import given_reference, given_text_message
from .site.refs import desk_reference_problems, reference_problems
from .text_figures import text_contradiction
from .units import parse_unit

# (owner kind, owner, problem); kinds: page (a path), references (a path: its inline references,
# which edits to other pages can break or mend), id, metric, source (a key), data ("")
Owned = tuple[str, str, Problem]
OWNER_KINDS = ("page", "references", "id", "metric", "source", "data")


class MetricClaim(NamedTuple):
    """What the metric-dimension rule reads of a claim."""

    metric: str
    unit: str
    path: str
    line: int
    field: str  # claims[3]


def metric_claims(claims: Iterable[Located]) -> list[MetricClaim]:
    return [MetricClaim(c.claim.metric, c.claim.unit, c.path, c.line, c.field) for c in claims
            if c.claim.metric and c.claim.unit]


@dataclass
class Scope:
    """The part of a desk to validate, with the desk-wide context the rules need from the rest.

    Problems owned by the data files and by sources (the "no claim cites" warnings) are always
    found again: they are few and the data files are read whole."""

    pages: list[PageRecord]  # the pages whose own problems are wanted
    ids: set[str]  # the ids whose duplicate-id problems are wanted
    occurrences: list[Reference]  # every claim on a page that has one of `ids`, in desk order
    metrics: set[str]  # the metrics whose dimension problems are wanted
    metric_claims: list[MetricClaim]  # every valid claim of one of `metrics` that states a unit, in desk order
    cited: set[str] = field(default_factory=set)  # sources cited by claims on pages not in `pages`
    # (path, body line) of the pages whose inline references are wanted, and every id they may name
    referencing: list[tuple[str, int]] = field(default_factory=list)
    known_ids: Callable[[], Iterable[str]] = tuple


def validate_desk(desk: Desk, model: Model | None = None, checks: bool = False) -> list[Problem]:
    """Every problem in the desk, per-file and desk-wide, sorted by file and line. Pass the
    desk's `Model` when it is built already (the checker needs it too). With `checks`, also every
    check the checker cannot compute (see `check_errors`): what `claimdesk validate` reports."""
    model = model or build_model(desk)
    problems = merged(owned_problems(desk, model))
    if checks:
        problems = sorted(set(problems) | set(check_errors(desk, model, problems)),
                          key=lambda p: (p.path, p.line, p.field, p.message))
    return problems


def check_errors(desk: Desk, model: Model, known: list[Problem]) -> list[Problem]:
    """The checks that cannot be computed (an unknown name, a unit of another dimension, a given
    naming nothing, a cycle, ...): the results `claimdesk check` gives status `error`, as located
    problems, so that validate reports every error check would. A claim whose check or given
    already has a format problem in `known` is not reported twice."""
    from .check import Checker

    run = Checker(desk, model=model).run()
    located: dict[str, Located] = {}
    for claim in desk.parameters() + desk.claims():
        located.setdefault(claim.claim.id, claim)
    reported = {(p.path, p.field.split(".")[0]) for p in known
                if p.field.endswith(".check") or ".given." in p.field}
    problems = []
    for result in run.results:
        if result.status != "error" or result.claim_id not in located:
            continue
        where = located[result.claim_id]
        if (where.path, where.field) in reported:
            continue
        reason = result.reason.removeprefix(f"check '{result.check}': ") if result.check else result.reason
        problems.append(Problem(where.path, where.line, f"{where.field}.check", reason))
    return problems


def merged(owned: Iterable[Owned]) -> list[Problem]:
    """The problems, each once, sorted by file, line, field and message."""
    return sorted({problem for _, _, problem in owned}, key=lambda p: (p.path, p.line, p.field, p.message))


def owned_problems(desk: Desk, model: Model, scope: Scope | None = None) -> list[Owned]:
    """The desk's problems with their owners; with `scope`, only those the scope owns (plus the
    data files' and the sources')."""
    pages = desk.pages if scope is None else scope.pages
    page_refs = [ref for record in pages for ref in page_references(record)]
    model_refs = [ref for m in desk.models for ref in model_references(m)]
    claims = [located for record in pages for located in page_claims(record)]
    out: list[Owned] = [("data", "", p) for p in desk.problems]
    out += [("page", record.path, p) for record in pages for p in record.problems]
    out += [("data", "", p) for m in desk.models for p in m.problems]
    if scope is None:
        occurrences = [ref for ref in page_refs if ref.claim_id]
        out += [("id", name, p) for name, p in _duplicate_ids(desk, occurrences)]
        out += [("metric", metric, p) for metric, p in _metric_dimensions(metric_claims(claims))]
    else:
        out += [("id", name, p) for name, p in _duplicate_ids(desk, scope.occurrences) if name in scope.ids]
        out += [("metric", metric, p) for metric, p in _metric_dimensions(scope.metric_claims)
                if metric in scope.metrics]
    out += _source_references(desk, page_refs, model_refs, set() if scope is None else scope.cited)
    out += [("page", p.path, p) for p in _given_names(desk, claims)]
    out += [("page", p.path, p) for p in _missing_from_nav(desk.root, [record.path for record in pages])]
    out += [("page", located.path, Problem(located.path, located.line, f"{located.field}.text", warning, "warning"))
            for located in claims if (warning := text_contradiction(located.claim))]
    out += [("data", "", p) for p in model.problems]
    out += [("page", p.path, p) for p in _unreadable_checks(claims)]
    if scope is None:
        out += [("references", p.path, p) for p in desk_reference_problems(desk, pages)]
    else:
        out += [("references", p.path, p) for p in reference_problems(desk.root, scope.referencing, scope.known_ids)]
    return out


def _duplicate_ids(desk: Desk, occurrences: list[Reference]) -> list[tuple[str, Problem]]:
    """`occurrences`: claims on pages with an id, in desk order (the models' ids come first)."""
    first: dict[str, tuple[str, int]] = {}
    problems = []
    named: list[tuple[str, str, int, str]] = []  # (id, path, line, field)
    for model in desk.models:
        named += [(p.id, model.path, line, f"{where}.id") for p, line, where in model.parameter_lines()]
        named += [(q.id, model.path, line, f"{where}.id") for q, line, where in model.quantity_lines()]
    named += [(r.claim_id, r.path, r.id_line, f"{r.field}.id") for r in occurrences
              if r.claim_id and r.field.startswith("claims")]
    for name, path, line, field_name in named:
        if name in first:
            where = f"{first[name][0]}:{first[name][1]}"
            problems.append((name, Problem(path, line, field_name, f"duplicate id '{name}' (also at {where}); ids "
                                                                  "are unique across the desk and its models")))
        else:
            first[name] = (path, line)
    return problems


def _source_references(desk: Desk, page_refs: list[Reference], model_refs: list[Reference],
                       cited_elsewhere: set[str]) -> list[Owned]:
    if not desk.sources_readable:
        return []  # the file's own error says it all; every citation would be "unknown"
    problems: list[Owned] = []
    cited = set(cited_elsewhere)
    for owner_kind, references in (("page", page_refs), ("data", model_refs)):
        for reference in references:
            for i, (source_id, line) in enumerate(reference.sources):
                cited.add(source_id)
                if source_id not in desk.sources and source_id not in desk.source_lines:
                    problems.append((owner_kind, reference.path if owner_kind == "page" else "", Problem(
                        reference.path, line, f"{reference.field}.sources[{i}]",
                        f"unknown source '{source_id}'{did_you_mean(source_id, desk.sources)}; "
                        f"sources are listed in {SOURCES_FILE}")))
    for key, source in desk.sources.items():
        if source.via:
            cited.add(source.via)
            if source.via not in desk.source_lines:
                problems.append(("data", "", Problem(
                    SOURCES_FILE, desk.source_lines[key], f"{key}.via",
                    f"unknown source '{source.via}'{did_you_mean(source.via, desk.sources)}")))
    for key in desk.sources:
        if key not in cited:
            problems.append(("source", key, Problem(SOURCES_FILE, desk.source_lines[key], key,
                                                    "no claim cites this source", "warning")))
    return problems


def _given_names(desk: Desk, claims: list[Located]) -> list[Problem]:
    """`given:` names parameters, and each value is a number or a name. Whether a name exists and
    has the parameter's dimension depends on the rest of the desk: the checker finds that (status
    `error`), and `claimdesk validate` reports it too (see `check_errors`)."""
    parameters = {p.claim.id: p.claim.unit or "" for p in desk.parameters()}
    problems = []
    for located in claims:
        for name, value in (located.claim.given or {}).items():
            where = f"{located.field}.given.{name}"
            if name not in parameters:
                problems.append(Problem(located.path, located.line, where,
                                        f"'{name}' is not a model parameter{did_you_mean(name, parameters)}; "
                                        "given overrides parameters (see `claimdesk model`)"))
            elif isinstance(value, str) and given_reference(value) is None:
                problems.append(Problem(located.path, located.line, where,
                                        given_text_message(name, value, parameters[name])))
    return problems


MKDOCS_FILE = "mkdocs.yml"


def _missing_from_nav(root: Path, paths: list[str]) -> list[Problem]:
    """A page under kb/ that an explicit `nav:` in mkdocs.yml leaves out is not reachable from the
    site's navigation: a warning at the page. No mkdocs.yml, no `nav:`, or a file claimdesk cannot
    read safely (MkDocs' own `!!python` tags): nothing to say."""
    nav = nav_pages(root)
    if nav is None:
        return []
    return [Problem(path, 1, "", f"not in the nav of {MKDOCS_FILE}, so the site's navigation does not reach it; "
                                 f"add it there (e.g. `- Title: {path.removeprefix('kb/')}`)", "warning")
            for path in paths if path.removeprefix("kb/") not in nav]


def nav_pages(root: Path) -> set[str] | None:
    """The pages (relative to kb/) that mkdocs.yml's explicit `nav:` lists; None without one."""
    from .frontmatter import decode, parse_yaml

    file = root / MKDOCS_FILE
    try:
        raw = file.read_bytes() if file.is_file() and file.stat().st_size <= 1024 * 1024 else None
    except OSError:
        return None
    text = decode(raw, MKDOCS_FILE)[0] if raw is not None else None
    loaded = parse_yaml(text, MKDOCS_FILE) if text is not None else None
    if loaded is None or loaded.problems or not isinstance(loaded.data, dict) or "nav" not in loaded.data:
        return None
    found: set[str] = set()
    stack = [loaded.data["nav"]]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            found.add(item.strip().lstrip("./"))
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, dict):
            stack.extend(item.values())
    return found


def mkdocs_hash(root: Path) -> str:
    """The content hash of mkdocs.yml ('' without one): a run's problems depend on its nav."""
    from .kb import content_hash

    try:
        return content_hash((root / MKDOCS_FILE).read_bytes())
    except OSError:
        return ""


def _metric_dimensions(claims: list[MetricClaim]) -> list[tuple[str, Problem]]:
    """`claims` in desk order."""
    by_metric: dict[str, list[MetricClaim]] = defaultdict(list)
    for claim in claims:
        by_metric[claim.metric].append(claim)
    problems = []
    for metric, members in by_metric.items():
        first = members[0]
        first_unit = parse_unit(first.unit)
        for other in members[1:]:
            unit = parse_unit(other.unit)
            if unit.dims != first_unit.dims:
                problems.append((metric, Problem(
                    other.path, other.line, f"{other.field}.unit",
                    f"metric '{metric}' is {first_unit.dimension} ({first_unit} at {first.path}:{first.line}) "
                    f"but this claim states it in {unit} ({unit.dimension})")))
    return problems


def _unreadable_checks(claims: list[Located]) -> list[Problem]:
    """Checks that cannot even be read. Whether a readable check computes is the checker's
    finding (status `error`), not a format problem."""
    problems = []
    for located in claims:
        if located.claim.check:
            try:
                parse(located.claim.check)
            except ExprError as exc:
                problems.append(Problem(located.path, located.line, f"{located.field}.check", str(exc)))
    return problems
