"""numeric.py compiles claimdesk's expression tree into float functions: the same figures as the
sympy path (the oracle here), and the same errors."""

from __future__ import annotations

import math
import random

import pytest
import sympy

from claimdesk import numeric
from claimdesk.expr import ExprError, Ref, parse, refs, to_sympy
from claimdesk.model import call, compile_expression

NAMES = ("a", "b", "c", "d")


def _random_expression(rng: random.Random, depth: int) -> str:
    if depth == 0 or rng.random() < 0.3:
        return rng.choice(NAMES + ("2", "0.5", "12", "1e3", "0.333333"))
    roll = rng.random()
    if roll < 0.6:
        op = rng.choice(("+", "-", "*", "/"))
        return f"({_random_expression(rng, depth - 1)} {op} {_random_expression(rng, depth - 1)})"
    if roll < 0.7:
        return f"({_random_expression(rng, depth - 1)}) ** {rng.choice(('2', '0.5', '-1', '0.25', '3'))}"
    if roll < 0.8:
        return f"-{_random_expression(rng, depth - 1)}"
    if roll < 0.9:
        return f"{rng.choice(('min', 'max'))}({_random_expression(rng, depth - 1)}, {_random_expression(rng, depth - 1)})"
    return f"{rng.choice(('abs', 'sqrt'))}({_random_expression(rng, depth - 1)})"


def _compiled(text: str) -> tuple[object, list[str]]:
    names: list[str] = []

    def leaf(ref: Ref) -> numeric.Evaluate:
        if ref.name not in names:
            names.append(ref.name)
        return numeric.slot(names.index(ref.name))

    return numeric.as_positional(numeric.compile_node(parse(text), leaf)), names


def _outcome(function: object, arguments: list[float]) -> float | str:
    try:
        return call(function, arguments)  # type: ignore[arg-type]
    except ExprError:
        return "error"


@pytest.mark.parametrize("seed", range(300))
def test_same_figure_as_sympy(seed: int) -> None:
    rng = random.Random(seed)
    text = _random_expression(rng, 4)
    values = {name: rng.choice((rng.uniform(0.1, 50), rng.uniform(-5, 5))) for name in NAMES}
    function, names = _compiled(text)
    ours = _outcome(function, [values[n] for n in names])
    node = parse(text)
    symbols = {ref.name: sympy.Symbol(ref.name) for ref in refs(node)}
    try:
        expression = to_sympy(node, lambda ref: symbols[ref.name])
    except (ValueError, TypeError):
        return  # sympy refuses some constant sub-expressions (min of a complex number) outright
    if expression.has(sympy.zoo, sympy.nan, sympy.oo, -sympy.oo):
        return  # sympy folds a constant division by zero away; nothing to compare
    oracle_function, oracle_names = compile_expression(expression)
    oracle = _outcome(oracle_function, [values[n] for n in oracle_names])
    if "0.333333" in text or "error" in (ours, oracle):
        # sympy reads 0.333333 as 1/3 (expr rounds exponents to fractions) and simplifies x - x
        # and x / x away where floats can fail; compare only where both paths compute plainly.
        return
    assert isinstance(ours, float) and isinstance(oracle, float)
    assert math.isclose(ours, oracle, rel_tol=1e-9, abs_tol=1e-12), text


def test_errors_are_expression_errors() -> None:
    cases = {"a / (b - b)": "division by zero", "sqrt(a - 10)": "cannot be computed",
             "(a - 10) ** 0.5": "no real value", "a ** 64 * a ** 64 * a ** 64": "cannot be computed"}
    for text, message in cases.items():
        function, names = _compiled(text)
        with pytest.raises(ExprError, match=message):
            call(function, [1e10 if text.startswith("a ** 64") else 1.0 for _ in names])  # type: ignore[arg-type]


def test_exponent_is_the_number_written() -> None:
    function, _ = _compiled("a ** 0.0001")
    assert call(function, [5.0]) == 5.0 ** 0.0001 != 1.0  # type: ignore[arg-type]


@pytest.mark.parametrize("seed", range(50))
def test_numbers_keep_the_text_written(seed: int) -> None:
    """The parser keeps each number's text as written (shown in messages and explanations)."""
    import ast

    from claimdesk.expr import Num

    text = _random_expression(random.Random(seed), 4) + " + 2.50 * 1_2 - 0.0833"
    written = [ast.get_source_segment(text, n) for n in ast.walk(ast.parse(text, mode="eval"))
               if isinstance(n, ast.Constant)]

    def numbers(node: object) -> list[str]:
        if isinstance(node, Num):
            return [node.text]
        return [t for child in getattr(node, "__dict__", {}).values()
                for item in (child if isinstance(child, tuple) else (child,)) for t in numbers(item)]

    # an exponent keeps its sign with it (x ** -1): compare the digits as written
    assert sorted(n.lstrip("-") for n in numbers(parse(text))) == sorted(w for w in written if w is not None)
