"""The command line: help, documentation, exit codes and clean errors — through click's runner."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner

from claimdesk.cli import main
from claimdesk.frontmatter import YamlNumber, decode, load_front_matter
from claimdesk.kb import page_paths

from .conftest import REPO

COMMANDS = sorted(main.commands)


def invoke(*args: str):
    result = CliRunner().invoke(main, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result


@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_has_help_and_documentation(name: str) -> None:
    command = main.commands[name]
    assert command.help and "Example: claimdesk " in command.help, f"{name} has no Example: line"
    result = invoke(name, "--help")
    assert result.exit_code == 0 and "Example:" in result.output
    for document in ("README.md", "kb/guide/commands.md"):
        assert f"claimdesk {name}" in (REPO / document).read_text(encoding="utf-8"), f"{name} not in {document}"


def test_top_level_help_lists_every_command() -> None:
    output = invoke("--help").output
    assert all(name in output for name in COMMANDS)


def test_no_desk_is_a_clean_error(tmp_path: Path) -> None:
    result = invoke("validate", str(tmp_path))
    assert result.exit_code == 2
    assert "no desk found" in result.stderr and "Traceback" not in result.output


def test_validate_summary_and_exit_codes(make_desk) -> None:
    clean = make_desk()
    result = invoke("validate", str(clean))
    assert result.exit_code == 0 and result.stdout == ""
    assert result.stderr == "1 page, 1 claim, 3 sources: 0 errors, 0 warnings\n"


BROKEN_PAGE = """\
---
title: Broken
claims:
  - id: good_claim
    text: Checks out.
    stance: neutral
    sources: [src_a]
    as_of: 2026-05
    value: "~2.19"
    unit: USD/Mtok
    check: cost_per_mtok
  - id: bad_claim
    text: Broken.
    stance: sideways
    sources: [src_a]
    as_of: 2026-05
---
"""


def test_check_reports_format_errors_and_still_checks_the_rest(make_desk) -> None:
    root = make_desk({"kb/broken.md": BROKEN_PAGE})
    result = invoke("check", str(root), "--today", "2026-11-22", "--format", "json")
    assert result.exit_code == 1
    assert "kb/broken.md:14: claims[1].stance:" in result.stderr
    document = json.loads(result.stdout)
    statuses = {r["claim_id"]: r["status"] for r in document["results"]}
    assert statuses["good_claim"] == "ok" and "bad_claim" not in statuses


RENT_PAGE = """\
---
title: GPU rental
claims:
  - {id: h100_rent, text: t, stance: neutral, sources: [src_a], as_of: 2026, value: "2.10", unit: USD per hour}
  - {id: node_rent, text: t, stance: neutral, sources: [src_a], as_of: 2026, value: "~16.8", unit: USD/h, check: h100_rent * 8}
---
"""
NAMING_PAGE = """\
---
title: Elsewhere
claims:
  - {id: rack_rent, text: t, stance: neutral, sources: [src_a], as_of: 2026, value: "~134", unit: USD/h, check: h100_rent * 64}
---
"""


def test_a_check_naming_a_claim_with_format_errors_says_where_it_is(make_desk) -> None:
    """check (not only validate) points at the claim's own errors, in a full and in an incremental run."""
    root = make_desk({"kb/rent.md": RENT_PAGE, "kb/elsewhere.md": NAMING_PAGE})
    expected = "'h100_rent' is a claim with format errors (kb/rent.md:4); fix those and this check can read it"
    for args in (("--no-store",), (), ()):  # without a store, a full run, an incremental run after an edit
        result = invoke("check", str(root), "--today", "2026-11-22", "--format", "json", *args)
        reasons = {r["claim_id"]: r["reason"] for r in json.loads(result.stdout)["results"]}
        assert reasons["node_rent"].endswith(expected) and reasons["rack_rent"].endswith(expected), reasons
        page = root / "kb" / "rent.md"
        page.write_text(page.read_text(encoding="utf-8").replace("title: GPU rental", "title: GPU rent"),
                        encoding="utf-8")
    assert "incremental" in result.stderr


MISMATCH_PAGE = """\
---
title: Mismatch
claims:
  - id: wrong_cost
    text: Wrong.
    stance: bear
    sources: [src_a]
    as_of: 2026-05
    value: 5
    unit: USD/Mtok
    check: cost_per_mtok
---
"""


def test_check_exit_code_follows_fail_on(make_desk) -> None:
    root = make_desk({"kb/m.md": MISMATCH_PAGE})
    assert invoke("check", str(root), "--today", "2026-11-22").exit_code == 1
    assert invoke("check", str(root), "--today", "2026-11-22", "--fail-on", "error").exit_code == 0
    shown = invoke("check", str(root), "--today", "2026-11-22", "--status", "mismatch").stdout.splitlines()
    assert shown[0].startswith("mismatch  wrong_cost  kb/m.md:4  stated 5 USD/Mtok but recomputed 2.193 USD/Mtok")
    assert len(shown) == 1  # the claim; the summary goes to stderr
    bad = invoke("check", str(root), "--status", "broken")
    assert bad.exit_code == 2 and "unknown status broken" in bad.output


