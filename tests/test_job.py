"""`claimdesk check` ingests, checks and records its run; the store then answers "what changed?"."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
from click.testing import CliRunner

from claimdesk.cli import main

PAGE = """\
---
title: Costs
claims:
  - id: cost40
    text: At batch 40 a million tokens costs about $2.19.
    stance: neutral
    sources: [src_a]
    as_of: 2026-05
    value: "{value}"
    unit: USD/Mtok
    metric: token_model.cost_per_mtok
    check: cost_per_mtok
---
"""


def check(root: Path, *extra: str):
    result = CliRunner().invoke(main, ["check", str(root), "--today", "2026-11-22", *extra])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result


def test_check_records_runs_and_status_changes(make_desk) -> None:
    root = make_desk({"kb/costs.md": PAGE.format(value="~2.19")})
    first = check(root)
    assert first.exit_code == 0 and "recorded as run 1 in data/claimdesk.duckdb" in first.stderr
    (root / "kb" / "costs.md").write_text(PAGE.format(value="~2.50"), encoding="utf-8")
    second = check(root)
    assert second.exit_code == 1 and "recorded as run 2" in second.stderr

    with duckdb.connect(str(root / "data" / "claimdesk.duckdb"), read_only=True) as con:
        runs = con.execute("SELECT run_id, ok, mismatch FROM runs ORDER BY run_id").fetchall()
        changes = con.execute("SELECT previous_run_id, run_id, claim_id, old_status, new_status, old_stated, "
                              "new_stated FROM status_changes").fetchall()
    assert runs == [(1, 1, 0), (2, 0, 1)]
    assert changes == [(1, 2, "cost40", "ok", "mismatch", "~2.19 USD/Mtok", "~2.50 USD/Mtok")]

    history = CliRunner().invoke(main, ["history", "token_model.cost_per_mtok", "--desk", str(root),
                                        "--format", "json"])
    rows = json.loads(history.stdout)
    assert [(row["status"], row["stated"]) for row in rows] == [("ok", "~2.19 USD/Mtok"),
                                                               ("mismatch", "~2.50 USD/Mtok")]


def test_no_store_leaves_no_file(make_desk) -> None:
    root = make_desk({"kb/costs.md": PAGE.format(value="~2.19")})
    result = check(root, "--no-store")
    assert result.exit_code == 0 and "recorded" not in result.stderr
    assert not (root / "data" / "claimdesk.duckdb").exists()
