"""The site: a real `mkdocs build --strict` of the bundled desk."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from .conftest import REPO


def test_mkdocs_build_strict(tmp_path: Path) -> None:
    desk = tmp_path / "desk"
    shutil.copytree(REPO, desk, ignore=shutil.ignore_patterns(".venv", ".git", "site", "*.duckdb*", "__pycache__"))
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                            cwd=desk, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    format_page = (tmp_path / "site" / "guide" / "claim-format" / "index.html").read_text(encoding="utf-8")
    assert "Claim fields" in format_page and "stale_after" in format_page
    assert (tmp_path / "site" / "economics-of-a-token" / "index.html").exists()
