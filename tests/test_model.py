"""The shared token-cost model reproduces the seed's table and behaves at its edges."""

from __future__ import annotations

import pytest

from claimdesk.expr import ExprError
from claimdesk.kb import load_desk
from claimdesk.model import build_model, sensitivity

from .conftest import REPO, write_desk


@pytest.fixture(scope="module")
def model():
    built = build_model(load_desk(REPO))
    assert built.problems == []
    return built


# The seed's own table ("The economics of a token"), to the digits it prints.
@pytest.mark.parametrize("batch, cost, margin", [(1, 87.72, -84.72), (8, 10.96, -7.96), (40, 2.19, 0.81)])
def test_seed_table(model, batch: int, cost: float, margin: float) -> None:
    assert round(model.evaluate("cost_per_mtok", {"batch": batch}), 2) == cost
    assert round(model.evaluate("margin_per_mtok", {"batch": batch}), 2) == margin


def test_tokens_to_repay_capex_at_batch_40(model) -> None:
    tokens = model.evaluate("tokens_to_repay_capex", {"batch": 40}) * 1e12  # the quantity is in Ttok
    assert f"{tokens:.2e}" == "1.24e+14"


@pytest.mark.parametrize("batch", [1, 8])
def test_tokens_to_repay_capex_undefined_with_a_loss(model, batch: int) -> None:
    with pytest.raises(ExprError, match="defined only while margin_per_mtok > 0"):
        model.evaluate("tokens_to_repay_capex", {"batch": batch})


def test_break_even_batch_zeroes_the_margin(model) -> None:
    batch = model.evaluate("break_even_batch")
    assert batch == pytest.approx(30 * 1e6 / (3600 * 95 * 3))
    assert model.evaluate("margin_per_mtok", {"batch": batch}) == pytest.approx(0, abs=1e-12)


def test_price_for_target_margin_gives_the_target(model) -> None:
    price = model.evaluate("price_for_target_margin")
    assert model.evaluate("gross_margin", {"price_per_mtok": price}) == pytest.approx(60)


def test_sensitivities(model) -> None:
    assert sensitivity(model, "cost_per_mtok", "batch") == pytest.approx(-1)
    assert sensitivity(model, "cost_per_mtok", "node_cost_per_hour") == pytest.approx(1)
    assert sensitivity(model, "tokens_to_repay_capex", "training_capex") == pytest.approx(1)
    assert sensitivity(model, "gpu_hour_cost", "batch") == 0


MODEL_HEAD = """\
title: Broken model
parameters:
  - {id: price, text: p, stance: neutral, sources: [src_a], as_of: 2026, value: 3, unit: USD/Mtok}
  - {id: rate, text: r, stance: neutral, sources: [src_a], as_of: 2026, value: 95, unit: tok/s}
  - {id: k, text: k, stance: neutral, sources: [src_a], as_of: 2026, value: 2, unit: x}
quantities:
"""


@pytest.mark.parametrize("quantities, message", [
    ("  - {id: wrong_unit, text: q, expr: price * rate, unit: '%'}",
     "quantities[0].unit: wrong_unit is currency/time by its definition but declared in % (dimensionless)"),
    ("  - {id: loop_a, text: q, expr: loop_b, unit: USD/Mtok}\n  - {id: loop_b, text: q, expr: loop_a, unit: USD/Mtok}",
     "quantities refer to each other in a cycle: loop_a -> loop_b -> loop_a"),
    ("  - {id: cubic, text: q, solve_for: k, where: 'k ** 3 = k + 1', unit: x}",
     "is not a polynomial of degree <= 2 in k"),
    ("  - {id: two_roots, text: q, solve_for: k, where: 'k ** 2 = 4', unit: x}",
     "has 2 solutions for k; it needs exactly one"),
    ("  - {id: unknown, text: q, expr: prise * 2, unit: USD/Mtok}", "unknown name 'prise' (did you mean 'price'?)"),
])
def test_model_file_errors_are_located(tmp_path, quantities: str, message: str) -> None:
    root = write_desk(tmp_path / "desk", {"data/models/token_cost.yaml": None,
                                         "data/models/broken.yaml": MODEL_HEAD + quantities + "\n"})
    problems = [str(p) for p in build_model(load_desk(root)).problems]
    assert any(p.startswith("data/models/broken.yaml:") and message in p for p in problems), problems


def test_exponentially_nesting_quantities_are_refused(tmp_path) -> None:
    chain = ["  - {id: q0, text: q, expr: k, unit: x}"]
    chain += [f"  - {{id: q{i}, text: q, expr: q{i - 1} * (q{i - 1} + 1), unit: x}}" for i in range(1, 40)]
    root = write_desk(tmp_path / "desk", {"data/models/token_cost.yaml": None,
                                         "data/models/broken.yaml": MODEL_HEAD + "\n".join(chain) + "\n"})
    model = build_model(load_desk(root))
    assert any("has more than 5000 parts" in str(p) for p in model.problems)
    assert "q5" in model.quantities  # the small ones still compile


def test_table_names_are_checked(tmp_path) -> None:
    tables = "tables:\n  - {title: T, vary: bach, values: [1], show: [price, prise]}\n"
    root = write_desk(tmp_path / "desk", {"data/models/token_cost.yaml": None,
                                         "data/models/t.yaml": MODEL_HEAD + "  - {id: q, text: q, expr: k, unit: x}\n"
                                         + tables})
    problems = [str(p) for p in build_model(load_desk(root)).problems]
    assert any("tables[0].vary: 'bach' is not a parameter" in p for p in problems), problems
    assert any("tables[0].show: 'prise' is not a parameter or quantity (did you mean 'price'?)" in p
               for p in problems), problems


@pytest.mark.parametrize("where, expected", [
    ("k ** 2 = 0", 0.0),  # a double root is one solution
    ("k * k - 2 * k = -1", 1.0),  # (k - 1)^2 = 0
    ("3 * k = 7", 7 / 3),
    ("k ** 2 = 2 * k", None),  # 0 and 2: two solutions, refused
    ("k / (k - 2) = 2", 4.0),  # k = 2 k - 4: k = 4; the denominator does not vanish there
    ("(k ** 2 - 4) / (k - 2) = 0", -2.0),  # k = 2 makes the denominator vanish: only -2 is a solution
    ("k ** 2 / (k ** 2 - 2) = 0", 0.0),
    ("(k ** 2 - 2) / (k ** 2 - 2 + k * 0) = 0", None),  # every root makes the denominator vanish
    ("(k ** 2 - 2) / (k - sqrt(2)) = 0", -(2 ** 0.5)),  # radicals: +sqrt(2) makes the denominator vanish
    ("(k ** 2 - 2) / (k * k - 2 * sqrt(2) * k + 2) = 0", -(2 ** 0.5)),  # (k - sqrt 2)^2 below
])
def test_solve_for_finds_the_roots_of_polynomials_up_to_degree_two(tmp_path, where: str, expected: float | None) -> None:
    quantity = f"  - {{id: solved, text: q, solve_for: k, where: '{where}', unit: x}}\n"
    root = write_desk(tmp_path / "desk", {"data/models/token_cost.yaml": None,
                                         "data/models/m.yaml": MODEL_HEAD + quantity})
    model = build_model(load_desk(root))
    if expected is None:
        assert "solved" not in model.quantities and model.problems
    else:
        assert not model.problems, [str(p) for p in model.problems]
        assert model.evaluate("solved") == pytest.approx(expected)
