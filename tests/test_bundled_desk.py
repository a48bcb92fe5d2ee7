"""The bundled desk: clean, fully computable, and pinned so that content cannot silently vanish.

When the desk grows on purpose, update the pinned counts here in the same change.
"""

from __future__ import annotations

import datetime as dt

import pytest

from claimdesk.check import check_desk
from claimdesk.kb import load_desk
from claimdesk.validate import validate_desk

from .conftest import REPO

TODAY = dt.date(2026, 11, 22)


@pytest.fixture(scope="module")
def desk():
    return load_desk(REPO)


@pytest.fixture(scope="module")
def run(desk):
    return check_desk(desk, TODAY)


def test_validates_without_errors_or_warnings(desk) -> None:
    assert [str(p) for p in validate_desk(desk)] == []


def test_pinned_counts(desk, run) -> None:
    claims = [c.claim for c in desk.claims()]
    quantitative = [c for c in claims if c.value is not None]
    assert len(desk.pages) == 14  # 8 concept pages, the home page and 5 guide pages
    assert len(claims) == 181
    assert len(quantitative) == 137
    assert sum(1 for c in quantitative if c.check) == 56
    assert sum(1 for c in claims if c.resolves) == 10
    assert len(desk.sources) == 23
    assert len(desk.parameters()) == 7


def test_no_claim_errors_and_checked_share(run) -> None:
    errors = [(r.claim_id, r.reason) for r in run.results if r.status == "error"]
    assert errors == []
    quantitative = [r for r in run.results if r.kind == "claim" and r.stated]
    assert sum(1 for r in quantitative if r.check) / len(quantitative) > 1 / 3


def test_the_findings_of_the_seeds(run) -> None:
    """The genuine inconsistencies the checker finds in the seed figures, as of 2026-11-22."""
    by_status: dict[str, set[str]] = {}
    for result in run.results:
        by_status.setdefault(result.status, set()).add(result.claim_id)
    assert by_status.get("mismatch", set()) == set()
    assert by_status["conflict"] == {"anthropic_runrate_floor_may_2026", "anthropic_annualized_revenue_may_2026"}
    assert by_status["stale"] == {"anthropic_gross_margin_early_2025", "anthropic_gross_margin_mid_2025",
                                  "anthropic_gross_margin_rise_2025", "anthropic_gross_vs_all_in_gap",
                                  "semianalysis_ai_spend_mid_2025", "semianalysis_ai_spend_growth"}


@pytest.mark.parametrize("claim_id", ["batch1_cost_per_mtok", "batch1_margin_per_mtok", "batch8_cost_per_mtok",
                                      "batch8_margin_per_mtok", "batch40_cost_per_mtok", "batch40_margin_per_mtok",
                                      "tokens_to_repay_training_run", "entelligence_token_dollar_total",
                                      "oracle_openai_commitment", "google_anthropic_commitment",
                                      "semianalysis_ai_spend_growth", "amazon_prior_fcf",
                                      "implied_token_volume_2026", "copilot_session_in_months_of_plan"])
def test_seed_arithmetic_holds(run, claim_id: str) -> None:
    result = run.by_id()[claim_id]
    assert result.check and (result.status == "ok" or any(a.startswith("ok:") for a in result.also)), result
