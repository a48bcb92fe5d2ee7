"""The bundled desk: guarded against losing content, with floors rather than exact counts.

Whether the desk is clean (no format error, no claim in `error`, no unacknowledged finding) is
the desk's own business: `make desk` and CI run `claimdesk validate` and `claimdesk check` on it.
These tests only make sure the bundled content does not silently vanish, and they keep passing
when an analyst adds a page (`test_a_new_page_keeps_the_suite_passing` does exactly that).
The desk read is $CLAIMDESK_TEST_DESK when set (that test points it at a copy), else the repository.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from claimdesk.check import check_desk
from claimdesk.kb import load_desk

from .conftest import REPO

TODAY = dt.date(2026, 11, 22)
DESK = Path(os.environ.get("CLAIMDESK_TEST_DESK", REPO))


@pytest.fixture(scope="module")
def desk():
    return load_desk(DESK)


@pytest.fixture(scope="module")
def run(desk):
    return check_desk(desk, TODAY)


def test_content_is_not_lost(desk) -> None:
    claims = [c.claim for c in desk.claims()]
    quantitative = [c for c in claims if c.value is not None]
    assert len(desk.pages) >= 14  # 8 concept pages, the home page and the guide pages (5 or more)
    assert len(claims) >= 181
    assert len(quantitative) >= 137
    assert sum(1 for c in quantitative if c.check) >= 56
    assert sum(1 for c in claims if c.resolves) >= 10
    assert len(desk.sources) >= 23
    assert len(desk.parameters()) >= 7


def test_the_acknowledged_tension_stays_visible(run) -> None:
    """The seeds' disagreement on Anthropic's run-rate is acknowledged, not hidden."""
    results = run.by_id()
    for claim_id in ("anthropic_runrate_floor_may_2026", "anthropic_annualized_revenue_may_2026"):
        assert any(a.startswith("conflict: ") for a in results[claim_id].acknowledged), results[claim_id]


@pytest.mark.parametrize("claim_id", ["batch1_cost_per_mtok", "batch1_margin_per_mtok", "batch8_cost_per_mtok",
                                      "batch8_margin_per_mtok", "batch40_cost_per_mtok", "batch40_margin_per_mtok",
                                      "tokens_to_repay_training_run", "entelligence_token_dollar_total",
                                      "oracle_openai_commitment", "google_anthropic_commitment",
                                      "semianalysis_ai_spend_growth", "amazon_prior_fcf",
                                      "implied_token_volume_2026", "copilot_session_in_months_of_plan"])
def test_seed_arithmetic_holds(run, claim_id: str) -> None:
    result = run.by_id()[claim_id]
    assert result.check and (result.status == "ok" or any(a.startswith("ok:") for a in result.also)), result


NEW_PAGE = """\
---
title: GPU rental prices
summary: What renting an inference node costs, and what that does to the cost of a token.
tags: [pricing]
claims:
  - id: rented_node_cost_per_hour_test
    text: Renting an 8-GPU node costs about $16.80 an hour.
    stance: neutral
    sources: [divergent_token_economics]
    as_of: 2026-05
    value: 16.8
    unit: USD/h
    metric: gpu_rental.node_cost
  - id: rented_cost_per_mtok_test
    text: At batch 40 a rented node makes a million tokens for about $1.23.
    stance: neutral
    sources: [divergent_token_economics]
    as_of: 2026-05
    value: "~1.23"
    unit: USD/Mtok
    check: cost_per_mtok
    given: {node_cost_per_hour: rented_node_cost_per_hour_test, batch: 40}
---

# GPU rental prices

A page an analyst adds.
"""
SUITE = ["tests/test_bundled_desk.py", "tests/test_cli.py", "tests/test_model.py", "tests/test_store_docs.py",
         "tests/test_hostile_input.py", "tests/test_check_cases.py", "tests/test_validate_cases.py"]


def test_a_new_page_keeps_the_suite_passing(tmp_path: Path) -> None:
    """A copy of the repository with one more page: the tests that read the bundled desk still pass."""
    if os.environ.get("CLAIMDESK_TEST_DESK"):
        pytest.skip("already running on a copy")
    copy = tmp_path / "repo"
    shutil.copytree(REPO, copy, ignore=shutil.ignore_patterns(".venv", ".git", "site", "*.duckdb*", "*.lock",
                                                              "__pycache__", ".pytest_cache", ".mypy_cache",
                                                              ".ruff_cache"))
    (copy / "kb" / "gpu-rental.md").write_text(NEW_PAGE, encoding="utf-8")
    env = dict(os.environ, CLAIMDESK_TEST_DESK=str(copy))
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *SUITE],
                          cwd=copy, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert load_desk(copy).claims()[-1].claim.id != ""  # the copy was read with its new page
    assert "rented_cost_per_mtok_test" in {c.claim.id for c in load_desk(copy).claims()}
