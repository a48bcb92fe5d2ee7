"""Helpers for the site tests: real builds of real desks, a local web server, headless Chromium."""

from __future__ import annotations

import functools
import html.parser
import http.server
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import unquote, urljoin

from .conftest import REPO

MKDOCS_CONFIG = REPO / "mkdocs.yml"
SCREENSHOTS = REPO / "tests" / "screenshots"
BIN = Path(sys.executable).parent


def copy_bundled_desk(target: Path) -> Path:
    shutil.copytree(REPO, target, ignore=shutil.ignore_patterns(".venv", ".git", "site", "*.duckdb*", "__pycache__",
                                                                "build", "screenshots", "*.lock"))
    return target


def run(args: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    full_env = dict(os.environ, NO_MKDOCS_2_WARNING="1", **(env or {}))
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=full_env)


def mkdocs_build(desk: Path, site: Path, *extra: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return run([str(BIN / "mkdocs"), "build", "--strict", "--site-dir", str(site), *extra], desk, env)


def claimdesk(desk: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run([str(BIN / "claimdesk"), *args], desk)


def article(page: Path) -> str:
    """A built page's article, with whitespace between tags and the run's wording normalised."""
    text = page.read_text(encoding="utf-8")
    body = text[text.find("<article"):text.find("</article>")]
    body = re.sub(r"check run \d+ of [^(]*\(", "check run N (", body)
    body = re.sub(r"brought up to date by this build|read from the store; this build did not check", "HOW", body)
    return re.sub(r">\s+<", "><", re.sub(r"\s+", " ", body))


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def serve(folder: Path) -> Iterator[str]:
    """The folder over http on 127.0.0.1 (a random free port); yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def chromium_paths() -> tuple[str, str] | None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    return (browser, driver) if browser and driver else None


@contextmanager
def chromium() -> Iterator[object]:
    """Headless Chromium driven by selenium through the system chromedriver, with a fresh profile.
    Records alert() calls in window.__alerts before any page script runs."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    paths = chromium_paths()
    assert paths is not None
    options = webdriver.ChromeOptions()
    options.binary_location = paths[0]
    profile = tempfile.mkdtemp(prefix="claimdesk-chromium-")
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--no-first-run", "--disable-default-apps", "--disable-extensions", "--window-size=1280,1600",
                 f"--user-data-dir={profile}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service(paths[1]), options=options)
    try:
        driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": (
            "window.__alerts = [];"
            "window.alert = window.confirm = window.prompt = function (m) { window.__alerts.push(String(m)); };")})
        driver.set_page_load_timeout(60)
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


# -- a desk whose listing pages come in parts --------------------------------------------------------
LISTINGS = ("desk/sources", "desk/bull-vs-bear", "desk/metrics")
LISTING_ANCHOR = re.compile(r"(?:source|tag|metric)-")


def split_desk_files(pages: int = 30, per_page: int = 20, sources: int = 30) -> dict[str, str]:
    """Files of a desk past the listing bound (parts.PART_ROWS) on each listing page, with few
    claims: every source cited by more claims than it lists, tags with more bull and bear claims
    than they list, a metric per claim plus one of 60 claims (listed: the newest 50). Its own
    sources come before the base ones (which the model's parameters cite), so the model page links
    into a later part. Source and page titles are markup, which must stay text."""
    from .conftest import BASE_SOURCES

    tags = [f"t{i:02d}" for i in range(12)]
    lines = []
    for i in range(sources):
        lines += [f"src_{i:02d}:", f"  title: 'Source {i:02d} <img src=x onerror=alert({i})> & \"q\"'",
                  f"  publisher: Publisher {i % 5}", f"  published: 2025-{i % 12 + 1:02d}", "  kind: report"]
        if i == sources - 1:
            lines.append("  via: src_00")  # from the last part to the first
    files = {"data/sources.yaml": "\n".join(lines) + "\n" + BASE_SOURCES,
             "kb/lonely.md": "---\ntitle: Lonely\ntags: [lonely]\n---\n# Lonely\n\nA page with a tag and no claim.\n"}
    stances = ("bull", "bear", "neutral")
    for p in range(pages):
        claims = []
        for c in range(per_page):
            k = p * per_page + c
            metric = "flow.big" if k % 10 == 0 else f"flow.m{k:04d}"
            cited = ", ".join(f"src_{(k + step) % sources:02d}" for step in (0, 7, 13))
            claims.append(f"  - id: c{p:02d}_{c:02d}\n    text: Claim {k} says flows <b>rose</b> & fell.\n"
                          f"    stance: {stances[k % 3]}\n    sources: [{cited}]\n"
                          f"    as_of: {2018 + k % 8}-{k % 12 + 1:02d}\n    value: {10 + k % 17}\n    unit: USD bn\n"
                          f"    metric: {metric}\n")
        files[f"kb/p{p:02d}.md"] = (f"---\ntitle: 'Page {p:02d} <img src=x onerror=alert({p})>'\n"
                                    f"tags: [{tags[p % 12]}, {tags[(p + 5) % 12]}]\nclaims:\n" + "".join(claims)
                                    + f"---\n# Page {p:02d}\n\nProse.\n")
    return files


