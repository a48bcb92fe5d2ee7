"""Golden cases for the checker: one YAML file per case in tests/cases/check/.

A case lists `claims` (written onto one page, kb/case.md; text, stance, sources and as_of get
defaults when a case leaves them out), an optional `today`, and `expect`: claim id -> [status,
a part of the reason]. `also` lists parts of the secondary findings, `acknowledged` parts of the
acknowledged ones. Adding a case is adding a file.
The placeholders NESTED_SHORT and MANY stand for expressions too large to write here.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
import yaml

from claimdesk.check import check_desk
from claimdesk.explain import explain
from claimdesk.kb import load_desk
from claimdesk.validate import validate_desk

from .conftest import write_desk

CASES = sorted((Path(__file__).parent / "cases" / "check").glob("*.yaml"))
DEFAULTS = {"text": "A claim.", "stance": "neutral", "sources": ["src_a"], "as_of": "2026-05"}
PLACEHOLDERS = {
    "NESTED_SHORT": "(" * 240 + "1" + ")" * 240,
    "MANY": " + ".join(["1"] * 120),
}


def page_for(claims: list[dict]) -> str:
    filled = []
    for claim in claims:
        claim = {**DEFAULTS, "sources": list(DEFAULTS["sources"]), **claim}
        if claim.get("check") in PLACEHOLDERS:
            claim["check"] = PLACEHOLDERS[claim["check"]]
        filled.append(claim)
    # JSON is YAML too, and quotes every string, so a check like "1e309" stays text.
    lines = ["---", "title: Case", "claims:"] + [f"  - {json.dumps(claim, default=str)}" for claim in filled]
    return "\n".join(lines) + "\n---\n# Case\n"


def run_case(case_path: Path, tmp_path: Path):
    case = yaml.safe_load(case_path.read_text(encoding="utf-8"))
    root = write_desk(tmp_path / "desk", {"kb/case.md": page_for(case["claims"])})
    desk = load_desk(root)
    # Only the expression cases may carry format errors (their checks cannot even be read); a case
    # that means to have others lists them (parts of each message) under `format_errors`.
    if case_path.stem != "injection":
        errors = [str(p) for p in validate_desk(desk) if p.severity == "error"]
        expected = case.get("format_errors", [])
        assert len(errors) == len(expected), errors
        for part in expected:
            assert any(part in error for error in errors), (part, errors)
    today = case.get("today", dt.date(2026, 11, 22))
    return case, desk, check_desk(desk, today)


@pytest.mark.parametrize("case_path", CASES, ids=[c.stem for c in CASES])
def test_check_case(case_path: Path, tmp_path: Path) -> None:
    case, desk, run = run_case(case_path, tmp_path)
    results = run.by_id()
    for claim_id, (status, reason) in case["expect"].items():
        result = results[claim_id]
        assert (result.status, reason in result.reason) == (status, True), \
            f"{claim_id}: got {result.status}: {result.reason}"
    for claim_id, parts in (case.get("also") or {}).items():
        for part in parts:
            assert any(part in line for line in results[claim_id].also), results[claim_id].also
    for claim_id, parts in (case.get("acknowledged") or {}).items():
        for part in parts:
            assert any(part in line for line in results[claim_id].acknowledged), results[claim_id].acknowledged


def test_injection_executes_nothing(tmp_path: Path) -> None:
    marker = Path("/tmp/claimdesk-injected")
    marker.unlink(missing_ok=True)
    _, desk, run = run_case(Path(__file__).parent / "cases" / "check" / "injection.yaml", tmp_path)
    assert not marker.exists()
    assert all(r.status == "error" for r in run.results if r.claim_id.startswith("inj_"))
    # validate refuses the same expressions as format errors, located at their claims
    flagged = {p.field.split(".")[0] for p in validate_desk(desk) if p.field.endswith(".check")}
    assert len(flagged) == sum(1 for c in desk.claims() if c.claim.id.startswith("inj_"))


@pytest.mark.parametrize("check", ["(" * 5000 + "1" + ")" * 5000, "batch + " * 70 + "1"], ids=["5000_parens", "long"])
def test_oversized_expression_is_a_format_error(check: str, tmp_path: Path) -> None:
    claim = {**DEFAULTS, "id": "oversized", "value": 1, "unit": "x", "check": check}
    desk = load_desk(write_desk(tmp_path / "desk", {"kb/case.md": page_for([claim])}))
    problems = [str(p) for p in validate_desk(desk) if p.severity == "error"]
    assert problems == [f"kb/case.md:4: claims[0].check: expression is {len(check)} characters long; at most 500"]
    assert "oversized" not in check_desk(desk).by_id()  # an invalid claim is not checked


@pytest.mark.parametrize("case_path", CASES, ids=[c.stem for c in CASES])
def test_explain_agrees_with_the_run(case_path: Path, tmp_path: Path) -> None:
    """explain recomputes through the same path as the run: the same figure, or the same error."""
    case, desk, run = run_case(case_path, tmp_path)
    today = case.get("today", dt.date(2026, 11, 22))
    for result in run.results:
        explanation = explain(desk, result.claim_id, today)
        assert explanation.result == result
        if result.recomputed is not None:
            assert explanation.converted is not None and explanation.error is None
        elif result.status == "error" and result.check:
            assert explanation.error is not None and explanation.error in result.reason
