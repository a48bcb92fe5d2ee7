"""The researcher's workflow through the real CLI: add (checked, duplicates found), update with its
effects, source add, new, find, show with history, and the prompts on a real pseudo-terminal."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

from claimdesk.workflow import normalise_url, suggest_id

from .conftest import write_desk
from .test_edit import claimdesk

CHECKED_PAGE = """\
---
title: Costs
claims:
  - id: batch8_cost
    text: With eight concurrent streams the cost of a million tokens falls to about $10.96.
    stance: neutral
    sources: [divergent_token_economics]
    as_of: 2026
    value: "~10.96"
    unit: USD/Mtok
    metric: token_model.cost_per_mtok_batch8
    check: cost_per_mtok
    given: {batch: 8}
  - id: doubled_cost
    text: Twice the batch-8 cost is about $21.9 per million tokens.
    stance: neutral
    sources: [divergent_token_economics]
    as_of: 2026
    value: "~21.9"
    unit: USD/Mtok
    check: 2 * batch8_cost
---
# Costs

The figure batch8_cost is the one to watch.
"""


def desk(tmp_path: Path) -> Path:
    return write_desk(tmp_path / "desk", {"kb/costs.md": CHECKED_PAGE})


def test_add_shows_the_checkers_status_and_recomputed_value(tmp_path: Path) -> None:
    root = desk(tmp_path)
    result = claimdesk(root, "add", "kb/costs.md", "--text", "At batch 40 a million tokens cost about $2.19 to serve.",
                       "--stance", "neutral", "--source", "divergent_token_economics", "--as-of", "2026",
                       "--value", "~2.19", "--unit", "USD/Mtok", "--check", "cost_per_mtok", "--given", "batch=40",
                       "--force")  # the batch-8 claims are conflict candidates by their wording
    assert result.returncode == 0, result.stderr
    assert "batch_40_million_tokens_cost_2_19: ok: recomputed 2.193 USD/Mtok agrees" in result.stdout
    assert "given: {batch: 40}" in (root / "kb/costs.md").read_text(encoding="utf-8")


def test_add_shows_a_mismatch_and_still_writes_it(tmp_path: Path) -> None:
    root = desk(tmp_path)
    result = claimdesk(root, "add", "costs", "--text", "At batch 40 a million tokens cost $5 to serve.", "--stance",
                       "bear", "--source", "divergent_token_economics", "--as-of", "2026", "--value", "5", "--unit",
                       "USD/Mtok", "--check", "cost_per_mtok", "--given", "batch=40", "--id", "batch40_wrong",
                       "--force")
    assert result.returncode == 0, result.stderr
    assert "batch40_wrong: mismatch: stated 5 USD/Mtok but recomputed 2.193 USD/Mtok" in result.stdout


def test_add_with_format_errors_is_refused_as_validate_reports_them(tmp_path: Path) -> None:
    root = desk(tmp_path)
    before = (root / "kb/costs.md").read_bytes()
    result = claimdesk(root, "add", "kb/costs.md", "--text", "A claim citing a typo.", "--stance", "bull",
                       "--source", "divergent_token_econ", "--as-of", "2026", "--value", "1,000", "--unit", "USD")
    assert result.returncode == 1
    assert "unknown source 'divergent_token_econ' (did you mean 'divergent_token_economics'?)" in result.stdout
    assert "claims[2].value" in result.stdout
    assert (root / "kb/costs.md").read_bytes() == before


def test_a_near_duplicate_needs_force_when_not_on_a_terminal(tmp_path: Path) -> None:
    root = desk(tmp_path)
    args = ["add", "kb/base.md", "--text", "The cost of a million tokens falls to about $10.96 with eight concurrent "
            "streams.", "--stance", "neutral", "--source", "src_a", "--as-of", "2026"]
    before = (root / "kb/base.md").read_bytes()
    result = claimdesk(root, *args)
    assert result.returncode == 1 and "add --force" in result.stderr
    assert "near-duplicate" in result.stdout and "batch8_cost (kb/costs.md:4)" in result.stdout
    assert (root / "kb/base.md").read_bytes() == before
    conflict = claimdesk(root, *args[:3], "With eight concurrent streams the cost of a million tokens falls to "
                         "about $9.50.", *args[4:])
    assert conflict.returncode == 1 and "conflict candidate" in conflict.stdout
    assert claimdesk(root, *args, "--force").returncode == 0
    assert "the_cost_of" not in before.decode() and "cost_million_tokens_falls" in (root / "kb/base.md").read_text()


def test_update_adds_a_dated_claim_on_the_metric_and_shows_dependents(tmp_path: Path) -> None:
    root = desk(tmp_path)
    result = claimdesk(root, "update", "batch8_cost", "--value", "~11.5", "--as-of", "2026-06", "--text",
                       "With eight streams a million tokens now cost about $11.50.", "--source", "src_a")
    assert result.returncode == 0, result.stderr
    text = (root / "kb/costs.md").read_text(encoding="utf-8")
    assert text.index("id: batch8_cost\n") < text.index("id: batch8_cost_2026_06") < text.index("id: doubled_cost")
    assert "metric: token_model.cost_per_mtok_batch8" in text.split("batch8_cost_2026_06")[1].split("- id:")[0]
    assert "effect: doubled_cost (kb/costs.md) ok -> ok (its check uses it)" in result.stdout


def test_update_replace_changes_the_figure_and_the_dependents_status(tmp_path: Path) -> None:
    root = desk(tmp_path)
    result = claimdesk(root, "update", "batch8_cost", "--value", "~20", "--as-of", "2026-06", "--replace",
                       "--dry-run")
    assert "effect: doubled_cost (kb/costs.md) ok -> mismatch (its check uses it)" in result.stdout
    assert '-    value: "~10.96"' in result.stdout and '+    value: "~20"' in result.stdout
    assert "dry run" in result.stderr
    assert (root / "kb/costs.md").read_text(encoding="utf-8") == CHECKED_PAGE


def test_update_without_text_outside_a_terminal_asks_for_it(tmp_path: Path) -> None:
    result = claimdesk(desk(tmp_path), "update", "batch8_cost", "--value", "11", "--as-of", "2026-06")
    assert result.returncode == 2 and "--text" in result.stderr


def test_update_of_a_claim_without_metric_needs_one(tmp_path: Path) -> None:
    result = claimdesk(desk(tmp_path), "update", "doubled_cost", "--value", "22", "--as-of", "2026-06", "--text", "t")
    assert result.returncode == 2 and "has no metric" in result.stderr


def test_source_add_refuses_a_known_url_and_names_a_similar_title(tmp_path: Path) -> None:
    root = write_desk(tmp_path / "desk", {})
    first = claimdesk(root, "source", "add", "https://www.example.com/ai-margins/?utm_source=news&id=3",
                      "--title", "AI margins", "--publisher", "Example", "--published", "2026-05", "--kind", "article")
    assert first.returncode == 0, first.stderr
    assert "example_ai_margins:" in (root / "data/sources.yaml").read_text(encoding="utf-8")
    again = claimdesk(root, "source", "add", "http://example.com/ai-margins?id=3#top", "--title", "x",
                      "--publisher", "E", "--published", "2026", "--kind", "blog")
    assert again.returncode == 2 and "cite 'example_ai_margins' instead" in again.stderr
    similar = claimdesk(root, "source", "add", "https://other.org/a", "--title", "A report.", "--publisher", "O",
                        "--published", "2026", "--kind", "report")
    assert similar.returncode == 0 and "similar title" in similar.stdout and "src_a" in similar.stdout
    assert claimdesk(root, "validate", "--no-warnings").returncode == 0


def test_url_normalisation() -> None:
    assert normalise_url("HTTPS://WWW.Example.com/a/?utm_medium=x&b=2&a=1#frag") == \
        normalise_url("http://example.com/a?a=1&b=2&fbclid=z")
    assert normalise_url("https://example.com/a") != normalise_url("https://example.com/b")


def test_suggested_ids_are_valid_and_unique() -> None:
    assert suggest_id("OpenAI's revenue reached $13bn in 2025.", set()) == "openai_revenue_reached_13bn_2025"
    assert suggest_id("2025 was big", set()).startswith("c_")
    assert suggest_id("Same", {"same"}) == "same_2"
    assert suggest_id("!!!", set()) == "claim"


def test_find_ranks_and_speaks_json(tmp_path: Path) -> None:
    root = desk(tmp_path)
    result = claimdesk(root, "find", "eight concurrent streams cost", "--format", "json")
    hits = json.loads(result.stdout)
    assert hits[0]["key"] == "batch8_cost" and hits[0]["status"] == "ok" and hits[0]["path"] == "kb/costs.md"
    text = claimdesk(root, "find", "A report")
    assert "source  src_a  data/sources.yaml:1" in text.stdout


def test_show_gathers_history_dependencies_and_prose(tmp_path: Path) -> None:
    root = desk(tmp_path)
    assert claimdesk(root, "check", "--today", "2026-06-01").returncode == 0
    assert claimdesk(root, "check", "--today", "2026-06-01").returncode == 0
    result = claimdesk(root, "show", "batch8_cost", "--today", "2026-06-01")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "batch8_cost (claim, kb/costs.md:4)" in out and "given: {batch: 8}" in out
    assert "status: ok" in out and "runs 1-2: ok ~10.96 USD/Mtok" in out
    assert "used by: doubled_cost (kb/costs.md, ok)" in out
    assert "named in prose: kb/costs.md:25" in out
    assert "divergent_token_economics: The economics of a token" in out
    dependent = claimdesk(root, "show", "doubled_cost", "--today", "2026-06-01").stdout
    assert "uses: batch8_cost (ok)" in dependent
    unknown = claimdesk(root, "show", "batch8_cots")
    assert unknown.returncode == 2 and "did you mean 'batch8_cost'" in unknown.stderr


def test_hostile_text_cannot_drive_the_terminal(tmp_path: Path) -> None:
    root = desk(tmp_path)
    result = claimdesk(root, "add", "kb/costs.md", "--text", "Evil \x1b[2J claim \u202e text", "--stance", "bull",
                       "--source", "src_a", "--as-of", "2026", "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "\x1b" not in result.stdout and "\u202e" not in result.stdout
    assert '"Evil \\u001b[2J claim' in result.stdout  # written as a YAML escape in the page


def test_the_prompts_on_a_pseudo_terminal(tmp_path: Path) -> None:
    """`claimdesk add PAGE` with no options, answered through its prompts on a real pty."""
    root = desk(tmp_path)
    answers = [("text", "An H100 rents for about $2 an hour."), ("stance", "neutral"), ("sources", "src_a"),
               ("as_of", "2026-05"), ("value", "~2"), ("unit", "USD/h"), ("metric", "h100.rent"), ("check", "")]
    code, seen = _converse(root, ["add", "kb/base.md"], answers, "added h100_rents_2_hour to kb/base.md")
    assert code == 0, seen
    text = (root / "kb/base.md").read_text(encoding="utf-8")
    assert "  - id: h100_rents_2_hour\n    text: An H100 rents for about $2 an hour.\n" in text
    assert "    value: ~2\n    unit: USD/h\n    metric: h100.rent\n" in text


def _converse(root: Path, args: list[str], answers: list[tuple[str, str]], last: str) -> tuple[int, str]:
    """Run `claimdesk ARGS` in `root` on a real pseudo-terminal, answer each prompt as it appears,
    read until `last`; the exit code and everything the command showed."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: the real command, its stdin and stdout the pty
        os.chdir(root)
        os.execv(str(Path(sys.executable).parent / "claimdesk"), ["claimdesk", *args])
    seen = ""
    try:
        for prompt, answer in answers:
            seen = _read_until(fd, seen, prompt)
            os.write(fd, answer.encode() + b"\r")
        seen = _read_until(fd, seen, last)
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    return os.waitstatus_to_exitcode(status), seen


