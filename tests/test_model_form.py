"""The model's compiled form: sympy's expansions as claimdesk trees, kept in the store, read back
without sympy, and never trusted blindly."""

from __future__ import annotations

import math
import random
import subprocess
import sys
from pathlib import Path

import pytest
import sympy

from claimdesk.expr import BinOp, Call, Num, Ref
from claimdesk.kb import load_desk
from claimdesk.model import Model, build_model, compile_expression, compile_tree, evaluate
from claimdesk.model_form import MAX_FORM_NODES, Unsupported, tree_depth, tree_from_json, tree_json, tree_of

from .conftest import REPO, write_desk

# A model with every kind of quantity the compiler builds: products and quotients, powers, roots,
# min/max/abs, a solved quantity (a square root in its closed form) and a condition.
MODEL = """\
title: Forms
parameters:
  - {id: price, text: p, stance: neutral, sources: [src_a], as_of: 2026, value: 3, unit: USD/Mtok}
  - {id: rate, text: r, stance: neutral, sources: [src_a], as_of: 2026, value: 95, unit: tok/s}
  - {id: k, text: k, stance: neutral, sources: [src_a], as_of: 2026, value: 2, unit: x}
  - {id: cost, text: c, stance: neutral, sources: [src_a], as_of: 2026, value: 30, unit: USD/h}
  - {id: z, text: z, stance: neutral, sources: [src_a], as_of: 2026, value: 2, unit: x}
quantities:
  - {id: per_tok, text: q, expr: cost / (rate * k), unit: USD/Mtok}
  - {id: margin, text: q, expr: price - per_tok, unit: USD/Mtok}
  - {id: share, text: q, expr: margin / price * 100, unit: '%', requires: margin > 0}
  - {id: shaped, text: q, expr: 'sqrt(k) * k ** -2 + abs(k - 3) ** 1.5 + min(k, 4) - max(1 / k, 0.25)', unit: x}
  - {id: solved, text: q, solve_for: k, where: '(k * k - z) / (k + sqrt(z)) = 0', unit: x}
  - {id: deep, text: q, expr: share * 2 + margin / price, unit: '%'}
"""


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory):
    root = write_desk(tmp_path_factory.mktemp("forms") / "desk", {"data/models/forms.yaml": MODEL})
    return load_desk(root)


def _values(model: Model, rng: random.Random) -> dict[str, float]:
    return {name: info.base_value * rng.uniform(0.2, 3.0) for name, info in model.parameters.items()}


def test_trees_compute_what_sympy_compiles(desk) -> None:
    model = build_model(desk)
    assert not model.problems, [str(p) for p in model.problems]
    rng = random.Random(7)
    compared = 0
    for _ in range(200):
        values = _values(model, rng)
        for name, info in model.quantities.items():
            assert info.tree is not None, name
            try:
                expected = evaluate(compile_expression(info.expr), values)
            except ValueError:
                continue
            assert evaluate(model.function(name), values) == pytest.approx(expected, rel=1e-12), name
            compared += 1
    assert compared > 1000


def test_a_model_rebuilt_from_its_form_is_the_same(desk) -> None:
    built = build_model(desk)
    assert built.form is not None
    again = build_model(desk, built.form)
    assert again.form == built.form
    assert all(info.expr is None for info in again.quantities.values())  # sympy was not asked
    assert again.problems == built.problems
    assert list(again.quantities) == list(built.quantities)
    for name, info in built.quantities.items():
        other = again.quantities[name]
        assert (other.tree, other.dims, other.unit, other.definition, other.uses, other.names) == \
            (info.tree, info.dims, info.unit, info.definition, info.uses, info.names)
        assert other.conditions == info.conditions
    rng = random.Random(3)
    for _ in range(50):
        overrides = {name: info.parameter.value.number * rng.uniform(0.5, 2) for name, info in built.parameters.items()}
        for name in built.quantities:
            results = []
            for model in (built, again):
                try:
                    results.append(model.evaluate(name, overrides))
                except ValueError as exc:
                    results.append(str(exc))
            assert results[0] == results[1], name


def test_the_form_keeps_the_problems_compiling_found(tmp_path: Path) -> None:
    broken = MODEL + "  - {id: loop_a, text: q, expr: loop_b, unit: x}\n  - {id: loop_b, text: q, expr: loop_a, unit: x}\n"
    desk = load_desk(write_desk(tmp_path / "desk", {"data/models/forms.yaml": broken}))
    built = build_model(desk)
    assert any("cycle" in p.message for p in built.problems)
    assert build_model(desk, built.form).problems == built.problems


@pytest.mark.parametrize("damage", [
    lambda form: "not json",
    lambda form: "[]",
    lambda form: '{"version": 99}',
    lambda form: '{"version": 1, "quantities": {"nope": {}}, "conditions": [], "problems": []}',
    lambda form: form.replace('"sqrt"', '"__import__"'),
    lambda form: form.replace('"+"', '"@"'),
    lambda form: form.replace('"dims":[', '"dims":["x",'),
])
def test_a_damaged_form_is_ignored(desk, damage) -> None:
    built = build_model(desk)
    rebuilt = build_model(desk, damage(built.form))
    assert rebuilt.form == built.form  # compiled again, with sympy
    assert all(info.expr is not None for info in rebuilt.quantities.values())


