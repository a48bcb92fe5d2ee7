"""A hostile repository: what a contributor can commit (links, odd files, escape sequences, a
foreign database) never makes claimdesk read or write outside the desk, print a secret, or lose a
file. Every command here is the real CLI on a real desk and a real DuckDB file."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from claimdesk.cli import main
from claimdesk.store import Store

from .conftest import BASE_PAGE

SECRET = "machine github.com login octocat password hunter2-secret"
TODAY = ["--today", "2026-11-22"]


def run(*args: str) -> tuple[int, str]:
    """The real command in a process of its own (its output is what a CI log would show)."""
    done = subprocess.run([sys.executable, "-c", "from claimdesk.cli import main; main()", *args], capture_output=True,
                          text=True,
                          timeout=300, errors="replace")
    return done.returncode, done.stdout + done.stderr


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    folder = tmp_path / "home"
    folder.mkdir()
    (folder / ".netrc").write_text(SECRET + "\n")
    return folder


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
            and not p.is_symlink()}


@pytest.mark.parametrize("linked", ["data/claimdesk.duckdb.lock", "data/claimdesk.duckdb.wal",
                                    "data/claimdesk.duckdb"])
def test_store_files_committed_as_links_are_refused(make_desk: Callable[..., Path], linked: str) -> None:
    root = make_desk({"kb/victim.md": BASE_PAGE.replace("base_claim", "victim_claim")})
    victim = (root / "kb" / "victim.md").read_bytes()
    (root / linked).symlink_to(root / "kb" / "victim.md")
    code, output = run("check", str(root), *TODAY)
    assert code == 2, output
    assert "is a symbolic link; claimdesk never writes through a link" in output
    assert "Traceback" not in output
    assert (root / "kb" / "victim.md").read_bytes() == victim


def test_data_files_linked_outside_the_desk_are_not_read(make_desk: Callable[..., Path], outside: Path) -> None:
    root = make_desk()
    (root / "data" / "desk.yaml").symlink_to(outside / ".netrc")
    (root / "data" / "models" / "stolen.yaml").symlink_to(outside / ".netrc")
    (root / "kb" / "stolen.md").symlink_to(outside / ".netrc")
    for command in (["validate", str(root)], ["check", str(root), *TODAY], ["model", str(root)]):
        code, output = run(*command)
        assert "hunter2" not in output and "octocat" not in output, output
        assert "Traceback" not in output, output
    code, output = run("validate", str(root))
    assert "data/desk.yaml: is a link to a file outside the desk" in output
    assert "data/models/stolen.yaml: is a link to a file outside the desk" in output
    sources = root / "data" / "sources.yaml"
    sources.unlink()
    sources.symlink_to(outside / ".netrc")
    code, output = run("validate", str(root))
    assert "data/sources.yaml: is a link to a file outside the desk" in output
    assert "hunter2" not in output and code == 1


def test_a_value_is_shown_as_a_short_excerpt(make_desk: Callable[..., Path]) -> None:
    root = make_desk({"data/desk.yaml": SECRET + " " + "x" * 500 + "\n"})
    code, output = run("validate", str(root))
    assert "found a single value ('machine github.com l...')" in output
    assert "hunter2" not in output


def test_the_store_setting_cannot_point_outside_the_desk(make_desk: Callable[..., Path], outside: Path) -> None:
    root = make_desk({"data/desk.yaml": f"store: {outside}/victim.duckdb\n"})
    before = _snapshot(outside)
    code, output = run("check", str(root), *TODAY)
    assert code == 2 and "data/desk.yaml: store: " in output and "is outside the desk" in output
    (root / "data" / "desk.yaml").write_text("store: linked/claimdesk.duckdb\n")
    (root / "linked").symlink_to(outside)
    code, output = run("check", str(root), *TODAY)
    assert code == 2 and "is outside the desk" in output
    assert _snapshot(outside) == before and not (outside / "claimdesk.duckdb").exists()


def test_nothing_outside_the_desk_is_written(make_desk: Callable[..., Path], outside: Path) -> None:
    """A desk with every link a contributor could commit at once: a run leaves everything outside
    the desk byte for byte as it was, and the pages too."""
    root = make_desk({"kb/victim.md": BASE_PAGE.replace("base_claim", "victim_claim")})
    (root / "data" / "sources.yaml").rename(root / "data" / "real-sources.yaml")
    (root / "data" / "sources.yaml").symlink_to(outside / ".netrc")
    (root / "data" / "claimdesk.duckdb.wal").symlink_to(outside / ".netrc")
    (root / "kb" / "outside").symlink_to(outside, target_is_directory=True)
    (root / "export").symlink_to(outside, target_is_directory=True)
    before, pages = _snapshot(outside), _snapshot(root / "kb")
    for command in (["validate", str(root)], ["check", str(root), *TODAY], ["ingest", str(root)],
                    ["export", str(root / "export"), "--desk", str(root)]):
        code, output = run(*command)
        assert "hunter2" not in output and "Traceback" not in output, output
    assert _snapshot(outside) == before
    assert _snapshot(root / "kb") == pages


def test_export_refuses_a_link_where_a_file_would_go(make_desk: Callable[..., Path], outside: Path) -> None:
    root = make_desk()
    assert run("check", str(root), *TODAY)[0] == 0
    target = root / "export"
    target.mkdir()
    (target / ".claims.parquet.partial").symlink_to(outside / ".netrc")
    code, output = run("export", str(target), "--desk", str(root))
    assert code == 0, output
    assert (outside / ".netrc").read_text() == SECRET + "\n"
    assert (target / "claims.parquet").is_file() and not (target / "claims.parquet").is_symlink()


def test_a_foreign_database_is_refused_untouched(make_desk: Callable[..., Path], tmp_path: Path) -> None:
    root = make_desk()
    foreign = tmp_path / "other.duckdb"
    with duckdb.connect(str(foreign)) as con:
        con.execute("CREATE TABLE runs (run_id INTEGER, note VARCHAR)")
        con.execute("CREATE TABLE claims (claim_id VARCHAR)")
        con.execute("INSERT INTO runs VALUES (1, 'theirs')")
    before = foreign.read_bytes()
    for command in (["check", str(root), "--store", str(foreign), *TODAY], ["ingest", str(root), "--store", str(foreign)],
                    ["query", "SELECT 1", "--store", str(foreign)]):
        code, output = run(*command)
        assert code == 2 and "claimdesk did not create" in output and "left untouched" in output, output
    assert foreign.read_bytes() == before
    page = root / "kb" / "base.md"
    code, output = run("ingest", str(root), "--store", str(page))
    assert code == 2 and "is not a DuckDB file" in output
    assert page.read_text() == BASE_PAGE


def test_a_store_from_before_the_marker_opens_and_gets_one(make_desk: Callable[..., Path]) -> None:
    root = make_desk()
    assert run("check", str(root), *TODAY)[0] == 0
    path = root / "data" / "claimdesk.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("DELETE FROM store_meta WHERE key = 'application'")
    assert run("query", "SELECT count(*) FROM runs", "--desk", str(root))[0] == 0  # a reader takes it as it is
    code, output = run("check", str(root), *TODAY)
    assert code == 0, output
    with duckdb.connect(str(path), read_only=True) as con:
        assert con.execute("SELECT value FROM store_meta WHERE key = 'application'").fetchall() == [("claimdesk",)]
        assert con.execute("SELECT count(*) FROM runs").fetchall() == [(2,)]


ESCAPES = "\\e[1A\\e[2K\\e[8m\\r"  # YAML's double-quoted escapes: the values hold ESC and CR


def test_escape_sequences_never_reach_the_terminal(make_desk: Callable[..., Path]) -> None:
    page = f"""---