def _read_until(fd: int, seen: str, wanted: str, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    start = len(seen)
    while wanted not in seen[start:]:
        assert time.monotonic() < deadline, f"no {wanted!r} in {seen!r}"
        ready, _, _ = select.select([fd], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk.decode("utf-8", "replace")
    assert wanted in seen[start:], seen
    return seen


def test_every_new_command_is_listed_in_help() -> None:
    output = subprocess.run([str(Path(sys.executable).parent / "claimdesk"), "--help"], capture_output=True,
                            text=True).stdout
    for name in ("add", "update", "source", "new", "find", "show"):
        assert f"  {name} " in output


def test_a_new_page_with_a_claim_builds_in_the_real_site(tmp_path: Path) -> None:
    import shutil

    from .conftest import REPO

    root = tmp_path / "desk"
    shutil.copytree(REPO, root, ignore=shutil.ignore_patterns(".venv", ".git", "site", "*.duckdb*", "__pycache__",
                                                              "tests", "scripts", "src"))
    assert claimdesk(root, "new", "Inference pricing").returncode == 0
    added = claimdesk(root, "add", "inference-pricing", "--text", "An H100 rents for about $2 an hour.", "--stance",
                      "neutral", "--source", "divergent_token_economics", "--as-of", "2026", "--value", "~2",
                      "--unit", "USD/h", "--force")
    assert added.returncode == 0, added.stderr
    build = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                           cwd=root, capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stderr
    home = (tmp_path / "site" / "index.html").read_text(encoding="utf-8")
    assert "inference-pricing/" in home and (tmp_path / "site" / "inference-pricing" / "index.html").exists()
    assert claimdesk(root, "validate", "--no-warnings").returncode == 0


def test_on_a_terminal_a_near_duplicate_is_asked_about_and_no_means_nothing_written(tmp_path: Path) -> None:
    root = desk(tmp_path)
    before = (root / "kb/base.md").read_bytes()
    code, seen = _converse(root, ["add", "kb/base.md", "--text", "The cost of a million tokens falls to about $10.96 "
                                  "with eight concurrent streams.", "--stance", "neutral", "--source", "src_a",
                                  "--as-of", "2026"],
                           [("value", ""), ("metric", ""), ("check", ""), ("Write anyway?", "n")], "nothing was written")
    assert code == 1, seen
    assert "near-duplicate" in seen and "batch8_cost" in seen
    assert (root / "kb/base.md").read_bytes() == before


def test_the_new_claims_error_is_shown_even_when_another_claim_has_the_same(tmp_path: Path) -> None:
    page = ("---\ntitle: Bad\nclaims:\n  - id: old_bad\n    text: An old claim citing a missing source.\n"
            "    stance: bull\n    sources: [missing_source]\n    as_of: 2026\n---\n")
    root = write_desk(tmp_path / "desk", {"kb/bad.md": page})
    result = claimdesk(root, "add", "kb/bad.md", "--text", "A new claim that cites the same missing source.",
                       "--stance", "bear", "--source", "missing_source", "--as-of", "2026")
    assert result.returncode == 1 and "claims[1].sources[0]: unknown source 'missing_source'" in result.stdout
    assert (root / "kb/bad.md").read_text(encoding="utf-8") == page


def test_update_on_a_terminal_offers_the_old_text(tmp_path: Path) -> None:
    root = desk(tmp_path)
    code, seen = _converse(root, ["update", "batch8_cost", "--value", "~11", "--as-of", "2026-06", "--id", "batch8_june"],
                           [("text of the new claim [With eight concurrent streams",
                             "With eight streams a million tokens cost about $11 in June.")],
                           "added batch8_june to kb/costs.md")
    assert code == 0, seen
    assert "text: With eight streams a million tokens cost about $11 in June." in \
        (root / "kb/costs.md").read_text(encoding="utf-8")
