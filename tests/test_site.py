"""The site, built for real: `mkdocs build --strict` with the claimdesk plugin, the staged folder
built without it (and by zensical when it is installed), inline references, the plugin's errors."""

from __future__ import annotations

import json
import re
import shutil
import sys
from html import unescape
from pathlib import Path

import pytest

from claimdesk.site.refs import find_references, replace_references
from claimdesk.store import Store

from .conftest import write_desk
from .site_helpers import (
    LISTINGS,
    article,
    broken_links,
    built_pages,
    claimdesk,
    copy_bundled_desk,
    listing_links,
    listing_rows,
    mkdocs_build,
    parse_page,
    resolve,
    run,
    split_desk_files,
)

PAGES = ["index.html", "economics-of-a-token/index.html", "circular-financing/index.html", "desk/claims/index.html",
         "desk/sources/index.html", "desk/bull-vs-bear/index.html", "desk/metrics/index.html",
         "desk/model/index.html", "guide/site/index.html"]


@pytest.fixture(scope="module")
def bundled(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The bundled desk built three ways: the plugin (which checks first: there is no store yet),
    the staged folder with mkdocs, and (when installed) the staged folder with zensical."""
    base = tmp_path_factory.mktemp("bundled")
    desk = copy_bundled_desk(base / "desk")
    built = mkdocs_build(desk, base / "site")
    assert built.returncode == 0, built.stderr
    staged = claimdesk(desk, "site", "--stage", str(base / "stage"), "--no-check", "--for", "mkdocs")
    assert staged.returncode == 0, staged.stderr
    assert "statuses from check run 1" in staged.stdout and "build with: mkdocs build -f" in staged.stdout
    plain = run([str(Path(shutil.which("mkdocs", path=str(Path(__import__("sys").executable).parent)) or "mkdocs")),
                 "build", "--strict", "-f", str(base / "stage" / "mkdocs.yml")], base / "stage")
    assert plain.returncode == 0, plain.stderr
    out = {"desk": desk, "site": base / "site", "stage": base / "stage", "staged_site": base / "stage" / "site"}
    zensical = shutil.which("zensical", path=str(Path(__import__("sys").executable).parent))
    if zensical:  # staged for zensical (the default): links in the pages' HTML as zensical reads them
        zensical_copy = base / "zensical"
        staged = claimdesk(desk, "site", "--stage", str(zensical_copy), "--no-check")
        assert staged.returncode == 0 and "build with: zensical build -f" in staged.stdout, staged.stderr
        result = run([zensical, "build"], zensical_copy)
        assert result.returncode == 0, result.stdout + result.stderr
        out["zensical_site"] = zensical_copy / "site"
    return out


def test_concept_page_shows_its_claims(bundled: dict[str, Path]) -> None:
    page = (bundled["site"] / "economics-of-a-token" / "index.html").read_text(encoding="utf-8")
    assert page.count('class="cd-claim ') >= 10
    assert 'id="batch40_cost_per_mtok"' in page  # the anchor page/#claim-id
    assert "▲ bull" in page and "▼ bear" in page and "● neutral" in page
    assert 'class="cd-badge cd-st-ok"' in page
    assert "How this is computed" in page and "verdict: ok" in page
    assert "divergentcompute.com" in page  # a footnoted source with its URL
    summary = re.search(r'<meta name="description" content="([^"]*)"', page)
    assert summary and summary.group(1).startswith("The per-token P&amp;L of one inference node, batch by batch")
    head = page.index('class="cd-page-head"')
    assert page.index("</h1>") < head < page.index("Every argument about whether AI")
    assert 'href="../desk/bull-vs-bear/#tag-margins"' in page
    # The prose's figures are references: the stated value, a status mark, a link to the claim.
    refs = re.findall(r'<a class="cd-ref cd-st-(\w+)" href="([^"]+)"[^>]*>([^<]+)<sup', page)
    assert len(refs) >= 8
    assert any(status == "ok" and unescape(href) == "#batch40_cost_per_mtok" and unescape(text) == "~2.19 USD/Mtok"
               for status, href, text in refs)
    assert "[[claim:" not in page.replace("<code>[[claim:", "")


def test_search_index_holds_the_claims(bundled: dict[str, Path]) -> None:
    index = json.loads((bundled["site"] / "search" / "search_index.json").read_text(encoding="utf-8"))
    claims = [d for d in index["docs"] if d["location"] == "economics-of-a-token/#claims"]
    assert claims and "batch40_cost_per_mtok" in claims[0]["text"] and "~2.19 USD/Mtok" in claims[0]["text"]
    assert not any(d["location"].startswith("desk/claims/") for d in index["docs"])  # listings repeat the pages


def test_generated_pages_and_assets(bundled: dict[str, Path]) -> None:
    site = bundled["site"]
    home = (site / "index.html").read_text(encoding="utf-8")
    assert "The desk at a glance" in home and "Newest claims" in home and 'href="desk/claims/"' in home
    claims = json.loads((site / "assets" / "claimdesk" / "claims.json").read_text(encoding="utf-8"))
    assert len(claims["rows"]) >= 150
    assert {row[claims["columns"].index("status")] for row in claims["rows"]} >= {"ok", "unchecked"}
    sources = (site / "desk" / "sources" / "index.html").read_text(encoding="utf-8")
    assert 'id="source-divergent_token_economics"' in sources and "hold," in sources and "went stale" in sources
    sides = (site / "desk" / "bull-vs-bear" / "index.html").read_text(encoding="utf-8")
    assert 'id="tag-margins"' in sides and "no bear claims" in sides or "▼ bear" in sides
    metrics = (site / "desk" / "metrics" / "index.html").read_text(encoding="utf-8")
    assert 'id="metric-token_model-cost_per_mtok"' in metrics
    model = (site / "desk" / "model" / "index.html").read_text(encoding="utf-8")
    assert "<math" in model and "break-even-batch" in model and 'id="cd-model-data"' in model
    code = (site / "assets" / "claimdesk" / "model.js").read_text(encoding="utf-8")
    assert "p[0]" in code and "node_cost_per_hour" not in code  # numbered inputs only: no contributor text
    assert "fonts.googleapis" not in home and "cdn" not in model.lower()
    report = (site / "desk" / "report" / "index.html").read_text(encoding="utf-8")
    assert "No nightly report has been recorded for this desk yet" in report  # the nav entry always has a page


def test_equations_are_printed_from_the_checker_s_trees() -> None:
    from claimdesk.expr import parse
    from claimdesk.site.calculator import js_of, mathml_of

    def text(expression: str) -> list[str]:
        return re.sub(r"<[^>]+>", " ", mathml_of(parse(expression))).split()

    assert mathml_of(parse("a / b")) == "<mfrac><mi>a</mi><mi>b</mi></mfrac>"
    assert mathml_of(parse("a ** 2")) == "<msup><mi>a</mi><mn>2</mn></msup>"
    assert "<msqrt>" in mathml_of(parse("sqrt(a_b)")) and "<mi>a-b</mi>" in mathml_of(parse("sqrt(a_b)"))
    assert text("(a + b) * c") == ["(", "a", "+", "b", ")", "&#183;", "c"]
    assert text("a - (b - c)") == ["a", "&#8722;", "(", "b", "&#8722;", "c", ")"]
    assert text("a + -1 * b") == ["a", "&#8722;", "b"]
    assert text("a * (b * c)") == ["a", "&#183;", "b", "&#183;", "c"]  # a product groups either way
    assert js_of(parse("min(a, b ** 2) / -c"), {"a": 0, "b": 1, "c": 2}) == \
        "(Math.min(p[0], Math.pow(p[1], 2.0)) / (-p[2]))"


def test_metric_chart_is_deterministic(tmp_path: Path) -> None:
    import datetime as dt

    from claimdesk.site.pages import chart
    points = [(dt.date(2025, 1, 1), 1.0), (dt.date(2025, 6, 1), 3.0), (dt.date(2026, 1, 1), 2.0)]
    first, second = chart(points, "USD bn"), chart(list(points), "USD bn")
    assert first == second and first.startswith("<svg") and first.count("<circle") == 3


def test_staged_folder_builds_the_same_site(bundled: dict[str, Path]) -> None:
    for page in PAGES:
        assert article(bundled["site"] / page) == article(bundled["staged_site"] / page), page
    staged_page = (bundled["stage"] / "docs" / "economics-of-a-token.md").read_text(encoding="utf-8")
    assert "claims:" not in staged_page.split("---")[1]  # the claims stay in kb/; the page carries their HTML
    config = (bundled["stage"] / "mkdocs.yml").read_text(encoding="utf-8")
    assert "claimdesk:" not in config and "docs_dir: docs" in config


def test_every_link_works_for_a_site_served_under_a_path(bundled: dict[str, Path]) -> None:
    """Every href and src of every page (claim cards, inline references, listings, scripts,
    Material's own), resolved as a browser does for the site served at http://host/desk/, as a
    project site is: the plugin's site, the folder staged for mkdocs and the one staged for zensical
    (which reads links in HTML relative to the docs file, unlike mkdocs)."""
    for name in ("site", "staged_site", "zensical_site"):
        if name in bundled:
            assert broken_links(bundled[name]) == [], name


def test_zensical_builds_the_staged_folder(bundled: dict[str, Path]) -> None:
    if "zensical_site" not in bundled:
        pytest.skip("zensical is not installed")
    page = (bundled["zensical_site"] / "economics-of-a-token" / "index.html").read_text(encoding="utf-8")
    assert page.count('class="cd-claim ') >= 10 and 'class="cd-ref cd-st-ok"' in page
    assert (bundled["zensical_site"] / "desk" / "model" / "index.html").exists()
    assert (bundled["zensical_site"] / "assets" / "claimdesk" / "model.js").exists()


def test_stage_refuses_a_foreign_folder(tmp_path: Path) -> None:
    desk = write_desk(tmp_path / "desk", {"mkdocs.yml": "site_name: t\ndocs_dir: kb\n"})
    assert claimdesk(desk, "check").returncode in (0, 1)
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me", encoding="utf-8")
    result = claimdesk(desk, "site", "--stage", str(foreign), "--no-check")
    assert result.returncode == 2 and "was not written by `claimdesk site`" in result.stderr
    assert (foreign / "notes.txt").read_text(encoding="utf-8") == "keep me"


# -- inline references ---------------------------------------------------------------------------------
def test_references_outside_code_only() -> None:
    text = ("A [[claim:a]] and `[[claim:b]]` and ``x [[claim:c]] y``.\n\n```\n[[claim:d]]\n```\n\n"
            "    [[claim:e]]\n\n- item [[claim:f]]\n\n~~~md\n[[claim:g]]\n~~~\n$x$ {{ y }} [[claim:h]]\n")
    assert [f.claim_id for f in find_references(text)] == ["a", "f", "h"]
    assert replace_references("x [[claim:a]] y", lambda i: f"<{i}>") == "x <a> y"


def test_marker_in_code_is_not_a_marker() -> None:
    from claimdesk.site.refs import marker_line

    text = "Put `<!-- claimdesk:claims -->` on a line.\n\n```\n<!-- claimdesk:claims -->\n```\n<!-- claimdesk:claims -->\n"
    span = marker_line(text, "<!-- claimdesk:claims -->")
    assert span is not None and text[span[0]:span[1]] == "<!-- claimdesk:claims -->\n" and span[0] == text.rindex("<!--")


def test_unknown_reference_is_a_validate_error(tmp_path: Path) -> None:
    page = "---\ntitle: P\n---\n# P\n\nThe base is [[claim:base_claim]]; the typo [[claim:base_clam]].\n"
    desk = write_desk(tmp_path / "desk", {"kb/p.md": page})
    result = claimdesk(desk, "validate")
    assert result.returncode == 1
    assert "kb/p.md:6: body: [[claim:base_clam]] names no claim or model parameter (did you mean 'base_claim'?)" \
        in result.stdout


# -- the plugin ---------------------------------------------------------------------------------------
def _site_desk(root: Path, files: dict[str, str]) -> Path:
    config = "site_name: t\ndocs_dir: kb\nstrict: true\ntheme:\n  name: material\n  font: false\nplugins:\n  - claimdesk\n"
    return write_desk(root, {"mkdocs.yml": config, **files})


def test_staging_a_desk_whose_mkdocs_yml_does_not_read_writes_nothing(tmp_path: Path) -> None:
    desk = _site_desk(tmp_path / "desk", {"mkdocs.yml": "site_name: t\nnav: [a: b\n"})
    staged = claimdesk(desk, "site", "--stage", str(tmp_path / "stage"))
    assert staged.returncode == 2 and "Traceback" not in staged.stderr
    assert "mkdocs.yml:3: not valid YAML (expected ',' or ']'" in staged.stderr
    assert not (tmp_path / "stage").exists()


def test_plugin_without_store_reading_only_fails_cleanly(tmp_path: Path) -> None:
    desk = _site_desk(tmp_path / "desk", {})
    config = (desk / "mkdocs.yml").read_text(encoding="utf-8").replace("  - claimdesk\n", "  - claimdesk:\n      check: false\n")
    (desk / "mkdocs.yml").write_text(config, encoding="utf-8")
    result = mkdocs_build(desk, tmp_path / "site")
    assert result.returncode == 1
    assert "claimdesk: there is no store at" in result.stderr and "run `claimdesk check` first" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("check", [True, False])
def test_invalid_front_matter_fails_strict_naming_the_line(tmp_path: Path, check: bool) -> None:
    page = "---\ntitle: P\nclaims:\n  - id: p1\n    text: x\n    stance: bull\n    sources: [src_a]\n    as_of: 2026\n" \
           "    value: 1,000\n    unit: USD\n---\n# P\n"
    desk = _site_desk(tmp_path / "desk", {"kb/p.md": page})
    if not check:  # read only: the problems the latest run recorded
        assert claimdesk(desk, "check").returncode == 1
        config = (desk / "mkdocs.yml").read_text(encoding="utf-8")
        (desk / "mkdocs.yml").write_text(config.replace("  - claimdesk\n", "  - claimdesk:\n      check: false\n"),
                                         encoding="utf-8")
    result = mkdocs_build(desk, tmp_path / "site")
    assert result.returncode == 1 and "kb/p.md:9: claims[0].value" in result.stderr
    assert "Traceback" not in result.stderr


def test_each_build_brings_statuses_up_to_date(tmp_path: Path) -> None:
    page = ("---\ntitle: P\nclaims:\n  - id: p_cost\n    text: The cost.\n    stance: neutral\n    sources: [src_a]\n"
            "    as_of: 2026\n    value: \"~2.19\"\n    unit: USD/Mtok\n    check: cost_per_mtok\n---\n# P\n\n"
            "Cost [[claim:p_cost]].\n")
    desk = _site_desk(tmp_path / "desk", {"kb/p.md": page})
    first = mkdocs_build(desk, tmp_path / "site")
    assert first.returncode == 0, first.stderr
    html = (tmp_path / "site" / "p" / "index.html").read_text(encoding="utf-8")
    assert 'class="cd-claim cd-st-ok" id="p_cost"' in html and "check run 1 " in html
    (desk / "kb" / "p.md").write_text(page.replace('"~2.19"', '"~3.5"'), encoding="utf-8")
    second = mkdocs_build(desk, tmp_path / "site")  # what `mkdocs serve` does after a save
    assert second.returncode == 0, second.stderr
    html = (tmp_path / "site" / "p" / "index.html").read_text(encoding="utf-8")
    assert 'class="cd-claim cd-st-mismatch" id="p_cost"' in html and "check run 2 " in html
    assert 'class="cd-ref cd-st-mismatch"' in html


def test_mkdocs_serve_shows_new_statuses_after_a_save(tmp_path: Path) -> None:
    import socket
    import subprocess
    import sys
    import time
    import urllib.request

    page = ("---\ntitle: P\nclaims:\n  - id: p_cost\n    text: The cost.\n    stance: neutral\n    sources: [src_a]\n"
            "    as_of: 2026\n    value: \"~2.19\"\n    unit: USD/Mtok\n    check: cost_per_mtok\n---\n# P\n")
    desk = _site_desk(tmp_path / "desk", {"kb/p.md": page})
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([str(Path(sys.executable).parent / "mkdocs"), "serve", "-a",
                               f"127.0.0.1:{port}"], cwd=desk, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              env={**__import__("os").environ, "NO_MKDOCS_2_WARNING": "1"})

    def wait_for(text: str) -> str:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/p/", timeout=5) as response:
                    html = response.read().decode("utf-8")
                if text in html:
                    return html
            except OSError:
                pass
            time.sleep(0.5)
        raise AssertionError(f"the served page never showed {text!r}")

    try:
        wait_for('class="cd-claim cd-st-ok" id="p_cost"')
        (desk / "kb" / "p.md").write_text(page.replace('"~2.19"', '"~3.5"'), encoding="utf-8")
        wait_for('class="cd-claim cd-st-mismatch" id="p_cost"')
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_unknown_reference_fails_the_strict_build_and_the_stage(tmp_path: Path) -> None:
    page = "---\ntitle: P\n---\n# P\n\nThe base is [[claim:base_clam]].\n"
    desk = _site_desk(tmp_path / "desk", {"kb/p.md": page})
    built = mkdocs_build(desk, tmp_path / "site")
    assert built.returncode == 1
    assert "kb/p.md:6: body: [[claim:base_clam]] names no claim or model parameter (did you mean 'base_claim'?)" \
        in built.stderr
    staged = claimdesk(desk, "site", "--stage", str(tmp_path / "stage"))
    assert staged.returncode == 2 and "kb/p.md:6: body:" in staged.stderr and "Traceback" not in staged.stderr
    assert not (tmp_path / "stage" / "docs").exists()


def test_a_reference_broken_by_an_edit_elsewhere_fails_the_build(tmp_path: Path) -> None:
    page = "---\ntitle: P\n---\n# P\n\nThe base is [[claim:base_claim]].\n"
    desk = _site_desk(tmp_path / "desk", {"kb/p.md": page})
    first = mkdocs_build(desk, tmp_path / "site")
    assert first.returncode == 0, first.stderr
    base = (desk / "kb" / "base.md").read_text(encoding="utf-8")
    (desk / "kb" / "base.md").write_text(base.replace("id: base_claim", "id: base_claim_renamed"), encoding="utf-8")
    second = mkdocs_build(desk, tmp_path / "site")  # the check re-reads base.md only
    assert second.returncode == 1
    assert "kb/p.md:6: body: [[claim:base_claim]] names no claim" in second.stderr


def test_the_nightly_reports_are_on_the_site(tmp_path: Path) -> None:
    """The latest report from the store, with its charts, and the archive of earlier ones."""
    desk = copy_bundled_desk(tmp_path / "desk")
    assert claimdesk(desk, "nightly", "--today", "2026-11-30").returncode == 0
    model = desk / "data" / "models" / "token_cost.yaml"
    model.write_text(model.read_text(encoding="utf-8").replace("    value: 30\n", "    value: 31\n", 1), encoding="utf-8")
    assert claimdesk(desk, "nightly", "--today", "2026-11-30").returncode == 1
    built = mkdocs_build(desk, tmp_path / "site")
    assert built.returncode == 0, built.stderr
    site = tmp_path / "site"
    report = (site / "desk" / "report" / "index.html").read_text(encoding="utf-8")
    assert "Desk report: 2026-11-30" in report and "Newly failing (" in report
    assert "model parameter node_cost_per_hour: value 30 → 31 USD/h" in unescape(report)
    assert "\\~" not in report  # Markdown escapes render as the character
    charts = sorted((site / "desk" / "charts").glob("*.svg"))
    assert charts and all(c.stat().st_size > 1000 for c in charts)
    assert 'src="../charts/status-history.svg"' in report
    archive = (site / "desk" / "reports" / "index.html").read_text(encoding="utf-8")
    assert archive.count("-run-") >= 2 and (site / "desk" / "reports" / "2026-11-30-run-1" / "index.html").exists()
    home = (site / "index.html").read_text(encoding="utf-8")
    assert 'href="desk/report/"' in home and "the latest nightly desk report" in home
    # The charts are the ones the nightly drew and kept in the store, byte for byte; the build did not draw them.
    written = {c.name: c.read_bytes() for c in (desk / "report" / "charts").glob("*.svg")}
    assert {c.name: c.read_bytes() for c in charts} == written
    with Store.open(desk / "data" / "claimdesk.duckdb") as store:
        kept = {file: bytes(svg) for file, svg in store.select("SELECT file, svg FROM report_charts WHERE run_id = 2")}
    assert {Path(name).name: svg for name, svg in kept.items()} == written
    probe = run([sys.executable, "-c", "import sys; from mkdocs.__main__ import cli\n"
                 "try:\n    cli(['build', '--quiet', '--site-dir', sys.argv[1]])\nexcept SystemExit:\n    pass\n"
                 "print('matplotlib' in sys.modules, 'sympy' in sys.modules)", str(tmp_path / "site2")], desk,
                {"CLAIMDESK_SITE_CHECK": "false"})
    # neither: the charts come from the store, and so does the compiled model the equations and the
    # calculator are printed from
    assert probe.stdout.strip().endswith("False False"), probe.stdout + probe.stderr
    assert (tmp_path / "site2" / "assets" / "claimdesk" / "model.js").read_bytes() == \
        (site / "assets" / "claimdesk" / "model.js").read_bytes()
    assert (tmp_path / "site2" / "desk" / "charts" / "status-history.svg").read_bytes() == written["status-history.svg"]


# -- listing pages in parts -----------------------------------------------------------------------------
SPLIT_CONFIG = ("site_name: split\ndocs_dir: kb\nstrict: true\ntheme:\n  name: material\n  font: false\n"
                "plugins:\n  - search\n  - claimdesk\n")


@pytest.fixture(scope="module")
def split(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A desk past the listing bound, built by the plugin (directory URLs, then file URLs), staged and
    built without it by mkdocs and (when installed) zensical."""
    base = tmp_path_factory.mktemp("split")
    desk = write_desk(base / "desk", {"mkdocs.yml": SPLIT_CONFIG, **split_desk_files()})
    built = mkdocs_build(desk, base / "site")
    assert built.returncode == 0, built.stderr
    (desk / "files.yml").write_text(SPLIT_CONFIG.replace("  - claimdesk\n", "  - claimdesk:\n      check: false\n")
                                    + "use_directory_urls: false\n", encoding="utf-8")
    files = mkdocs_build(desk, base / "site-files", "--config-file", str(desk / "files.yml"))
    assert files.returncode == 0, files.stderr
    staged = claimdesk(desk, "site", "--stage", str(base / "stage"), "--no-check", "--for", "mkdocs")
    assert staged.returncode == 0, staged.stderr
    plain = run([str(Path(sys.executable).parent / "mkdocs"), "build", "--strict", "-f", str(base / "stage" / "mkdocs.yml")],
                base / "stage")
    assert plain.returncode == 0, plain.stderr
    out = {"desk": desk, "site": base / "site", "site_files": base / "site-files", "stage": base / "stage",
           "staged_site": base / "stage" / "site"}
    zensical = shutil.which("zensical", path=str(Path(sys.executable).parent))
    if zensical:
        staged = claimdesk(desk, "site", "--stage", str(base / "zensical"), "--no-check")
        assert staged.returncode == 0, staged.stderr
        result = run([zensical, "build"], base / "zensical")
        assert result.returncode == 0, result.stdout + result.stderr
        out["zensical_site"] = base / "zensical" / "site"
    return out


def _parts(site: Path, listing: str, directory_urls: bool = True) -> list[str]:
    """Site paths of a listing's parts, in order, as built."""
    first = f"{listing}/index.html" if directory_urls else f"{listing}.html"
    found = [first]
    while True:
        n = len(found) + 1
        path = f"{listing}/{n}/index.html" if directory_urls else f"{listing}/{n}.html"
        if not (site / path).exists():
            return found
        found.append(path)


def test_pack_rule() -> None:
    from claimdesk.site.parts import PART_ROWS, Section, pack

    def sections(*rows: int) -> list[Section]:
        return [Section(f"s{i}", f"source-s{i}", f"S{i}", r) for i, r in enumerate(rows)]

    assert [p.path for p in pack("desk/sources.md", [])] == ["desk/sources.md"]  # always one part, maybe empty
    one = pack("desk/sources.md", sections(*[50] * (PART_ROWS // 50)))
    assert len(one) == 1 and one[0].rows == PART_ROWS  # exactly the bound: one page, as before
    parts = pack("desk/sources.md", sections(*[50] * (PART_ROWS // 50), 1, 101, 40))
    assert [(p.path, p.number, p.rows) for p in parts] == [("desk/sources.md", 1, PART_ROWS),
                                                          ("desk/sources/2.md", 2, 142)]
    assert (parts[1].first, parts[1].last) == (f"S{PART_ROWS // 50}", f"S{PART_ROWS // 50 + 2}")


def test_a_part_links_to_the_first_the_last_and_its_neighbours() -> None:
    from claimdesk.site.html import Links
    from claimdesk.site.pages import parts_nav, parts_next
    from claimdesk.site.parts import Listing, Section, pack

    sections = [Section(f"s{i}", f"source-s{i}", f"<b>S{i:02d}</b>" + " x" * 40 * (i == 1), 100) for i in range(30)]
    listing = Listing("desk/sources.md", "Sources", pack("desk/sources.md", sections, bound=200))
    assert len(listing.parts) == 15
    here = listing.parts[8]
    nav = parts_nav(Links(here.path), listing, here)
    assert nav.startswith('<nav class="cd-parts" aria-label="parts of Sources"><p>Sources is in 15 parts; this is '
                          'part 9, &lt;b&gt;S16&lt;/b&gt; – &lt;b&gt;S17&lt;/b&gt;.</p><ul><li><a href="../../../desk/sources/">'
                          'part 1</a>: &lt;b&gt;S00&lt;/b&gt; – &lt;b&gt;S01&lt;/b&gt; x x x')
    shown = re.findall(r"<li[^>]*>(?:<a [^>]*>)?(part \d+|…)", nav)
    assert shown == ["part 1", "…", *(f"part {n}" for n in range(4, 15)), "part 15"]
    assert '<li class="cd-parts-here" aria-current="page">part 9: ' in nav
    assert "x x x…</li>" in nav and " x" * 30 not in nav  # a long name is cut
    first = parts_nav(Links("desk/sources.md"), listing, listing.parts[0])
    assert re.findall(r"part (\d+)</a>", first) == [str(n) for n in range(2, 16)] and "cd-parts-gap" not in first
    assert parts_next(Links(here.path), listing, here) == (
        '<p class="cd-parts-next">Next: <a href="../../../desk/sources/10/">part 10</a>: '
        "&lt;b&gt;S18&lt;/b&gt; – &lt;b&gt;S19&lt;/b&gt;</p>")
    assert parts_next(Links("desk/sources/15.md"), listing, listing.parts[-1]) == ""


def test_staged_config_keeps_python_tags_as_inert_text(tmp_path: Path) -> None:
    """mkdocs.yml is contributor text: a tag that would build a Python object (or run a command)
    under an unsafe loader is read as data and written back as it was, never executed."""
    from claimdesk.site.stage import staged_config

    marker = tmp_path / "ran"
    text = (f"site_name: x\nhook: !!python/object/apply:os.system ['touch {marker}']\n"
            "emoji: !!python/name:material.extensions.emoji.twemoji\nsecret: !ENV [SECRET, none]\n")
    staged = staged_config(text)
    assert not marker.exists()
    assert f"!!python/object/apply:os.system\n- touch {marker}" in staged
    assert "!!python/name:material.extensions.emoji.twemoji" in staged and "!ENV" in staged


def test_staged_config_leaves_the_parts_out_of_the_nav() -> None:
    from claimdesk.site.stage import staged_config

    parts = ["desk/sources/2.md", "desk/metrics/2.md"]
    assert "not_in_nav" not in staged_config("site_name: x\n")  # a small desk: as before
    assert "not_in_nav: |\n  /desk/sources/2.md\n  /desk/metrics/2.md\n" in staged_config("site_name: x\n", out_of_nav=parts)
    mine = staged_config("site_name: x\nnot_in_nav: |\n  /drafts/*.md\n", out_of_nav=parts)
    assert "not_in_nav: |\n  /drafts/*.md\n  /desk/sources/2.md\n  /desk/metrics/2.md\n" in mine
    tagged = staged_config("site_name: x\nnot_in_nav: !ENV [NAV_EXCLUDE, '/a.md']\n", out_of_nav=parts)
    assert "not_in_nav: !ENV\n- NAV_EXCLUDE\n- /a.md\n" in tagged  # kept as written


def test_listing_parts_are_bounded_and_hold_what_the_layout_says(split: dict[str, Path]) -> None:
    from claimdesk.site.collect import load_site
    from claimdesk.site.parts import PART_ROWS, layout

    planned = layout(load_site(split["desk"], check=False))
    site = split["site"]
    for listing in LISTINGS:
        parts = _parts(site, listing)
        plan = planned.listings[listing + ".md"].parts
        assert len(parts) == len(plan) >= 2, listing
        for number, (path, part) in enumerate(zip(parts, plan), start=1):
            page = (site / path).read_text(encoding="utf-8")
            assert listing_rows(page) == part.rows <= PART_ROWS, path
            assert f"is in {len(parts)} parts; this is part {number}," in page
            title = re.search(r"<h1[^>]*>(.*?)</h1>", page, re.S)
            assert title and (number == 1 or f"part {number} of {len(parts)}" in title.group(1)), path
            # Every part links to part 1 and its neighbours; part 1 links to every part.
            targets = {resolve(path, href)[0] for href in parse_page(page)[1]}
            expected = set(parts) if number == 1 else {parts[0], *parts[max(0, number - 2):number + 1]}
            assert expected - {path} <= targets, (path, expected - targets)
            if number < len(parts):
                assert 'class="cd-parts-next">Next: <a href=' in page
    # 30 sources with 50 of their 60 citing claims listed, src_a (1 claim), two cited by 6 and 1 parameters
    assert sum(p.rows for p in planned.listings["desk/sources.md"].parts) == 30 * 51 + 2 + 7 + 2


def test_every_listing_link_lands_on_its_anchor(split: dict[str, Path]) -> None:
    """Claim cards (sources, metrics), page headers (tags), the model page, via links between sources:
    every link to a source-, tag- or metric- anchor, on every built page, finds it where it points."""
    sites = {"site": split["site"], "site_files": split["site_files"], "staged_site": split["staged_site"]}
    if "zensical_site" in split:
        sites["zensical_site"] = split["zensical_site"]
    for name, site in sites.items():
        pages = built_pages(site)
        ids: dict[str, set[str]] = {}
        links = listing_links(pages)
        assert len(links) > 1000, name
        for page, target, anchor in links:
            if target not in ids:
                assert target in pages, (name, page, target)
                ids[target] = parse_page(pages[target])[0]
            assert anchor in ids[target], (name, page, target, anchor)
        later = {target for _, target, _ in links if re.search(r"/\d+(/index)?\.html$", target)}
        assert {target.split("/")[1] for target in later} == {"sources", "bull-vs-bear", "metrics"}, name
        model = "desk/model/index.html" if name != "site_files" else "desk/model.html"
        assert any(page == model and target in later for page, target, _ in links), name  # into a later part
        assert any(page in later and anchor == "source-src_00" for page, _, anchor in links), name  # via


def test_listing_parts_are_the_same_in_both_outputs(split: dict[str, Path]) -> None:
    for listing in LISTINGS:
        parts = _parts(split["site"], listing)
        assert parts == _parts(split["staged_site"], listing)
        for path in parts:
            assert article(split["site"] / path) == article(split["staged_site"] / path), path
        assert len(_parts(split["site_files"], listing, directory_urls=False)) == len(parts)
        if "zensical_site" in split:
            assert _parts(split["zensical_site"], listing) == parts


def test_listing_parts_stay_out_of_the_nav_and_the_search_index(split: dict[str, Path]) -> None:
    for site in (split["site"], split["staged_site"], split.get("zensical_site")):
        if site is None:
            continue
        page = (site / "p00" / "index.html").read_text(encoding="utf-8")  # the nav is on every page
        nav = page[:page.find("<article")]
        assert 'href="../desk/sources/"' in nav and "desk/sources/2/" not in nav and "part 2 of" not in nav
    index = json.loads((split["site"] / "search" / "search_index.json").read_text(encoding="utf-8"))
    assert not any(d["location"].startswith(tuple(listing + "/" for listing in LISTINGS)) for d in index["docs"])
    assert any(d["location"].startswith("p00/") for d in index["docs"])
    config = (split["stage"] / "mkdocs.yml").read_text(encoding="utf-8")
    assert "not_in_nav: |\n  /desk/sources/2.md\n" in config


def test_listing_parts_escape_and_cap(split: dict[str, Path]) -> None:
    pages = built_pages(split["site"])
    assert not any("<img src=x" in text or "<b>rose" in text for text in pages.values())
    first = pages["desk/sources/index.html"]
    assert "Source 00 &lt;img src=x onerror=alert(0)&gt; &amp; &quot;q&quot; –" in first  # a part's range
    metric = next(text for path, text in pages.items() if path.startswith("desk/metrics/") and 'id="metric-flow-big"' in text)
    section = metric[metric.index('id="metric-flow-big"'):]
    section = section[:section.index("</section>")]
    assert section.count("<tr><td>") == 50 and "and 10 more earlier claims" in section and "metric=flow.big" in section
    lonely = pages["lonely/index.html"]
    assert '<span class="cd-tag">lonely</span>' in lonely  # no Bull vs bear section to link to
