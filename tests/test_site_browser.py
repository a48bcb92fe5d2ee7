"""The site in a real browser: headless Chromium (Debian's chromium + chromium-driver, driven by
selenium) opens the built bundled desk and a desk full of hostile text, served on 127.0.0.1.

Screenshots of the main pages are left in tests/screenshots/ (git-ignored) for a reviewer."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from claimdesk.kb import load_desk
from claimdesk.model import build_model
from claimdesk.values import figure_text

from .conftest import BASE_SOURCES, write_desk
from .site_helpers import SCREENSHOTS, chromium, chromium_paths, claimdesk, copy_bundled_desk, mkdocs_build, serve

pytestmark = pytest.mark.skipif(chromium_paths() is None, reason="chromium and chromedriver are not installed "
                                "(.ci/run installs the Debian packages chromium and chromium-driver)")

MAIN_PAGES = {"home": "", "concept": "economics-of-a-token/", "claims": "desk/claims/", "sources": "desk/sources/",
              "sides": "desk/bull-vs-bear/", "metrics": "desk/metrics/", "model": "desk/model/"}


@pytest.fixture(scope="module")
def bundled_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    base = tmp_path_factory.mktemp("browser")
    desk = copy_bundled_desk(base / "desk")
    built = mkdocs_build(desk, base / "site")
    assert built.returncode == 0, built.stderr
    with serve(base / "site") as url:
        yield desk, url


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as driver:
        yield driver


def _open(driver: Any, url: str) -> None:
    driver.get(url)
    driver.execute_script("return document.readyState")


def _wait(driver: Any, script: str, timeout: float = 20) -> Any:
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(lambda d: d.execute_script(script))


def _external_requests(driver: Any, base: str) -> list[str]:
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message.get("method") == "Network.requestWillBeSent":
            url = message["params"]["request"]["url"]
            if not url.startswith((base, "data:", "blob:", "about:")):
                urls.append(url)
    return urls


def _console_errors(driver: Any) -> list[str]:
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def _shot(driver: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(SCREENSHOTS / f"{name}.png"))


def test_main_pages_load_offline_without_errors(bundled_site: tuple[Path, str], browser: Any) -> None:
    _, base = bundled_site
    browser.get_log("performance")
    browser.get_log("browser")
    for name, path in MAIN_PAGES.items():
        _open(browser, base + path)
        if name == "claims":
            _wait(browser, "return document.querySelectorAll('#cd-table tbody tr').length > 0")
        if name == "model":
            _wait(browser, "return document.getElementById('cd-out-cost_per_mtok') && "
                           "document.getElementById('cd-out-cost_per_mtok').textContent.length > 0")
        _shot(browser, name)
        assert browser.execute_script("return window.__alerts.length") == 0
    assert _external_requests(browser, base) == []
    assert _console_errors(browser) == []


def test_concept_page_shows_claims_and_references(bundled_site: tuple[Path, str], browser: Any) -> None:
    _, base = bundled_site
    _open(browser, base + "economics-of-a-token/")
    cards = browser.execute_script("return document.querySelectorAll('.cd-claim').length")
    assert cards >= 10
    text = browser.execute_script("return document.querySelector('.cd-claims').innerText")
    assert "▲ bull" in text and "▼ bear" in text and "✓ ok" in text
    ref = browser.execute_script(
        "var a = document.querySelector('a.cd-ref[data-claim=\"batch40_cost_per_mtok\"]');"
        "return [a.textContent, a.getAttribute('href'), a.className];")
    assert ref[0].startswith("~2.19 USD/Mtok") and ref[1] == "#batch40_cost_per_mtok" and "cd-st-ok" in ref[2]
    browser.find_element("css selector", 'a.cd-ref[data-claim="batch40_cost_per_mtok"]').click()
    assert browser.execute_script("return location.hash") == "#batch40_cost_per_mtok"
    assert browser.execute_script("return document.querySelector(':target').id") == "batch40_cost_per_mtok"


def test_claims_table_filters(bundled_site: tuple[Path, str], browser: Any) -> None:
    from selenium.webdriver.support.ui import Select

    _, base = bundled_site
    _open(browser, base + "desk/claims/")
    _wait(browser, "return document.querySelectorAll('#cd-table tbody tr').length > 0")
    total = browser.execute_script("return document.querySelectorAll('#cd-table tbody tr').length")
    assert total >= 150
    Select(browser.find_element("id", "cd-f-status")).select_by_value("ok")
    statuses = browser.execute_script("return Array.from(document.querySelectorAll('#cd-table tbody tr'))"
                                      ".map(function (r) { return r.getAttribute('data-status'); })")
    assert statuses and set(statuses) == {"ok"} and len(statuses) < total
    Select(browser.find_element("id", "cd-f-status")).select_by_value("")
    Select(browser.find_element("id", "cd-f-stance")).select_by_value("bear")
    stances = browser.execute_script("return Array.from(document.querySelectorAll('#cd-table tbody tr'))"
                                     ".map(function (r) { return r.getAttribute('data-stance'); })")
    assert stances and set(stances) == {"bear"} and len(stances) < total
    browser.find_element("id", "cd-q").send_keys("batch40_cost_per_mtok")
    rows = browser.execute_script("return document.querySelectorAll('#cd-table tbody tr').length")
    assert rows == 0  # that claim is neutral: search and stance filter combine
    _shot(browser, "claims-filtered")
    # Bull vs bear and Sources link to the table with its filters in the address.
    _open(browser, base)
    _open(browser, base + "desk/claims/#stance=bull&tags=margins&q=%E2%80%A6%ZZ")
    _wait(browser, "return document.getElementById('cd-count').textContent.indexOf(' of ') > 0")
    rows = browser.execute_script("return Array.from(document.querySelectorAll('#cd-table tbody tr'))"
                                  ".map(function (r) { return r.getAttribute('data-stance'); })")
    assert rows and set(rows) == {"bull"}
    assert browser.execute_script("return document.getElementById('cd-f-tags').value") == "margins"
    assert _console_errors(browser) == []


def _model_says(desk: Path) -> dict[str, str]:
    """Each quantity's value at the model's values, as `claimdesk model` prints it."""
    output = claimdesk(desk, "model").stdout
    return dict(re.findall(r"^  (\w+) \[.*?\] :=.*\n.*\n      -> (.+)$", output, re.MULTILINE))


def _calculator(driver: Any) -> dict[str, str]:
    return driver.execute_script(
        "var out = {}; document.querySelectorAll('[id^=\"cd-out-\"]').forEach(function (n) {"
        "out[n.id.slice(7)] = n.textContent; }); return out;")


def _set(driver: Any, parameter: str, value: str) -> None:
    field = driver.find_element("id", f"cd-in-{parameter}")
    field.clear()
    field.send_keys(value)


def test_calculator_agrees_with_claimdesk_model(bundled_site: tuple[Path, str], browser: Any) -> None:
    desk, base = bundled_site
    expected = _model_says(desk)
    assert {"cost_per_mtok", "margin_per_mtok", "gross_margin", "tokens_to_repay_capex", "break_even_batch"} <= \
        set(expected)
    _open(browser, base + "desk/model/")
    _wait(browser, "return document.getElementById('cd-out-cost_per_mtok').textContent.length > 0")
    _set(browser, "batch", "40")
    shown = _calculator(browser)
    for name in ("cost_per_mtok", "margin_per_mtok", "gross_margin", "tokens_to_repay_capex", "break_even_batch",
                 "price_for_target_margin"):
        assert shown[name] == expected[name], name
    assert round(float(shown["break_even_batch"].split()[0]), 2) == 29.24
    _shot(browser, "model-calculator")
    # A new price moves break-even as the model says.
    model = build_model(load_desk(desk))
    _set(browser, "price_per_mtok", "4")
    moved = _calculator(browser)["break_even_batch"]
    assert moved == f"{figure_text(model.evaluate('break_even_batch', {'price_per_mtok': 4}))} count"
    assert moved != shown["break_even_batch"]
    _set(browser, "price_per_mtok", "0.5")  # below cost: no margin, so no tokens repay the capex
    assert _calculator(browser)["tokens_to_repay_capex"].startswith("undefined: requires margin_per_mtok > 0")
    assert _console_errors(browser) == []


# -- hostile text ---------------------------------------------------------------------------------------
HOSTILE_SOURCE_A = """\
src_a:
  title: <script>alert(5)</script>
  publisher: '"><img src=x onerror=alert(6)>'
  author: </textarea><svg onload=alert(7)>
  url: https://example.org/a?q="><script>alert(8)</script>
  published: 2026-05
  kind: report
  note: <iframe src=javascript:alert(9)>