def built_pages(site: Path) -> dict[str, str]:
    """Site path of every built page -> its HTML."""
    return {p.relative_to(site).as_posix(): p.read_text(encoding="utf-8") for p in site.rglob("*.html")}


class _PageParser(html.parser.HTMLParser):
    """Every id, every link (a href), and every href and src a browser follows or loads (a, link,
    script, img)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.ids: set[str] = set()
        self.hrefs: list[str] = []
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if found.get("id"):
            self.ids.add(found["id"] or "")
        if tag == "a" and found.get("href"):
            self.hrefs.append(found["href"] or "")
        if tag in ("a", "link", "script", "img"):
            self.links += [found[name] or "" for name in ("href", "src") if found.get(name)]


def parse_page(text: str) -> tuple[set[str], list[str]]:
    """(every id, every link) of a built page."""
    parser = _PageParser()
    parser.feed(text)
    return parser.ids, parser.hrefs


SERVED_AT = "http://host/desk/"  # under a path, as a project site is: a link that climbs out of it is broken


def resolve(page: str, href: str) -> tuple[str, str]:
    """(site path of the file, fragment) a link on the built page `page` leads to, resolved as a
    browser does for the site served under a path of its host (SERVED_AT); a link that leaves the
    site leads to "outside the site"."""
    url = urljoin(f"{SERVED_AT}{page}", href)
    if not url.startswith(SERVED_AT):
        return "outside the site: " + url, ""
    path, _, fragment = url.removeprefix(SERVED_AT).partition("#")
    path = unquote(path.partition("?")[0])
    return (path + "index.html" if path.endswith("/") or not path else path), unquote(fragment)


def broken_links(site: Path) -> list[str]:
    """Every link of every built page (but 404.html, which a host serves at any depth) that, with
    the site served under a path (SERVED_AT), leaves the site, leads to no file, or names an anchor
    its page does not have. A fragment holding '=' is the Claims table's filter, not an anchor."""
    parsed: dict[str, _PageParser] = {}
    for path in site.rglob("*.html"):
        parser = _PageParser()
        parser.feed(path.read_text(encoding="utf-8"))
        parsed[path.relative_to(site).as_posix()] = parser
    broken = []
    for page, parser in parsed.items():
        if page == "404.html":
            continue
        for link in parser.links:
            if link.startswith(("http:", "https:", "mailto:", "data:", "javascript:", "#")):
                continue
            target, fragment = resolve(page, link)
            if not (site / target).is_file():
                broken.append(f"{page}: {link} -> {target}")
            elif fragment and "=" not in fragment and target in parsed and fragment not in parsed[target].ids:
                broken.append(f"{page}: {link} -> no #{fragment} on {target}")
    return broken


def listing_links(pages: dict[str, str]) -> list[tuple[str, str, str]]:
    """(page, target file, anchor) of every link to a source, tag or metric anchor, on every page."""
    found = []
    for page, text in pages.items():
        for href in parse_page(text)[1]:
            if href.startswith(("http:", "https:")):
                continue
            target, fragment = resolve(page, href)
            if LISTING_ANCHOR.match(fragment):
                found.append((page, target, fragment))
    return found


class _RowCounter(html.parser.HTMLParser):
    """A listing part's rows as parts.py counts them: each section's heading and each claim it lists."""

    VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.rows = 0
        self.open: list[tuple[str, set[str]]] = []  # (tag, classes) of the open elements

    def _inside(self, tag: str, css: str = "") -> bool:
        return any(t == tag and (not css or css in c) for t, c in self.open)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        classes = set((dict(attrs).get("class") or "").split())
        if tag == "section" and classes & {"cd-source", "cd-metric"} or tag == "h3":
            self.rows += 1
        if tag == "tr" and self._inside("tbody") and self._inside("table", "cd-table"):
            self.rows += 1
        if tag == "li" and self._inside("table", "cd-sides"):
            self.rows += 1
        if tag not in self.VOID:
            self.open.append((tag, classes))

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self.open) - 1, -1, -1):
            if self.open[i][0] == tag:
                del self.open[i:]
                return


def listing_rows(page_html: str) -> int:
    article = page_html[page_html.find("<article"):page_html.find("</article>")]
    counter = _RowCounter()
    counter.feed(article)
    return counter.rows
