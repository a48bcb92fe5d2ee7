"""Golden cases for `claimdesk validate`: one YAML file per case in tests/cases/validate/.

A case holds `files` (desk-relative path -> text, overlaid on a small base desk), optionally
`bytes` (the same with \\xNN escapes, for bytes that are not UTF-8) and `expect`: the exact lines
`claimdesk validate` prints. Adding a case is adding a file.
"""

from __future__ import annotations

import codecs
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from claimdesk.cli import main

from .conftest import write_desk

CASES = sorted((Path(__file__).parent / "cases" / "validate").glob("*.yaml"))


def load_case(path: Path) -> dict:
    case = yaml.safe_load(path.read_text(encoding="utf-8"))
    files: dict[str, str | bytes] = dict(case.get("files") or {})
    for rel, escaped in (case.get("bytes") or {}).items():
        files[rel] = codecs.escape_decode(escaped.encode("utf-8"))[0]
    case["all_files"] = files
    return case


def run_validate(root: Path) -> tuple[int, list[str]]:
    result = CliRunner().invoke(main, ["validate", str(root)])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, result.stdout.splitlines()


@pytest.mark.parametrize("case_path", CASES, ids=[c.stem for c in CASES])
def test_validate_case(case_path: Path, tmp_path: Path) -> None:
    case = load_case(case_path)
    root = write_desk(tmp_path / "desk", case["all_files"])
    code, lines = run_validate(root)
    assert lines == case["expect"]
    has_errors = any(": warning: " not in line for line in lines)
    assert code == (1 if has_errors else 0)


def test_tag_case_ran_nothing(tmp_path: Path) -> None:
    """The !!python/object case must not have executed its command."""
    marker = Path("/tmp/claimdesk-pwned")
    marker.unlink(missing_ok=True)
    case = load_case(Path(__file__).parent / "cases" / "validate" / "tag_object.yaml")
    run_validate(write_desk(tmp_path / "desk", case["all_files"]))
    assert not marker.exists()
