"""A writer killed with SIGKILL in the middle of its transaction leaves the old store readable,
and the next writer carries on from it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from claimdesk.store import TEST_PAUSE_ENV, Store

PAGE = """\
---
title: Crash
claims:
  - id: crash_claim
    text: A figure that a killed ingest was about to change.
    stance: neutral
    sources: [src_a]
    as_of: 2026-05
    value: {value}
    unit: USD bn
---
"""


def start_killable_ingest(desk: Path, store: Path, marker: Path, *extra: str) -> subprocess.Popen[bytes]:
    """`claimdesk ingest` in another process, made to stop inside its write transaction."""
    env = dict(os.environ, **{TEST_PAUSE_ENV: str(marker)})
    command = [sys.executable, "-c", "from claimdesk.cli import main; main()", "ingest", str(desk),
               "--store", str(store), *extra]
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def kill_when_paused(process: subprocess.Popen[bytes], marker: Path) -> None:
    deadline = time.monotonic() + 120
    while not marker.exists():
        if process.poll() is not None:
            error = process.stderr.read().decode(errors="replace") if process.stderr else ""
            raise AssertionError(f"the ingest ended (exit {process.returncode}) before it reached its pause:\n{error}")
        assert time.monotonic() < deadline, "the ingest never reached its pause"
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    assert process.wait() == -signal.SIGKILL


def stored_value(store: Path) -> list[tuple[str, str]]:
    with Store.open(store) as reader:
        return reader.query("SELECT claim_id, value_written FROM claims WHERE claim_id LIKE 'crash%'").rows


def test_kill_9_in_the_middle_of_an_ingest(make_desk, tmp_path: Path) -> None:
    desk = make_desk({"kb/crash.md": PAGE.format(value=1)})
    store = tmp_path / "store.duckdb"
    with Store.open(store, write=True) as writer:
        writer.ingest(desk)
    (desk / "kb" / "crash.md").write_text(PAGE.format(value=2), encoding="utf-8")
    (desk / "kb" / "base.md").unlink()

    marker = tmp_path / "paused"
    kill_when_paused(start_killable_ingest(desk, store, marker), marker)

    assert stored_value(store) == [("crash_claim", "1")]  # the old store, whole and readable
    with Store.open(store) as reader:
        assert reader.query("SELECT count(*) FROM pages").rows == [(2,)]
    with Store.open(store, write=True) as writer:  # no stale lock, and the next run does the work
        stats = writer.ingest(desk)
        assert (stats.written, stats.removed) == (1, 1)
    assert stored_value(store) == [("crash_claim", "2")]


def test_kill_9_in_the_middle_of_the_first_ingest(make_desk, tmp_path: Path) -> None:
    desk = make_desk({"kb/crash.md": PAGE.format(value=1)})
    store = tmp_path / "store.duckdb"
    marker = tmp_path / "paused"
    kill_when_paused(start_killable_ingest(desk, store, marker, "--rebuild"), marker)
    assert stored_value(store) == []  # an empty store: the schema committed, no page did
    with Store.open(store, write=True) as writer:
        assert writer.ingest(desk).parsed == 2
    assert stored_value(store) == [("crash_claim", "1")]
