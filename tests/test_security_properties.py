"""Property tests: whatever text a contributor writes, the front-matter loader, the expression
parser and the unit parser give a value or a located error, never an exception, and finish.

The budget is bounded for CI: a fixed number of examples per property, derandomized (the same
examples on every run, so a failure reproduces), and hypothesis's per-example deadline as the
time bound (generous: the machine running the tests may be loaded)."""

from __future__ import annotations

import datetime as dt
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from claimdesk.check import check_desk
from claimdesk.expr import ExprError, dims_of, parse, parse_condition, parse_equation, to_sympy
from claimdesk.frontmatter import parse_yaml
from claimdesk.kb import load_page
from claimdesk.problems import printable
from claimdesk.units import MAX_FACTOR, MIN_FACTOR, UnitError, parse_unit

from .conftest import write_desk

BUDGET = settings(max_examples=150, deadline=2000, derandomize=True, database=None,
                  suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

YAML_PIECES = ["---", "...", "\n", "\n  ", "\n  - ", ": ", "- ", "[", "]", "{", "}", ",", "'", '"', "#", "|", ">",
               "&a ", "*a", "!!str ", "!!python/object ", "<<: ", "? ", "~", "null", "1e999", ".nan", "-.inf",
               "2024-02-30", "2026-05", "0x1F", "1_000", "NO", "\t", "\r\n", "\x00", "\x1b[2K", "\ufeff", "\u202e",
               "\ud800", "é", "💥", "claims:", "id: a", "value: ", "unit: USD", "check: ", "as_of: 2026",
               "sources: [src_a]", "stance: bull", "9" * 40, "(" * 40]
yaml_text = st.lists(st.one_of(st.sampled_from(YAML_PIECES), st.text(max_size=8)), max_size=40).map("".join)

EXPR_PIECES = ["a", "b", "batch", "price_per_mtok", "x.y", "1", "0", "2.5", "1e308", "1e-400", "9" * 35, "0x10",
               "1_0", "+", "-", "*", "/", "**", "^", "//", "%", "(", ")", ",", " ", "min(", "max(", "abs(", "sqrt(",
               "low(", "mid(", "__import__", "lambda", "'s'", "[1]", "=", "==", ">", "<=", "not ", "64", "0.0833",
               "\n", "\x00", "é"]
expression_text = st.lists(st.sampled_from(EXPR_PIECES), max_size=30).map("".join)

UNIT_PIECES = ["USD", "tok", "Mtok", "Ztok", "s", "h", "day", "year", "%", "x", "bn", "k", "M", "Z", "^9", "^-9", "^2",
               "^", "/", "*", " ", "$", "parsecs", "1", "tok^9", "é", "\x00"]
unit_text = st.lists(st.sampled_from(UNIT_PIECES), max_size=20).map("".join)


def assert_located(problems: list, path: str, lines: int) -> None:
    for problem in problems:
        assert problem.path == path and isinstance(problem.line, int) and 0 <= problem.line <= lines + 2
        assert problem.message and printable(str(problem)) == str(problem)  # nothing raw reaches a terminal


@BUDGET
@given(yaml_text)
def test_yaml_gives_data_or_located_problems(text: str) -> None:
    loaded = parse_yaml(text, "data/x.yaml")
    assert_located(loaded.problems, "data/x.yaml", text.count("\n"))
    assert loaded.fatal == (loaded.data is None) or loaded.data is None or not loaded.fatal


@BUDGET
@given(yaml_text)
def test_a_page_gives_claims_or_located_problems(text: str) -> None:
    raw = f"---\n{text}\n---\n# body\n".encode("utf-8", "surrogatepass")
    record = load_page("kb/p.md", raw)
    assert_located(record.problems, "kb/p.md", raw.count(b"\n"))


@BUDGET
@given(st.binary(max_size=300))
def test_a_page_of_any_bytes(raw: bytes) -> None:
    record = load_page("kb/p.md", b"---\n" + raw + b"\n---\n")
    assert_located(record.problems, "kb/p.md", raw.count(b"\n") + 3)


def _bounded(value: float) -> None:
    assert isinstance(value, float)


@BUDGET
@given(expression_text)
def test_expressions_parse_or_say_why(text: str) -> None:
    import sympy

    try:
        node = parse(text)
    except ExprError as exc:
        assert str(exc)
        return
    symbols: dict[str, sympy.Symbol] = {}
    expression = to_sympy(node, lambda ref: symbols.setdefault(ref.key, sympy.Symbol(ref.name, positive=True)))
    try:
        dims_of(node, lambda ref: (1, -1, 0))
    except ExprError as exc:
        assert str(exc)
    value = expression.subs({s: 2 for s in symbols.values()})
    assert value is not None


@BUDGET
@given(expression_text, st.sampled_from([">", ">=", "<", "<=", "="]), expression_text)
def test_conditions_and_equations_parse_or_say_why(left: str, op: str, right: str) -> None:
    try:
        if op == "=":
            parse_equation(f"{left} = {right}")
        else:
            parse_condition(f"{left} {op} {right}")
    except ExprError as exc:
        assert str(exc)


@BUDGET
@given(unit_text)
def test_units_parse_or_say_why(text: str) -> None:
    try:
        unit = parse_unit(text)
    except UnitError as exc:
        assert str(exc)
        return
    assert math.isfinite(unit.factor) and MIN_FACTOR <= unit.factor <= MAX_FACTOR
    assert math.isfinite(unit.from_base(unit.to_base(1.0)))


@pytest.fixture(scope="module")
def desk_root(tmp_path_factory: pytest.TempPathFactory):
    return write_desk(tmp_path_factory.mktemp("prop") / "desk", {})


@settings(max_examples=60, deadline=5000, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.sampled_from(["~0e400", "~0e309", "1e300", "~0", "0", "[0, 1e300]", ">=1e-300", "~1.5e-300"]),
       unit_text, expression_text, st.sampled_from(["", "stale_after: 1000000000 weeks", "stale_after: 1 day",
                                                    "review_by: 9999-12-31", "stale_after: 99999999999999999999 days"]),
       st.sampled_from(["2026-05", "9999", "0001", "2026-Q4"]))
def test_a_claim_is_checked_or_located(desk_root, value: str, unit: str, check: str, extra: str, as_of: str) -> None:
    from claimdesk.kb import load_desk

    page = f"""---
title: Generated
claims:
  - id: generated
    text: A generated claim.
    stance: neutral
    sources: [src_a]
    as_of: {as_of}
    value: "{value}"
    unit: "{printable(unit).replace('"', '')}"
    check: "{printable(check).replace('"', '')}"
    {extra}
  - id: other
    text: Another claim of the metric.
    stance: neutral
    sources: [src_a]
    as_of: {as_of}
    value: 0
    unit: USD
    metric: m.zero
---
"""
    (desk_root / "kb" / "generated.md").write_text(page)
    desk = load_desk(desk_root)
    for record in desk.pages:
        assert_located(record.problems, record.path, 40)
    run = check_desk(desk, dt.date(2026, 11, 22))
    assert all(printable(r.reason) == r.reason for r in run.results)
