"""The scheduling files: the GitHub Actions workflow passes actionlint, scripts/nightly.sh runs the
nightly and builds the site, and the README shows the crontab line."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import REPO
from .test_nightly import page

WORKFLOW = REPO / ".github" / "workflows" / "nightly.yml"
SCRIPT = REPO / "scripts" / "nightly.sh"


def actionlint() -> str:
    found = shutil.which("actionlint") or str(Path(sys.executable).parent / "actionlint")
    assert Path(found).exists(), "actionlint is installed with the dev extras (pyproject.toml)"
    return found


def test_workflow_passes_actionlint() -> None:
    result = subprocess.run([actionlint(), "-no-color", str(WORKFLOW)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    text = WORKFLOW.read_text(encoding="utf-8")
    assert "schedule:" in text and "workflow_dispatch:" in text and "scripts/nightly.sh" in text
    assert "GITHUB_STEP_SUMMARY" in text and "deploy-pages" in text


def test_actionlint_catches_a_broken_workflow(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text(WORKFLOW.read_text(encoding="utf-8").replace("needs: report\n", "needs: reprot\n", 1),
                      encoding="utf-8")
    result = subprocess.run([actionlint(), "-no-color", str(broken)], capture_output=True, text=True)
    assert result.returncode == 1 and "reprot" in result.stdout


def test_nightly_script_writes_the_report_and_builds_the_site(make_desk) -> None:
    root = make_desk({"kb/costs.md": page(), "mkdocs.yml": "site_name: Test desk\ndocs_dir: kb\n"})
    env = dict(os.environ, CLAIMDESK_DESK=str(root), CLAIMDESK_BIN=str(Path(sys.executable).parent))
    result = subprocess.run(["bash", str(SCRIPT), "--today", "2026-11-22"], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (root / "report" / "latest.md").exists() and (root / "site" / "costs" / "index.html").exists()
    (root / "kb" / "costs.md").write_text(page(cost40="~2.50"), encoding="utf-8")
    failing = subprocess.run(["bash", str(SCRIPT), "--today", "2026-11-22"], env=env, capture_output=True, text=True)
    assert failing.returncode == 1 and (root / "site" / "costs" / "index.html").exists()


@pytest.mark.parametrize("needle", ["scripts/nightly.sh", "crontab"])
def test_readme_shows_how_to_schedule_it(needle: str) -> None:
    assert needle in (REPO / "README.md").read_text(encoding="utf-8")