"""
# The base sources, with src_a replaced by the hostile one.
HOSTILE_SOURCES = HOSTILE_SOURCE_A + BASE_SOURCES[BASE_SOURCES.index("divergent_token_economics:"):]

HOSTILE_PAGE = """\
---
title: '"><script>alert(1)</script>'
summary: <img src=x onerror=alert(2)>
tags: [xss]
claims:
  - id: hostile_claim
    text: <img src=x onerror=alert(1)>
    stance: bull
    sources: [src_a]
    as_of: 2026-05
    value: 10
    unit: USD bn
    metric: hostile.metric
    attributed_to: '"><svg onload=alert(4)>'
    note: <script>alert(3)</script>
  - id: hostile_second
    text: </script><script>alert(10)</script>
    stance: bear
    sources: [src_a]
    as_of: 2026-04
    value: 12
    unit: USD bn
    metric: hostile.metric
  - id: hostile_third
    text: '{{ 7*7 }} ${alert(11)}'
    stance: neutral
    sources: [src_a]
    as_of: 2026-03
    value: 11
    unit: USD bn
    metric: hostile.metric
---
# Hostile

The figure is [[claim:hostile_claim]].
"""

SITE_CONFIG = ("site_name: hostile\ndocs_dir: kb\nstrict: true\ntheme:\n  name: material\n  font: false\n"
               "plugins:\n  - search\n  - claimdesk\n")


def test_hostile_text_stays_inert(tmp_path: Path, browser: Any) -> None:
    desk = write_desk(tmp_path / "desk", {"mkdocs.yml": SITE_CONFIG, "data/sources.yaml": HOSTILE_SOURCES,
                                          "kb/hostile.md": HOSTILE_PAGE})
    built = mkdocs_build(desk, tmp_path / "site")
    assert built.returncode == 0, built.stderr
    with serve(tmp_path / "site") as base:
        browser.get_log("browser")
        for path in ("hostile/", "desk/claims/", "desk/sources/", "desk/metrics/", "desk/bull-vs-bear/", "desk/model/"):
            _open(browser, base + path)
            if path == "desk/claims/":
                _wait(browser, "return document.querySelectorAll('#cd-table tbody tr').length > 0")
            assert browser.execute_script("return window.__alerts") == [], path
            injected = browser.execute_script(
                "return document.querySelectorAll('img[src=\"x\"], svg[onload], iframe, [onerror], [onload]').length")
            assert injected == 0, path
            scripts = browser.execute_script("return Array.from(document.scripts).map(function (s) { "
                                             "return s.textContent; }).join('\\n')")
            assert "alert(" not in scripts, path
        _open(browser, base + "hostile/")
        text = browser.execute_script("return document.body.innerText")
        assert "<img src=x onerror=alert(1)>" in text and "<script>alert(3)</script>" in text
        assert browser.execute_script("return document.title").startswith('"><script>alert(1)</script>')
        _shot(browser, "hostile")
        assert _console_errors(browser) == []


def test_javascript_url_and_script_tag_fail_validation(tmp_path: Path) -> None:
    sources = HOSTILE_SOURCES.replace("url: https://example.org/a?q=\"><script>alert(8)</script>",
                                      "url: javascript:alert(1)")
    page = HOSTILE_PAGE.replace("tags: [xss]", "tags: ['</script>']")
    desk = write_desk(tmp_path / "desk", {"mkdocs.yml": SITE_CONFIG, "data/sources.yaml": sources,
                                          "kb/hostile.md": page})
    built = mkdocs_build(desk, tmp_path / "site")
    assert built.returncode == 1
    assert re.search(r"data/sources\.yaml:\d+: src_a\.url", built.stderr), built.stderr
    assert "kb/hostile.md:4: tags[0]" in built.stderr
    assert "Traceback" not in built.stderr
