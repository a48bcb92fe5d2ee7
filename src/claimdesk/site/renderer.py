"""The site renderer: one object that the MkDocs plugin and the staged-folder build both call.

It knows nothing of MkDocs. For a docs file (a path under kb/, or a generated page's path) it gives
the Markdown to feed the Markdown processor (inline references rendered), the HTML slots to place
into the page (header under the title, claim block, Home's block, a generated page's body), and the
generated pages and assets. Where a slot goes:

- the header goes right after the page's first level-1 heading (or first, without one);
- the claim block replaces the marker `<!-- claimdesk:claims -->`, or goes at the end;
- Home's block (index.md) replaces `<!-- claimdesk:home -->`, or goes at the end;
- a generated page's body replaces `<!-- claimdesk:page -->` in its generated Markdown.

The plugin fills slots in the finished HTML (`fill_html`, at on_page_content); the staged build
fills them into the Markdown as raw HTML blocks (`fill_markdown`), which the Markdown processor
passes through unchanged, so both give the same page.

One exception, for speed: at on_page_content the plugin places the claim block's words only (one
paragraph per claim: text, value, status, reason, stance, sources, id) between two markers, and
swaps in the full block at on_post_page (`finish`). The search index reads every word a reader
searches for, but not the cards' markup and step-by-step arithmetic, which would make it parse
ten times the HTML on a desk of short pages (scripts/bench.py --site). The page is the same.

The listing pages (Sources, Bull vs bear, Metrics) come in parts of bounded size (parts.py): the
layout is worked out once, when the renderer is made, and every page's links into a listing point
to the part that holds the anchor. Parts after the first are left out of the navigation
(`out_of_nav`); Home and the nav point to part 1, which keeps the listing's path.
"""

from __future__ import annotations

import re
from importlib import resources

from .calculator import model_script
from .collect import KB, SiteData
from .html import (
    ASSETS,
    CLAIMS_PAGE,
    METRICS_PAGE,
    SIDES_PAGE,
    SOURCES_PAGE,
    Links,
    claim_block,
    claim_block_for_search,
    inline_reference,
    page_header,
)
from .pages import GENERATED_TITLES, claims_json, generated, home
from .parts import Layout, layout
from .refs import marker_line, replace_references
from .reports import REPORT_PAGE, report_assets, report_pages

CLAIMS_MARKER = "<!-- claimdesk:claims -->"
HOME_MARKER = "<!-- claimdesk:home -->"
PAGE_MARKER = "<!-- claimdesk:page -->"
SEARCH_START, SEARCH_END = "<!-- claimdesk:search-words -->", "<!-- claimdesk:search-words-end -->"
# The listings repeat every claim, which the search index holds already from the claim's own page.
UNSEARCHED = (CLAIMS_PAGE, SOURCES_PAGE, SIDES_PAGE, METRICS_PAGE)
SEARCH_EXCLUDED = "---\nsearch:\n  exclude: true\n---\n\n"
STATIC_ASSETS = ("claimdesk.css", "claims.js", "calculator.js")
_H1_HTML = re.compile(r"</h1>", re.IGNORECASE)
_H1_MARKDOWN = re.compile(r"^# .*$", re.MULTILINE)