title: "Escapes{ESCAPES}"
claims:
  - id: escaping
    text: "A claim {ESCAPES} all good"
    stance: "bull{ESCAPES}"
    sources: [src_a]
    as_of: 2026-05
    value: "1{ESCAPES}"
    unit: USD
    check: "1 +{ESCAPES} 2"
  - id: checked
    text: A claim with a check naming a hostile thing.
    stance: neutral
    sources: ["src{ESCAPES}"]
    as_of: 2026-05
    value: 3
    unit: USD
    check: "a\\u202eb + 1"
---
"""
    root = make_desk({"kb/escapes.md": page, "kb/e\x1b[2Kvil.md": BASE_PAGE.replace("base_claim", "evil")})
    for command in (["validate", str(root)], ["check", str(root), *TODAY], ["explain", "checked", "--desk", str(root)],
                    ["query", "SELECT * FROM claims", "--desk", str(root)],
                    ["query", "SELECT * FROM problems", "--desk", str(root), "--format", "csv"],
                    ["history", "checked", "--desk", str(root)]):
        code, output = run(*command)
        assert "\x1b" not in output and "\r" not in output and "\u202e" not in output, (command, output)
        assert "Traceback" not in output, output
    code, output = run("validate", str(root))
    assert "\\x1b[2K" in output  # shown, escaped


def test_escapes_through_the_click_runner(make_desk: Callable[..., Path]) -> None:
    root = make_desk({"kb/x.md": BASE_PAGE.replace("neutral", '"neutral\\e[2K"')})
    result = CliRunner().invoke(main, ["validate", str(root)])
    assert "\x1b" not in result.output and "\\x1b[2K" in result.output


def test_odd_files_in_kb_are_located_problems(make_desk: Callable[..., Path]) -> None:
    root = make_desk()
    os.mkfifo(root / "kb" / "pipe.md")
    (root / "kb" / "loop.md").symlink_to(root / "kb" / "loop.md")
    (root / "kb" / "a").mkdir()
    (root / "kb" / "a" / "b.md").symlink_to(root / "kb" / "a" / "c.md")
    (root / "kb" / "a" / "c.md").symlink_to(root / "kb" / "a" / "b.md")
    os.makedirs(os.fsencode(root / "kb") + b"/bad\xff", exist_ok=True)
    (root / "kb" / "new\nline.md").write_text(BASE_PAGE.replace("base_claim", "newline_claim"))
    with open(os.fsencode(root / "kb") + b"/bytes\xfe.md", "wb") as handle:
        handle.write(BASE_PAGE.replace("base_claim", "bytes_claim").encode())
    code, output = run("validate", str(root))
    assert "Traceback" not in output, output
    assert "kb/pipe.md: not a regular file" in output
    assert "kb/new\\x0aline.md (name not plain text): the file or folder name holds control characters" in output
    assert "kb/bytes\\xfe.md (name not plain text)" in output
    code, output = run("check", str(root), *TODAY)
    assert "Traceback" not in output and code == 1, output  # format errors: exit 1, and the run is recorded
    with Store.open(root / "data" / "claimdesk.duckdb") as store:
        assert any("name not plain text" in path for (path,) in store.select("SELECT path FROM pages"))


def test_a_mistyped_command_is_escaped_too() -> None:
    code, output = run("\x1b[2Kvalidat", "--today", "\x1b[8m")
    assert code == 2 and "\x1b" not in output and "\\x1b[2K" in output, output
