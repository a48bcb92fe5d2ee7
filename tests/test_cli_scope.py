"""The command line as documented: a page as PATH (or --page, --metric, --tag) narrows what
`check` shows and what its exit code looks at, never what is checked; a path that is neither a
desk nor a page is an error; results on stdout, summary on stderr; history in as_of order;
figures printed as the value field accepts them; a page missing from an explicit nav is a warning."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from claimdesk.cli import main

TODAY = "2026-11-22"
PRICES = """\
---
title: Prices
tags: [pricing]
claims:
  - {id: price_quote, text: t, stance: bull, sources: [src_a], as_of: 2026-05, value: 5, unit: USD/Mtok, metric: test.price}
  - {id: wrong_cost, text: t, stance: bear, sources: [src_a], as_of: 2026-05, value: 5, unit: USD/Mtok, check: cost_per_mtok}
---
"""
VOLUMES = """\
---
title: Volumes
tags: [volume]
claims:
  - {id: volume_2025, text: t, stance: bull, sources: [src_a], as_of: 2025-01, value: 4200, unit: count, metric: test.volume, stale_after: never}
  - {id: volume_2026, text: t, stance: bull, sources: [src_a], as_of: 2026-05, value: 4300, unit: count, metric: test.volume}
  - {id: volume_sum, text: t, stance: bull, sources: [src_a], as_of: 2026-05, value: 8500, unit: count, check: volume_2025 + volume_2026}
---
"""


def invoke(*args: str):
    return CliRunner().invoke(main, list(args))


def desk(make_desk) -> Path:
    return make_desk({"kb/prices.md": PRICES, "kb/volumes.md": VOLUMES})


def test_a_page_as_path_scopes_what_is_shown_not_what_is_checked(make_desk) -> None:
    root = desk(make_desk)
    full = json.loads(invoke("check", str(root), "--no-store", "--today", TODAY, "--format", "json").stdout)
    scoped = invoke("check", str(root / "kb" / "volumes.md"), "--no-store", "--today", TODAY, "--format", "json")
    assert scoped.exit_code == 0  # the mismatch on prices.md is not shown, so it does not fail this page
    shown = json.loads(scoped.stdout)
    assert {r["claim_id"] for r in shown["results"]} == {"volume_2025", "volume_2026", "volume_sum"}
    assert shown["counts"] == full["counts"]  # the desk was checked whole
    by_id = {r["claim_id"]: r for r in full["results"]}
    assert all(r == by_id[r["claim_id"]] for r in shown["results"])  # the same results as a full run's
    assert "shown: 3 results of kb/volumes.md (the desk was checked whole)" in scoped.stderr
    assert invoke("check", str(root), "--page", "kb/prices.md", "--no-store", "--today", TODAY).exit_code == 1


def test_metric_and_tag_scope_with_suggestions(make_desk, tmp_path: Path) -> None:
    root = desk(make_desk)
    store = str(tmp_path / "s.duckdb")
    invoke("check", str(root), "--store", store, "--today", TODAY)
    (root / "kb" / "prices.md").write_text(PRICES.replace("value: 5, unit: USD/Mtok, metric", "value: 6, unit: "
                                                                                              "USD/Mtok, metric"))
    by_metric = invoke("check", str(root), "--store", store, "--today", TODAY, "--metric", "test.volume")
    assert "incremental" in by_metric.stderr  # read back from the store after an incremental run
    assert [line.split()[1] for line in by_metric.stdout.splitlines()] == ["volume_2025", "volume_2026"]
    by_tag = invoke("check", str(root), "--store", store, "--today", TODAY, "--tag", "pricing", "--status", "mismatch")
    assert by_tag.exit_code == 1 and by_tag.stdout.split()[:2] == ["mismatch", "wrong_cost"]
    typo = invoke("check", str(root), "--no-store", "--metric", "test.volumes")
    assert typo.exit_code == 2 and "(did you mean 'test.volume'?)" in typo.stderr
    assert "no claim has this tag" in invoke("check", str(root), "--no-store", "--tag", "nope").stderr


def test_a_path_that_is_neither_desk_nor_page_is_an_error(make_desk) -> None:
    root = desk(make_desk)
    (root / "notes.txt").write_text("x")
    for path, message in ((root / "data", "no desk found: "), (root / "notes.txt", "is neither a desk"),
                          (root / "data" / "sources.yaml", "is neither a desk")):
        result = invoke("check", str(path), "--no-store")
        assert result.exit_code == 2 and message in result.stderr, result.stderr
    for args in (["model", str(root / "kb" / "prices.md")], ["ingest", str(root / "data")],
                 ["history", "x", "--desk", str(root / "kb")], ["explain", "x", "--desk", str(root / "README")]):
        refused = invoke(*args)
        assert refused.exit_code == 2 and "Traceback" not in refused.output, args
    assert "is a page; this command takes the desk's folder" in invoke("model", str(root / "kb" / "prices.md")).stderr
    page_only = invoke("validate", str(root / "kb" / "volumes.md"))
    assert page_only.exit_code == 0 and page_only.stdout == ""


def test_results_on_stdout_summary_on_stderr_and_no_thousands_separators(make_desk) -> None:
    root = desk(make_desk)
    result = invoke("check", str(root), "--no-store", "--today", TODAY)
    assert "claims and" not in result.stdout and " claims and 7 model parameters: " in result.stderr
    assert "unchecked volume_2026" in result.stdout  # not a terminal: every status is shown
    assert "recomputed 8500 count agrees with the stated 8500 count" in result.stdout
    assert "," not in result.stdout.split("recomputed 8500")[0].splitlines()[-1]


def test_history_of_a_metric_is_in_as_of_order(make_desk, tmp_path: Path) -> None:
    root = desk(make_desk)
    store = str(tmp_path / "s.duckdb")
    assert invoke("check", str(root), "--store", store, "--today", TODAY).exit_code == 1
    lines = invoke("history", "test.volume", "--desk", str(root), "--store", store, "--format", "csv").stdout
    claims = [line.split(",")[2] for line in lines.splitlines()[1:]]
    assert claims == ["volume_2025", "volume_2026"]
    assert lines.splitlines()[1].split(",")[0].count(":") == 1  # the time of the run, not only its day


def test_a_page_missing_from_an_explicit_nav_is_a_warning(make_desk) -> None:
    root = desk(make_desk)
    (root / "mkdocs.yml").write_text("site_name: t\ndocs_dir: kb\nnav:\n  - Base: base.md\n  - Prices: prices.md\n")
    result = invoke("validate", str(root))
    assert result.exit_code == 0
    assert result.stdout.splitlines() == [
        "kb/volumes.md:1: warning: not in the nav of mkdocs.yml, so the site's navigation does not reach it; "
        "add it there (e.g. `- Title: volumes.md`)"]
