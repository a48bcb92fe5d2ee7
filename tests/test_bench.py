"""The benchmark keeps working: its generated desk is valid and checks as meant, and the whole
benchmark runs end to end at a small size. No timing is asserted."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

from .conftest import REPO

SCRIPTS = REPO / "scripts"
CLAIMDESK = Path(sys.executable).parent / "claimdesk"


def _realistic():
    spec = importlib.util.spec_from_file_location("realistic_desk", SCRIPTS / "realistic_desk.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["realistic_desk"] = module
    spec.loader.exec_module(module)
    return module


def test_generated_desk_is_valid_and_checks_as_meant(tmp_path: Path) -> None:
    realistic = _realistic()
    desk = realistic.generate(tmp_path / "desk", 600, seed=3)
    validate = subprocess.run([str(CLAIMDESK), "validate", str(desk)], capture_output=True, text=True)
    assert validate.returncode == 0, validate.stdout + validate.stderr
    check = subprocess.run([str(CLAIMDESK), "check", str(desk), "--no-store", "--format", "json",
                            "--today", "2026-11-30"], capture_output=True, text=True)
    counts = json.loads(check.stdout)["counts"]
    assert counts["error"] == 0
    assert counts["ok"] > 5 * counts["mismatch"] > 0  # a few deliberate mistakes, most checks agree
    profile = realistic.desk_profile(desk)
    assert 0.2 < profile["share with check"] < 0.45
    assert profile["distinct shapes per check"] > 0.2  # as varied as a real desk, not three shapes


def test_shape_diversity_can_be_fixed_or_maximal(tmp_path: Path) -> None:
    realistic = _realistic()
    four = realistic.desk_profile(realistic.generate(tmp_path / "four", 600, shapes=4))
    every = realistic.desk_profile(realistic.generate(tmp_path / "all", 600, shapes="all"))
    assert four["distinct shapes per check"] < 0.1 < 0.6 < every["distinct shapes per check"]


def test_bench_runs_end_to_end(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, str(SCRIPTS / "bench.py"), "--claims", "150", "--runs", "1", "--site",
                             "--keep", str(tmp_path)], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    for step in ("parse baseline", "naive checker", "validate", "check (cold)", "check (1 edit)", "nightly (1 edit)",
                 "mkdocs, no plugin", "mkdocs build", "zensical build", "mkdocs, 1 edit"):
        assert f"150  {step}" in result.stdout
    for pair in ("nightly (1 edit) / check (1 edit)", "mkdocs build / mkdocs, no plugin", "zensical build / mkdocs build"):
        assert f"150  {pair}: " in result.stdout
    assert "distinct shapes per check" in result.stdout
    # the builds made what they were timed for: the plugin's claim blocks, and the staged site
    desk = tmp_path / "desk-150-calibrated"
    assert (tmp_path / "site" / "desk" / "claims" / "index.html").is_file()
    assert not (tmp_path / "site-without" / "desk" / "claims").exists()
    assert (tmp_path / "stage" / "site" / "desk" / "claims" / "index.html").is_file()
    assert (desk / "report" / "latest.md").is_file() or (tmp_path / "report" / "latest.md").is_file()