def test_check_fail_on_from_desk_settings(make_desk) -> None:
    root = make_desk({"kb/m.md": MISMATCH_PAGE, "data/desk.yaml": "fail_on: [error]\n"})
    assert invoke("check", str(root), "--today", "2026-11-22").exit_code == 0


def test_explain_unknown_claim_suggests(make_desk) -> None:
    root = make_desk()
    result = invoke("explain", "base_claim_", "--desk", str(root))
    assert result.exit_code == 2
    assert "no claim or parameter 'base_claim_' (did you mean 'base_claim'?)" in result.stderr


def test_explain_shows_every_step() -> None:
    output = invoke("explain", "batch8_cost_per_mtok", "--desk", str(REPO), "--today", "2026-11-22").stdout
    for expected in ("expression: cost_per_mtok", "given: batch = 8",
                     "batch                        parameter 8 count", "sources: divergent_token_economics",
                     "result: 1.096e-05 USD/tok (in base units)",
                     "in the claim's unit: 1.096e-05 USD/tok ÷ 1e-06 = 10.9649 USD/Mtok",
                     "tolerance: approximate as written: ±0.005 USD/Mtok",
                     "verdict: ok: recomputed 10.9649 USD/Mtok agrees with the stated ~10.96 USD/Mtok"):
        assert expected in output, expected


def test_explain_a_percentage(make_desk) -> None:
    page = ("---\ntitle: P\nclaims:\n  - {id: margin40, text: t, stance: bull, sources: [src_a], as_of: 2026-05, "
            "value: 27, unit: '%', tolerance: 0.5, check: gross_margin, given: {batch: 40}}\n---\n")
    output = invoke("explain", "margin40", "--desk", str(make_desk({"kb/p.md": page})), "--today", "2026-11-22").stdout
    for expected in ("result: 0.269 (a plain number)", "in the claim's unit: 0.269 ÷ 0.01 = 26.9006 %",
                     "verdict: ok: recomputed 26.9006 % agrees with the stated 27 %"):
        assert expected in output, (expected, output)


def test_model_prints_seed_table_break_even_and_sensitivities() -> None:
    output = invoke("model", str(REPO)).stdout
    for expected in ("87.7193 USD/Mtok", "-84.7193 USD/Mtok", "10.9649 USD/Mtok", "-7.9649 USD/Mtok",
                     "2.193 USD/Mtok", "0.807 USD/Mtok", "123.91 Ttok", "break_even_batch [count]",
                     "-> 29.2398 count", "d log(quantity) / d log(parameter)"):
        assert expected in output, expected


