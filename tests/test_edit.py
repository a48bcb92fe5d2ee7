"""Exact, safe edits: golden bytes after add, update and new on odd pages, refusals, a writer
killed before its rename, and two writers racing on one page. Every run is the real CLI in a
subprocess on real files."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from claimdesk import edit
from claimdesk.frontmatter import YamlNumber, parse_yaml

from .conftest import write_desk

GOLDEN = Path(__file__).parent / "edits"
CLAIMDESK = [str(Path(sys.executable).parent / "claimdesk")]
TODAY = ["--today", "2026-06-01"]

ACTIONS = {
    "add": ["add", "kb/odd.md", "--text", "A third claim: with a colon and 'quotes'.", "--stance", "bear",
            "--source", "src_a", "--as-of", "2026-Q2", "--value", "[2, 4]", "--unit", "%",
            "--field", "review_by=2026-12-31", *TODAY],
    "update": ["update", "odd_first", "--value", "11", "--as-of", "2026-06", "--text",
               "A newer figure for the first claim.", "--id", "odd_first_june", *TODAY],
    "replace": ["update", "odd_second", "--value", "~13", "--as-of", "2026-06", "--replace",
                "--source", "divergent_token_economics", *TODAY],
}


def claimdesk(root: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLAIMDESK, *args], cwd=root, capture_output=True, text=True, stdin=subprocess.DEVNULL,
                          env={**os.environ, **(env or {})}, timeout=120)


def start(root: Path, *args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen([*CLAIMDESK, *args], cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, text=True, env={**os.environ, **env})


def crlf_bom(raw: bytes) -> bytes:
    return b"\xef\xbb\xbf" + raw.replace(b"\n", b"\r\n")


@pytest.mark.parametrize("variant", ["lf", "crlf+bom"])
@pytest.mark.parametrize("action", sorted(ACTIONS))
def test_golden_bytes_after_an_edit(tmp_path: Path, action: str, variant: str) -> None:
    """The page after each edit is byte for byte the golden file (with CRLF and a BOM: the golden
    file with CRLF and a BOM)."""
    shape = crlf_bom if variant == "crlf+bom" else (lambda raw: raw)
    root = write_desk(tmp_path / "desk", {"kb/odd.md": shape((GOLDEN / "odd-page.md").read_bytes())})
    result = claimdesk(root, *ACTIONS[action])
    assert result.returncode == 0, result.stderr
    assert (root / "kb/odd.md").read_bytes() == shape((GOLDEN / f"odd-page.{action}.md").read_bytes())
    assert "+++ b/kb/odd.md" in result.stdout
    assert "\r" not in result.stdout and "?\n" not in result.stdout  # the diff reads the same for CRLF
    assert claimdesk(root, "validate", "--no-warnings").returncode == 0


def test_golden_bytes_after_new(tmp_path: Path) -> None:
    root = write_desk(tmp_path / "desk", {"mkdocs.yml": (GOLDEN / "mkdocs.yml").read_bytes()})
    result = claimdesk(root, "new", "Inference pricing")
    assert result.returncode == 0, result.stderr
    assert (root / "mkdocs.yml").read_bytes() == (GOLDEN / "mkdocs.new.yml").read_bytes()
    assert (root / "kb/inference-pricing.md").read_bytes() == (GOLDEN / "new-page.md").read_bytes()
    again = claimdesk(root, "new", "Inference pricing")
    assert again.returncode == 2 and "already exists" in again.stderr
    assert (root / "mkdocs.yml").read_bytes() == (GOLDEN / "mkdocs.new.yml").read_bytes()


def test_new_without_explicit_nav_leaves_mkdocs_alone(tmp_path: Path) -> None:
    config = b"site_name: x\ndocs_dir: kb\n"
    root = write_desk(tmp_path / "desk", {"mkdocs.yml": config})
    result = claimdesk(root, "new", "A page", "--name", "a-page")
    assert result.returncode == 0 and (root / "kb/a-page.md").exists()
    assert "no explicit nav" in result.stdout
    assert (root / "mkdocs.yml").read_bytes() == config


def test_the_same_add_twice_adds_one_claim(tmp_path: Path) -> None:
    root = write_desk(tmp_path / "desk", {"kb/odd.md": (GOLDEN / "odd-page.md").read_bytes()})
    assert claimdesk(root, *ACTIONS["add"]).returncode == 0
    after_first = (root / "kb/odd.md").read_bytes()
    second = claimdesk(root, *ACTIONS["add"])
    assert second.returncode == 0 and "already there: third_claim_colon_quotes" in second.stdout
    assert (root / "kb/odd.md").read_bytes() == after_first


def test_dry_run_writes_nothing(tmp_path: Path) -> None:
    root = write_desk(tmp_path / "desk", {"kb/odd.md": (GOLDEN / "odd-page.md").read_bytes()})
    result = claimdesk(root, *ACTIONS["add"], "--dry-run")
    assert result.returncode == 0 and "+    -   id: third_claim_colon_quotes" in result.stdout
    assert (root / "kb/odd.md").read_bytes() == (GOLDEN / "odd-page.md").read_bytes()


ADD_BASE = ["add", "kb/base.md", "--text", "Another base claim.", "--stance", "neutral", "--source", "src_a",
            "--as-of", "2026-05"]


def refused(root: Path, page: str, *args: str) -> str:
    before = (root / page).read_bytes() if (root / page).exists() else None
    result = claimdesk(root, *args)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    if before is not None:
        assert (root / page).read_bytes() == before
    return result.stderr


@pytest.mark.parametrize(("content", "message"), [
    ("---\ntitle: x\ntitle: y\nclaims: []\n---\n", "duplicate key 'title'"),
    ("---\ntitle: [unclosed\n---\n", "invalid YAML"),
    ("---\ntitle: x\nclaims: !!python/object:os.system []\n---\n", "tags"),
    ("---\ntitle: x\n", "never closed"),
    ("# no front-matter\n", "has no front-matter"),
])
def test_a_page_that_does_not_parse_is_refused_and_untouched(tmp_path: Path, content: str, message: str) -> None:
    root = write_desk(tmp_path / "desk", {"kb/base.md": content})
    assert message in refused(root, "kb/base.md", *ADD_BASE)


def test_symlinked_read_only_and_outside_pages_are_refused(tmp_path: Path) -> None:
    root = write_desk(tmp_path / "desk", {})
    outside = tmp_path / "outside.md"
    outside.write_text("---\ntitle: Out\nclaims: []\n---\n", encoding="utf-8")
    (root / "kb/link.md").symlink_to(outside)
    assert "symbolic link" in refused(root, "kb/link.md", *[a if a != "kb/base.md" else "kb/link.md" for a in ADD_BASE])
    assert outside.read_text(encoding="utf-8") == "---\ntitle: Out\nclaims: []\n---\n"
    assert "outside" in refused(root, "kb/base.md", *[a if a != "kb/base.md" else str(outside) for a in ADD_BASE])
    assert "outside" in refused(root, "kb/base.md", *[a if a != "kb/base.md" else "../outside.md" for a in ADD_BASE])
    (root / "kb/base.md").chmod(0o444)
    try:
        assert "read-only" in refused(root, "kb/base.md", *ADD_BASE)
    finally:
        (root / "kb/base.md").chmod(0o644)


def test_claims_in_flow_style_are_refused(tmp_path: Path) -> None:
    page = "---\ntitle: x\nclaims: [{id: a, text: t, stance: bull, sources: [src_a], as_of: 2026}]\n---\n"
    root = write_desk(tmp_path / "desk", {"kb/base.md": page})
    assert "not a block list" in refused(root, "kb/base.md", *ADD_BASE)


@pytest.mark.parametrize("page", [
    "---\ntitle: x\n---\nbody\n",  # no claims key
    "---\ntitle: x\nclaims:\n---\n",  # claims: with nothing
    "---\ntitle: x\nclaims: [] # none yet\ntags: [a]\n---\nbody\n",  # an empty flow list
])
def test_a_first_claim_is_added_to_any_empty_claims(tmp_path: Path, page: str) -> None:
    root = write_desk(tmp_path / "desk", {"kb/base.md": page})
    result = claimdesk(root, *ADD_BASE)
    assert result.returncode == 0, result.stderr
    text = (root / "kb/base.md").read_text(encoding="utf-8")
    assert "  - id: another_base_claim\n    text: Another base claim.\n" in text
    assert text.endswith(page.split("---\n", 2)[2])
    assert claimdesk(root, "validate", "--no-warnings").returncode == 0


def test_a_writer_killed_before_the_rename_leaves_the_page_intact(tmp_path: Path) -> None:
    root = write_desk(tmp_path / "desk", {"kb/odd.md": (GOLDEN / "odd-page.md").read_bytes()})
    marker = tmp_path / "paused"
    writer = start(root, *ACTIONS["add"], env={edit.TEST_PAUSE_ENV: str(marker)})
    try:
        _wait_for(marker, writer)
        writer.send_signal(signal.SIGKILL)
        writer.wait(timeout=30)
    finally:
        if writer.poll() is None:
            writer.kill()
    assert (root / "kb/odd.md").read_bytes() == (GOLDEN / "odd-page.md").read_bytes()
    leftovers = [p.name for p in (root / "kb").iterdir() if p.name.startswith(".odd.md.")]
    assert leftovers, "the temp file was written in the page's folder"
    # The leftover temp file is hidden: the desk reads as before, and the edit can be run again.
    assert claimdesk(root, "validate", "--no-warnings").returncode == 0
    assert claimdesk(root, *ACTIONS["add"]).returncode == 0
    assert (root / "kb/odd.md").read_bytes() == (GOLDEN / "odd-page.add.md").read_bytes()


def test_two_adds_racing_on_one_page_never_lose_a_claim(tmp_path: Path) -> None:
    """The first reads the page, then waits; the second adds its claim meanwhile; the first then
    refuses, and the page holds the second's claim, whole."""
    root = write_desk(tmp_path / "desk", {})
    marker = tmp_path / "read"
    first = start(root, *ADD_BASE, "--text", "The first racer's claim.",
                  env={edit.TEST_READ_PAUSE_ENV: str(marker), edit.TEST_READ_PAUSE_ENV + "_SECONDS": "3"})
    _wait_for(marker, first)
    second = claimdesk(root, *ADD_BASE, "--text", "The second racer's claim.")
    out, err = first.communicate(timeout=120)
    assert second.returncode == 0, second.stderr
    assert first.returncode == 2 and "changed on disk" in err, (out, err)
    text = (root / "kb/base.md").read_text(encoding="utf-8")
    assert "second_racer_claim" in text and "first_racer" not in text
    assert claimdesk(root, "validate", "--no-warnings").returncode == 0