def test_reading_a_form_is_bounded() -> None:
    deep: object = "k"
    for _ in range(1000):
        deep = ["neg", deep]
    with pytest.raises(ValueError, match="too large"):
        tree_from_json(deep)
    with pytest.raises(ValueError, match="too large"):
        tree_from_json(["min", *(["abs", 1.0] for _ in range(MAX_FORM_NODES))])
    for bad in [True, {"a": 1}, ["call", 1], ["min"], ["+", 1.0], ["neg", 1, 2]]:
        with pytest.raises(ValueError):
            tree_from_json(bad)


def test_tree_of_converts_what_the_model_builds() -> None:
    x, y = sympy.symbols("x y")
    assert tree_of(x * y ** -1) == BinOp("/", Ref("x"), Ref("y"))
    assert tree_of(sympy.sqrt(x)) == Call("sqrt", (Ref("x"),))
    assert tree_of(x ** -2) == BinOp("/", Num(1.0, "1.0"), BinOp("**", Ref("x"), Num(2.0, "2.0")))
    assert tree_of(sympy.Rational(1, 3)).value == pytest.approx(1 / 3)
    assert math.isnan(tree_of(sympy.zoo).value)
    with pytest.raises(Unsupported):
        tree_of(x ** y)
    with pytest.raises(Unsupported):
        tree_of(sympy.sin(x))
    assert tree_from_json(tree_json(tree_of(sympy.Max(x, 2 * y) + abs(x)))) == tree_of(sympy.Max(x, 2 * y) + abs(x))


def test_a_long_sum_stays_shallow() -> None:
    symbols = sympy.symbols("a0:600")
    tree = tree_of(sympy.Add(*symbols))
    assert tree_depth(tree) < 40  # a left-to-right chain would nest 600 deep
    function, names = compile_tree(tree)
    assert evaluate((function, names), {s.name: float(i) for i, s in enumerate(symbols)}) == sum(range(600))


def test_an_incremental_check_does_not_import_sympy_or_pyarrow(tmp_path: Path) -> None:
    """The second `claimdesk check` of a desk whose model did not change builds the model from the
    store's form: sympy is never imported; its few rows reach the store without pyarrow (or numpy)."""
    root = write_desk(tmp_path / "desk", {})
    claimdesk = [sys.executable, "-c", "import sys; from claimdesk.cli import main; sys.argv[0] = 'claimdesk'; "
                 "code = 0\ntry:\n    main()\nexcept SystemExit as e:\n    code = e.code\n"
                 "print('sympy imported' if 'sympy' in sys.modules else 'no sympy', file=sys.stderr)\n"
                 "print('arrow imported' if {'pyarrow', 'numpy'} & set(sys.modules) else 'no arrow', file=sys.stderr)"]
    first = subprocess.run([*claimdesk, "check", str(root)], capture_output=True, text=True, cwd=root)
    assert "full run" in first.stderr and "sympy imported" in first.stderr, first.stderr
    page = root / "kb" / "base.md"
    page.write_text(page.read_text(encoding="utf-8").replace("value: 10", "value: 11") + "\nOne more sentence.\n",
                    encoding="utf-8")
    second = subprocess.run([*claimdesk, "check", str(root)], capture_output=True, text=True, cwd=root)
    assert "incremental" in second.stderr and "no sympy" in second.stderr and "no arrow" in second.stderr, \
        second.stderr
    fresh = subprocess.run([*claimdesk, "check", "--no-store", str(root)], capture_output=True, text=True, cwd=root)
    assert second.stdout == fresh.stdout  # what the store was told without Arrow is what a full check finds


def test_the_bundled_model_has_a_form() -> None:
    assert build_model(load_desk(REPO)).form is not None


def test_an_expansion_without_a_tree_is_computed_by_sympy(desk, monkeypatch: pytest.MonkeyPatch) -> None:
    """A quantity whose expansion has a part claimdesk's tree lacks keeps sympy's compiled code, and
    the model is then not kept as a form (every run compiles it)."""
    import claimdesk.model as model_module

    real = model_module.tree_of

    def no_sqrt(expression):
        if expression.has(sympy.sqrt(sympy.Symbol("z"))):
            raise Unsupported("sqrt, for this test")
        return real(expression)

    monkeypatch.setattr(model_module, "tree_of", no_sqrt)
    model = build_model(desk)
    assert model.quantities["solved"].tree is None and model.form is None
    assert model.quantities["per_tok"].tree is not None
    assert model.evaluate("solved") == pytest.approx(2 ** 0.5)
    assert model.quantities["solved"].names == ["z"]
