"""Helpers for the site tests: real builds of real desks, a local web server, headless Chromium."""

from __future__ import annotations

import functools
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
