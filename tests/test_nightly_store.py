"""The nightly and the store: a second nightly while one runs is refused and changes nothing; a
nightly killed inside its transaction leaves the store and the previous report as they were."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb
from click.testing import CliRunner

from claimdesk.cli import main
from claimdesk.store import TEST_PAUSE_ENV, TEST_PAUSE_SKIP_ENV, Store

from .test_nightly import TODAY, page
from .test_store_crash import kill_when_paused


def runs_and_reports(root: Path) -> tuple[int, int]:
    with duckdb.connect(str(root / "data" / "claimdesk.duckdb"), read_only=True) as con:
        return (con.execute("SELECT count(*) FROM runs").fetchall()[0][0],
                con.execute("SELECT count(*) FROM reports").fetchall()[0][0])


def test_second_nightly_while_one_runs_is_refused(make_desk) -> None:
    root = make_desk({"kb/costs.md": page()})
    assert CliRunner().invoke(main, ["nightly", str(root), "--today", TODAY]).exit_code == 0
    latest = (root / "report" / "latest.md").read_bytes()
    with Store.open(root / "data" / "claimdesk.duckdb", write=True):  # a nightly in progress holds the lock
        result = CliRunner().invoke(main, ["nightly", str(root), "--today", TODAY])
    assert result.exit_code == 2
    assert f"is in use by process {os.getpid()}" in result.stderr and "Traceback" not in result.output
    assert runs_and_reports(root) == (1, 1)
    assert (root / "report" / "latest.md").read_bytes() == latest


def test_nightly_killed_before_its_commit_leaves_store_and_reports_as_they_were(make_desk, tmp_path: Path) -> None:
    root = make_desk({"kb/costs.md": page()})
    assert CliRunner().invoke(main, ["nightly", str(root), "--today", TODAY]).exit_code == 0
    latest = (root / "report" / "latest.md").read_bytes()
    (root / "kb" / "costs.md").write_text(page(cost40="~2.50"), encoding="utf-8")

    marker = tmp_path / "paused"
    # The ingest's transaction goes on; the run's (with its report) pauses before its commit.
    env = dict(os.environ, **{TEST_PAUSE_ENV: str(marker), TEST_PAUSE_SKIP_ENV: "1"})
    process = subprocess.Popen([sys.executable, "-c", "from claimdesk.cli import main; main()", "nightly", str(root),
                                "--today", TODAY], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    kill_when_paused(process, marker)

    assert runs_and_reports(root) == (1, 1)
    assert (root / "report" / "latest.md").read_bytes() == latest
    result = CliRunner().invoke(main, ["nightly", str(root), "--today", TODAY, "--format", "json"])
    assert result.exit_code == 1 and runs_and_reports(root) == (2, 2)
    assert '"previous_run_id": 1' in result.stdout and "the claim was edited: value ~2.19 → ~2.50" in result.stdout