class SiteRenderer:
    def __init__(self, data: SiteData, directory_urls: bool = True, file_links: bool = False):
        """`file_links`: links in href and src point to docs files (html.Links, `files`)."""
        self.data = data
        self.directory_urls = directory_urls
        self.file_links = file_links
        self.layout: Layout = layout(data)  # the listings' parts and which part holds each anchor
        self._pending: dict[str, str] = {}  # docs path -> full claim block, between fill_html and finish

    def links(self, docs_path: str) -> Links:
        return Links(docs_path, self.directory_urls, self.layout.placed, files=self.file_links)

    # -- pages --------------------------------------------------------------------------------
    def generated_pages(self) -> dict[str, str]:
        """docs path -> the Markdown of each generated page (a listing's body is a slot, in every
        part; the nightly reports are their own Markdown)."""
        pages = {}
        for path, title in GENERATED_TITLES.items():
            front = SEARCH_EXCLUDED if path in UNSEARCHED else ""
            listing = self.layout.listings.get(path)
            if listing is None:
                pages[path] = f"{front}# {title}\n\n{PAGE_MARKER}\n"
                continue
            for part in listing.parts:  # part 1 is the listing's path, titled as it always was
                heading = title if part.number == 1 else f"{title}, part {part.number} of {len(listing.parts)}"
                pages[part.path] = f"{front}# {heading}\n\n{PAGE_MARKER}\n"
        pages.update(report_pages(self.data.reports))
        return pages

    def out_of_nav(self) -> list[str]:
        """The generated pages the navigation leaves out: a listing's parts after the first, which
        part 1 links to (the nav would otherwise grow with the desk, on every page)."""
        return [path for path, (_, part) in self.layout.parts.items() if part.number > 1]

    def description(self, docs_path: str) -> str | None:
        record = self.data.pages.get(KB + docs_path)
        return record.page.summary if record is not None and record.page is not None else None

    def markdown(self, docs_path: str, text: str) -> str:
        """The page's Markdown with its inline references rendered."""
        links = self.links(docs_path)
        return replace_references(text, lambda claim_id: inline_reference(self.data, claim_id, links))

    def slots(self, docs_path: str, for_search: bool = False) -> tuple[str, dict[str, str]]:
        """(header, {marker: html}) for one page; a marker missing from the page goes at its end."""
        links = self.links(docs_path)
        path = KB + docs_path
        if docs_path in GENERATED_TITLES or docs_path in self.layout.parts:
            return "", {PAGE_MARKER: generated(self.data, docs_path, links, self.layout)}
        if for_search:
            words = claim_block_for_search(self.data, path)
            full = claim_block(self.data, path, links)
            if words:
                self._pending[docs_path] = full
            filled = {CLAIMS_MARKER: f"{SEARCH_START}{words}{SEARCH_END}" if words else ""}
        else:
            filled = {CLAIMS_MARKER: claim_block(self.data, path, links)}
        if docs_path == "index.md":
            filled[HOME_MARKER] = home(self.data, links, bool(self.data.reports))
        return page_header(self.data, path, links), {k: v for k, v in filled.items() if v}

    def fill_html(self, docs_path: str, content: str, for_search: bool = False) -> str:
        """The page's HTML with its slots filled; `for_search`: the claim block's words only, until
        `finish` swaps in the full block."""
        header, filled = self.slots(docs_path, for_search)
        if header:
            match = _H1_HTML.search(content)
            content = content[:match.end()] + header + content[match.end():] if match else header + content
        for marker, fragment in filled.items():
            content = content.replace(marker, fragment, 1) if marker in content else content + fragment
        return content

    def finish(self, docs_path: str, output: str) -> str:
        """The finished page with the full claim block in place of its words (see fill_html)."""
        full = self._pending.pop(docs_path, None)
        start, end = output.find(SEARCH_START), output.find(SEARCH_END)
        if full is None or start < 0 or end < start:
            return output
        return output[:start] + full + output[end + len(SEARCH_END):]

    def fill_markdown(self, docs_path: str, text: str) -> str:
        header, filled = self.slots(docs_path)
        if header:
            match = _H1_MARKDOWN.search(text)
            block = f"\n\n{header}\n\n"
            text = text[:match.end()] + block + text[match.end():] if match else block + text
        for marker, fragment in filled.items():
            block = f"\n\n{fragment}\n\n"
            span = marker_line(text, marker)  # a marker quoted in code is not a marker
            text = text[:span[0]] + block + text[span[1]:] if span else text.rstrip("\n") + block
        return text

    # -- assets -------------------------------------------------------------------------------
    def assets(self) -> dict[str, bytes]:
        """Site path -> bytes of every file the pages load (no CDN: the site works offline)."""
        files = {f"{ASSETS}/{name}": resources.files("claimdesk.assets").joinpath(name).read_bytes()
                 for name in STATIC_ASSETS}
        files[f"{ASSETS}/claims.json"] = claims_json(self.data)
        files[f"{ASSETS}/model.js"] = model_script(self.data.model).encode()
        files.update(report_assets(self.data.reports))
        return files


__all__ = ["SiteRenderer", "CLAIMS_MARKER", "HOME_MARKER", "PAGE_MARKER", "REPORT_PAGE"]