def _json_ready(value):
    """YAML values as JSON would carry them: numbers as numbers, dates as text."""
    if isinstance(value, YamlNumber):
        return value.value
    if isinstance(value, dict):
        return {k: _json_ready(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_ready(v) for v in value]
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def test_json_schema_validates_the_bundled_pages_and_rejects_mistakes() -> None:
    schema = json.loads(invoke("schema").stdout)
    validator = jsonschema.Draft202012Validator(schema)
    pages = 0
    for rel in page_paths(REPO):
        text, _ = decode((REPO / rel).read_bytes(), rel)
        loaded, _ = load_front_matter(text or "", rel)
        if loaded is not None:
            errors = list(validator.iter_errors(_json_ready(loaded.data)))
            assert not errors, (rel, errors[0].message)
            pages += 1
    assert pages >= 9
    bad = {"title": "x", "claims": [{"id": "Bad Id", "text": "t", "stance": "sideways", "sources": [],
                                      "as_of": "2026-13", "valu": 3}]}
    assert len(list(validator.iter_errors(bad))) >= 3


def test_schema_of_other_files() -> None:
    for what in ("sources", "model", "settings"):
        assert json.loads(invoke("schema", "--what", what).stdout)


def test_click_commands_are_thin() -> None:
    """Each command's body stays a thin layer over the library (STYLE.md: 5-15 lines)."""
    import inspect

    for name in COMMANDS:
        callback = main.commands[name].callback
        while hasattr(callback, "__wrapped__"):
            callback = callback.__wrapped__
        source = inspect.getsource(callback)
        body = source.split('"""')[-1]
        lines = [line for line in body.splitlines() if line.strip() and not line.strip().startswith("#")]
        assert len(lines) <= 25, f"{name} has {len(lines)} lines"


def test_a_path_that_does_not_exist_is_a_clean_error(make_desk) -> None:
    root = make_desk()
    result = invoke("validate", str(root / "kb" / "typo.md"))
    assert result.exit_code == 2 and "no such file or folder" in result.stderr


ERROR_PAGE = """\
---
title: Errors
claims:
  - id: typo_check
    text: A check with a typo.
    stance: bear
    sources: [src_a]
    as_of: 2026-05
    value: 2
    unit: USD/Mtok
    check: cost_per_mtk
  - id: loss_repay
    text: Repaying at a loss.
    stance: bear
    sources: [src_a]
    as_of: 2026-05
    value: 1
    unit: Ttok
    check: tokens_to_repay_capex
    given: {batch: 8}
---
"""


def test_explain_says_why_a_check_cannot_be_computed(make_desk) -> None:
    root = make_desk({"kb/e.md": ERROR_PAGE})
    typo = invoke("explain", "typo_check", "--desk", str(root), "--today", "2026-11-22").stdout
    assert "cannot compute: unknown name 'cost_per_mtk' (did you mean 'cost_per_mtok'?)" in typo
    assert "verdict: error:" in typo
    loss = invoke("explain", "loss_repay", "--desk", str(root), "--today", "2026-11-22").stdout
    assert "batch                        parameter 8 count" in loss
    assert "cannot compute: tokens_to_repay_capex is defined only while margin_per_mtok > 0, but " \
           "margin_per_mtok = -7.965 USD/Mtok" in loss
    qualitative = invoke("explain", "base_claim", "--desk", str(root)).stdout
    assert "no check: this claim is not recomputed" in qualitative and "verdict: unchecked: no check" in qualitative


def test_model_with_problems_exits_1(make_desk) -> None:
    broken = (REPO / "data" / "models" / "token_cost.yaml").read_text(encoding="utf-8").replace(
        "expr: node_cost_per_hour / tokens_per_hour", "expr: node_cost_per_hour / tokens_per_hour / 0 ** 1 + x")
    root = make_desk({"data/models/token_cost.yaml": broken})
    result = invoke("model", str(root))
    assert result.exit_code == 1 and "quantities[1].expr: unknown name 'x'" in result.stderr


def test_model_reads_no_page(make_desk) -> None:
    """The model is data/models/ alone: a page that cannot even be read does not concern it."""
    root = make_desk({"kb/broken.md": b"---\ntitle: [unclosed\n---\n\xff\xfe"})
    result = invoke("model", str(root))
    assert result.exit_code == 0 and "break_even_batch" in result.stdout and "broken" not in result.output


def run_on_terminal(args: list[str], cwd: Path) -> str:
    """Run the real `claimdesk` with its output on a pseudo-terminal, as a person at a shell sees it."""
    import os
    import pty
    import subprocess
    import sys

    leader, follower = pty.openpty()
    process = subprocess.Popen([sys.executable, "-c", "from claimdesk.cli import main; main()", *args], cwd=cwd, stdout=follower,
                               stderr=follower, env={**os.environ, "COLUMNS": "160"})
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the terminal closes when the process ends
            break
        if not chunk:
            break
        chunks.append(chunk)
    process.wait(timeout=120)
    os.close(leader)
    return re.sub(r"\x1b\[[0-9;]*m", "", b"".join(chunks).decode("utf-8", "replace"))  # without colours


def test_terminal_output_is_a_table_for_a_desk_sized_run_and_lines_beyond(tmp_path: Path) -> None:
    from .conftest import write_desk

    table = run_on_terminal(["check", "--no-store", "--today", "2026-11-22", str(REPO)], REPO)
    assert "┃ status" in table and "│ stale" in table and "checked" in table
    # the whole desk on a terminal: what needs attention; the note counts what it leaves out
    assert "│ ok" not in table and "│ unchecked" not in table
    counts = re.search(r"(\d+) ok, (\d+) unchecked;", table)
    assert counts is not None
    assert f"not shown on a terminal: {counts[1]} ok, {counts[2]} unchecked (--all shows them)" in table
    page = run_on_terminal(["check", "--no-store", "--today", "2026-11-22", "kb/token-economics.md"], REPO)
    assert "│ ok" in page and "│ unchecked" not in page  # a scope shows its ok claims
    assert "not shown on a terminal: unchecked claims (--all shows them)" in page
    everything = run_on_terminal(["check", "--no-store", "--all", "--today", "2026-11-22", str(REPO)], REPO)
    assert "│ ok" in everything and "│ unchecked" in everything
    assert "not shown on a terminal" not in everything
    many = "\n".join(["---", "title: Many", "claims:"] + [
        f"  - {{id: c{i}, text: t, stance: neutral, sources: [src_a], as_of: 2026-05, value: {i}, unit: x}}"
        for i in range(600)] + ["---", ""])
    root = write_desk(tmp_path / "desk", {"kb/many.md": many})
    lines = run_on_terminal(["check", "--no-store", "--all", "--today", "2026-11-22", str(root)], root)
    assert "┃" not in lines and "unchecked c599  kb/many.md:" in lines
