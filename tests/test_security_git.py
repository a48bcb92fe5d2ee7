"""The desk's git version is read without git running anything the repository configures."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

from click.testing import CliRunner

from claimdesk.cli import main
from claimdesk.git_version import desk_version


def _git(root: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@example.org", *args],
                          capture_output=True, text=True, check=True)
    return done.stdout.strip()


def _repository(root: Path, marker: Path) -> str:
    """A committed desk whose .git/config asks git to run a command that leaves `marker` behind."""
    _git(root, "init", "-q")
    (root / ".gitignore").write_text("data/claimdesk.duckdb*\n")
    (root / ".gitattributes").write_text("*.md filter=evil\n*.yaml filter=evil\n")
    _git(root, "add", ".")
    _git(root, "commit", "-qm", "desk")
    command = f"touch {marker}; false"
    with (root / ".git" / "config").open("a") as config:
        config.write(f"[core]\n\tfsmonitor = {command}\n\thooksPath = hooks\n"
                     f"[filter \"evil\"]\n\tclean = sh -c 'touch {marker}; cat'\n\tsmudge = cat\n"
                     f"\tprocess = sh -c 'touch {marker}'\n")
    (root / "hooks").mkdir()
    return _git(root, "rev-parse", "HEAD")


def test_no_configured_command_runs(make_desk: Callable[..., Path], tmp_path: Path) -> None:
    root = make_desk()
    marker = tmp_path / "ran"
    commit = _repository(root, marker)
    assert desk_version(root) == commit
    page = root / "kb" / "base.md"
    page.write_text(page.read_text() + "\nmore\n")  # changed: git status would run the clean filter to compare
    assert desk_version(root) == f"{commit}-dirty"
    result = CliRunner().invoke(main, ["check", str(root), "--today", "2026-11-22"])
    assert result.exit_code in (0, 1), result.output
    assert not marker.exists(), "a command configured by the repository ran"


def test_dirty_is_found_the_way_git_finds_it(make_desk: Callable[..., Path], tmp_path: Path) -> None:
    root = make_desk()
    commit = _repository(root, tmp_path / "ran")
    (root / "data" / "claimdesk.duckdb").write_bytes(b"store")  # the store's own file is never a change
    assert desk_version(root) == commit
    (root / "kb" / "new.md").write_text("# new\n")
    assert desk_version(root) == f"{commit}-dirty"  # untracked
    (root / "kb" / "new.md").unlink()
    sources = (root / "data" / "sources.yaml").read_bytes()
    (root / "data" / "sources.yaml").unlink()
    assert desk_version(root) == f"{commit}-dirty"  # deleted
    (root / "data" / "sources.yaml").write_bytes(sources)  # back, with a new mtime: hashed, unchanged
    assert desk_version(root) == commit
    (root / "scratch.txt").write_text("outside kb/ and data/\n")
    assert desk_version(root) == commit
    subprocess.run(["touch", str(root / "kb" / "base.md")], check=True)  # same bytes, new mtime: hashed, unchanged
    assert desk_version(root) == commit


def test_outside_git(make_desk: Callable[..., Path]) -> None:
    assert desk_version(make_desk()) is None