def test_many_concurrent_adds_keep_every_claim_that_was_reported_written(tmp_path: Path) -> None:
    root = write_desk(tmp_path / "desk", {})
    names = ["alpha", "bravo", "charlie", "delta"]
    # --force: a racer that reads the page after another wrote sees a near-duplicate of its claim.
    writers = [start(root, *ADD_BASE, "--text", f"The {name} racer states a claim.", "--id", f"racer_{name}",
                     "--force", env={}) for name in names]
    errors = [w.communicate(timeout=120)[1] for w in writers]
    outcomes = [(name, w.returncode, err) for name, w, err in zip(names, writers, errors)]
    text = (root / "kb/base.md").read_text(encoding="utf-8")
    loaded = parse_yaml(text.split("---\n")[1], "kb/base.md")
    assert not loaded.problems
    ids = [c["id"] for c in loaded.data["claims"]]
    for name, code, err in outcomes:
        assert code in (0, 2), err
        assert (f"racer_{name}" in ids) == (code == 0), (name, code, err)
        if code == 2:
            assert "changed on disk" in err or "another claimdesk" in err
    assert any(code == 0 for _, code, _ in outcomes)


def _wait_for(marker: Path, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60
    while not marker.exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the writer never reached the pause"
        time.sleep(0.05)


@pytest.mark.parametrize("value", [
    "plain text", "yes", "NO", "off", "~", "null", "1e5", "0x1F", "12:30", "- dash", "a: colon", "# hash",
    "trailing #hash", "%", "@at", "`tick", " leading", "trailing ", "quote\"s", "it's", "new\nline", "tab\there",
    "[not, a, list]", "{not: map}", "2026-05-01", "2026-13-45", "*alias", "&anchor", "!tag", "|", ">", "\u202eRTL",
    "\x1b[31mred", "", "'", '"',
])
def test_yaml_values_read_back_exactly(value: str) -> None:
    written = edit.yaml_value(value)
    loaded = parse_yaml(f"k: {written}\n", "t")
    assert not loaded.problems and loaded.data == {"k": value} and type(loaded.data["k"]) is str


def test_numbers_and_lists_keep_their_type() -> None:
    for value in (YamlNumber("13"), YamlNumber("0.80"), [YamlNumber("2"), YamlNumber("4")], {"batch": YamlNumber("8")},
                  ["a, b", "c]"], True, None):
        written = edit.yaml_value(value)
        assert edit.canonical(parse_yaml(f"k: {written}\n", "t").data["k"]) == edit.canonical(value), written


@pytest.mark.parametrize(("page", "expected"), [
    # a kept block scalar keeps its trailing blank lines; the claim goes after them
    ("---\ntitle: x\nclaims:\n  - id: a\n    text: |+\n      kept\n\n\n---\nbody\n",
     "---\ntitle: x\nclaims:\n  - id: a\n    text: |+\n      kept\n\n\n  - id: b\n    text: new\n---\nbody\n"),
    # a comment after the last claim stays below the new one
    ("---\ntitle: x\nclaims:\n  - id: a\n    text: |\n      clip\n\n  # trailing comment\n---\nbody\n",
     "---\ntitle: x\nclaims:\n  - id: a\n    text: |\n      clip\n\n  - id: b\n    text: new\n  # trailing comment\n---\nbody\n"),
    # a nested mapping last; items not indented under `claims:`
    ("---\ntitle: x\nclaims:\n  - id: a\n    given:\n      batch: 8\n---\n",
     "---\ntitle: x\nclaims:\n  - id: a\n    given:\n      batch: 8\n  - id: b\n    text: new\n---\n"),
    ("---\ntitle: x\nclaims:\n- id: a\n  text: t\n---\n", "---\ntitle: x\nclaims:\n- id: a\n  text: t\n- id: b\n  text: new\n---\n"),
    # a front-matter closed by `...`, a page that ends at its closing line, old Mac line endings
    ("---\ntitle: x\nclaims:\n  - id: a\n    text: 't'\n...\n\tbody\n",
     "---\ntitle: x\nclaims:\n  - id: a\n    text: 't'\n  - id: b\n    text: new\n...\n\tbody\n"),
    ("---\ntitle: x\nclaims:\n  - id: a\n    text: t   # c\n---", "---\ntitle: x\nclaims:\n  - id: a\n    text: t   # c\n"
     "  - id: b\n    text: new\n---"),
    ("---\rtitle: x\rclaims:\r  - id: a\r    text: t\r---\rbody\r", "---\rtitle: x\rclaims:\r  - id: a\r    text: t\r"
     "  - id: b\r    text: new\r---\rbody\r"),
    # U+2028 and U+0085 break lines for libyaml, not for the desk: positions still fit
    ('---\ntitle: "x\u2028y\x85z"\nclaims:\n  - id: a\n---\n',
     '---\ntitle: "x\u2028y\x85z"\nclaims:\n  - id: a\n  - id: b\n    text: new\n---\n'),
])
def test_a_claim_is_inserted_exactly_on_unusual_pages(tmp_path: Path, page: str, expected: str) -> None:
    (tmp_path / "kb").mkdir()
    (tmp_path / "kb/p.md").write_bytes(page.encode())
    assert edit.insert_claim(edit.read_page(tmp_path, "kb/p.md"), {"id": "b", "text": "new"}) == expected.encode()


def test_items_it_cannot_place_are_refused(tmp_path: Path) -> None:
    (tmp_path / "kb").mkdir()
    (tmp_path / "kb/p.md").write_bytes(b"---\ntitle: x\nclaims:\n  -\n    id: a\n---\n")
    with pytest.raises(edit.DeskError, match="not written as `- key: value` blocks"):
        edit.insert_claim(edit.read_page(tmp_path, "kb/p.md"), {"id": "b", "text": "new"})


@pytest.mark.parametrize("variant", ["lf", "crlf+bom"])
def test_golden_bytes_after_source_add(tmp_path: Path, variant: str) -> None:
    shape = crlf_bom if variant == "crlf+bom" else (lambda raw: raw)
    root = write_desk(tmp_path / "desk", {"data/sources.yaml": shape((GOLDEN / "sources.yaml").read_bytes())})
    result = claimdesk(root, "source", "add", "https://example.com/x?utm_source=a", "--title", "AI margins: a survey",
                       "--publisher", "Example", "--published", "2026-05", "--kind", "article")
    assert result.returncode == 0, result.stderr
    assert (root / "data/sources.yaml").read_bytes() == shape((GOLDEN / "sources.added.yaml").read_bytes())


def test_every_bundled_page_takes_a_claim_and_every_figure_can_be_replaced(tmp_path: Path) -> None:
    """On the real pages (folded texts, flow lists, comments): adding a claim and replacing each
    value succeed, and each result is proven by edit.py itself (bytes outside the span, data)."""
    from .conftest import REPO

    pages = sorted((REPO / "kb").glob("*.md"))
    assert len(pages) >= 5
    replaced = 0
    for source in pages:
        (tmp_path / "kb").mkdir(exist_ok=True)
        (tmp_path / "kb" / source.name).write_bytes(source.read_bytes())
        page = edit.read_page(tmp_path, f"kb/{source.name}")
        if not page.claims():
            continue
        edit.insert_claim(page, {"id": "new_claim", "text": "A new claim.", "stance": "bull", "sources": ["src_a"],
                                 "as_of": YamlNumber("2026")})
        edit.insert_claim(page, {"id": "next_to_first", "text": "Next to the first."}, after=0)
        for index, claim in enumerate(page.claims()):
            if "value" in claim:
                edit.replace_fields(page, index, {"value": YamlNumber("1"), "as_of": "2026-06"})
                replaced += 1
    assert replaced >= 50
