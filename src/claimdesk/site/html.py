"""HTML fragments of the site: a page's header (summary, tags), its claim block, an inline reference.

Everything that comes from a contributor (claim text, notes, metric names, tags, titles, source
titles and URLs, ids) is escaped here; a source URL becomes a link only when it is http(s). Text
placed inside a page's Markdown (inline references) also has Markdown's own characters written
as character references, so that Markdown cannot reinterpret them.
"""

from __future__ import annotations

import dataclasses
import html
import posixpath
from collections.abc import Iterable, Mapping
from urllib.parse import quote

from ..render import explanation_text, plural
from ..results import Result
from ..schema import STATUSES, Source
from ..values import figure_text
from .collect import KB, SiteClaim, SiteData

CLAIMS_PAGE = "desk/claims.md"
SOURCES_PAGE = "desk/sources.md"
SIDES_PAGE = "desk/bull-vs-bear.md"
METRICS_PAGE = "desk/metrics.md"
MODEL_PAGE = "desk/model.md"
ASSETS = "assets/claimdesk"
STATUS_MARK = {"error": "!", "mismatch": "✗", "conflict": "⇄", "stale": "◷", "due": "⚑", "ok": "✓",
               "unchecked": "·"}
STANCE_LABEL = {"bull": "▲ bull", "bear": "▼ bear", "neutral": "● neutral"}
NOT_IN_RUN = "not in run"
_SHOWN_RESULT_FIELDS = {"claim_id", "path", "line", "status", "reason", "also", "stated", "recomputed", "unit",
                        "relative_error", "depends_on", "check", "kind"}
URL_SAFE = "/.-_~"
_MARKDOWN_SPECIAL = "*_`[]\\#!|~^${}+-:"


def esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def md_safe(text: object) -> str:
    """Escaped for HTML, with Markdown's special characters as character references."""
    return "".join(f"&#{ord(c)};" if c in _MARKDOWN_SPECIAL else c for c in esc(text))


def safe_url(url: str | None) -> str | None:
    """The URL when it is http(s) (validate refuses anything else; this is the last guard)."""
    if url and url.lower().startswith(("http://", "https://")) and not any(c in url for c in " \"'<>`\n\r\t"):
        return url
    return None


# -- links -------------------------------------------------------------------------------------
def page_url(docs_path: str, directory_urls: bool = True) -> str:
    """The site URL of a docs file, relative to the site's root: 'a.md' -> 'a/', 'index.md' -> ''."""
    stem = docs_path[:-3] if docs_path.endswith(".md") else docs_path
    if not directory_urls:
        return stem + ".html"
    if stem == "index" or stem.endswith("/index"):
        return stem[:-len("index")]
    return stem + "/"


class Links:
    """URLs relative to one page, so the site works from any folder and offline. `placed` says which
    part of a listing page holds an anchor ((listing page, anchor) -> docs path, from parts.layout);
    without it every listing is one page.

    `files`: the links that go in href and src are written relative to this page's docs file, not
    to its URL (`desk/sources/#source-x` from `token-economics.md`, where the page's URL needs
    `../desk/sources/#source-x`), for a builder that reads links in a page's HTML as it reads
    Markdown links and rewrites them for the page's URL: Zensical does, so a URL written for the
    page would climb one folder too many, which only a site served at the root of its host
    survives. (Not `.md` targets: Zensical would also check their anchors, and it misses some that
    are there.) MkDocs leaves HTML as written, so the plugin and a staged folder built with mkdocs
    use URLs. Values that scripts read (`data-` attributes) are URLs either way (`url`,
    `asset_url`)."""

    def __init__(self, docs_path: str, directory_urls: bool = True,
                 placed: Mapping[tuple[str, str], str] | None = None, files: bool = False):
        self.directory_urls = directory_urls
        self.docs_path = docs_path
        self.placed = placed
        self.files = files
        url = page_url(docs_path, directory_urls)
        self.base = url if url.endswith("/") else posixpath.dirname(url) + "/" if "/" in url else ""

    def url(self, target: str) -> str:
        """A site-root-relative URL (a page's or an asset's) as seen from this page, percent-encoded
        (page paths are file names a contributor chose: no quote or bracket reaches an attribute)."""
        return self._up(self.base.count("/"), target)

    def href(self, target: str) -> str:
        """`url`, or with `files` the same target as seen from this page's docs file."""
        return self._up(self.docs_path.count("/") if self.files else self.base.count("/"), target)

    @staticmethod
    def _up(depth: int, target: str) -> str:
        return quote(("../" * depth + target) or "./", safe=URL_SAFE)

    def page(self, docs_path: str, anchor: str = "") -> str:
        fragment = f"#{quote(anchor, safe=URL_SAFE)}" if anchor else ""
        if docs_path == self.docs_path and anchor:
            return fragment
        return self.href(page_url(docs_path, self.directory_urls)) + fragment

    def listing(self, page: str, anchor: str) -> str | None:
        """A link to an anchor of a listing page (Sources, Bull vs bear, Metrics), in the part that
        holds it; None when no part holds it (a tag of a page without claims, a source not in
        data/sources.yaml)."""
        if self.placed is None:
            return self.page(page, anchor)
        where = self.placed.get((page, anchor))
        return self.page(where, anchor) if where is not None else None

    def source(self, source_id: str) -> str | None:
        return self.listing(SOURCES_PAGE, "source-" + source_id)

    def tag(self, tag: str) -> str | None:
        return self.listing(SIDES_PAGE, tag_anchor(tag))

    def metric(self, metric: str) -> str | None:
        return self.listing(METRICS_PAGE, metric_anchor(metric))

    def asset(self, name: str) -> str:
        return self.href(f"{ASSETS}/{name}")

    def asset_url(self, name: str) -> str:
        return self.url(f"{ASSETS}/{name}")

    def claim(self, item: SiteClaim) -> str:
        return self.page(docs_path_of(item), item.id)


def docs_path_of(item: SiteClaim) -> str:
    """Where a claim is shown: its page (kb/x.md -> x.md), or the Model page for a parameter."""
    return item.page[len(KB):] if item.kind == "claim" and item.page.startswith(KB) else MODEL_PAGE


def tag_anchor(tag: str) -> str:
    return f"tag-{tag}"


def metric_anchor(metric: str) -> str:
    return "metric-" + metric.replace(".", "-")


# -- small pieces -----------------------------------------------------------------------------------
def status_of(item: SiteClaim) -> str:
    return item.result.status if item.result is not None else NOT_IN_RUN


def badge(status: str) -> str:
    css = status if status in STATUSES else "none"
    mark = STATUS_MARK.get(status, "?")
    return f'<span class="cd-badge cd-st-{css}" title="status: {esc(status)}">{mark} {esc(status)}</span>'


def stance(value: str) -> str:
    return f'<span class="cd-stance cd-{esc(value)}">{esc(STANCE_LABEL.get(value, value))}</span>'


def stated(item: SiteClaim) -> str:
    claim = item.located.claim
    return f"{claim.value.written} {claim.unit or ''}".strip() if claim.value is not None else ""


def run_note(data: SiteData) -> str:
    how = "brought up to date by this build" if data.checked else "read from the store; this build did not check"
    version = f", desk version {esc(data.run.desk_version)}" if data.run.desk_version else ""
    return (f'<p class="cd-run">Statuses from check run {data.run.run_id} of '
            f'{data.run.started:%Y-%m-%d %H:%M} UTC (as of {data.run.today.isoformat()}{version}), {how}.</p>')


def source_line(source_id: str, source: Source | None, links: Links, track: bool = True) -> str:
    if source is None:
        return f'<span class="cd-source-missing">{esc(source_id)} (not in data/sources.yaml)</span>'
    url = safe_url(source.url)
    title = f'<a href="{esc(url)}" rel="noopener noreferrer">{esc(source.title)}</a>' if url else esc(source.title)
    who = ", ".join(esc(part) for part in (source.publisher, source.author) if part)
    parts = [title] + ([who] if who else []) + [esc(source.published)]
    if url:
        parts.append(f'<span class="cd-url">{esc(url)}</span>')
    where = links.source(source_id) if track else None
    record = f' <a class="cd-track" href="{where}">track record</a>' if where else ""
    return ", ".join(parts) + record


# -- a page's header and claim block ------------------------------------------------------------------
def page_header(data: SiteData, path: str, links: Links) -> str:
    """Summary, tags and the page's status counts, shown under its title."""
    record = data.pages.get(path)
    if record is None or record.page is None:
        return ""
    page = record.page
    parts = ['<div class="cd-page-head">']
    if page.summary:
        parts.append(f'<p class="cd-summary">{esc(page.summary)}</p>')
    if page.tags:
        tags = " ".join(f'<a class="cd-tag" href="{where}">{esc(t)}</a>' if (where := links.tag(t)) else
                        f'<span class="cd-tag">{esc(t)}</span>' for t in page.tags)
        parts.append(f'<p class="cd-tags"><span class="cd-label">Tags:</span> {tags}</p>')
    items = data.page_claims(path)
    if items:
        counts = _status_counts(items)
        shown = ", ".join(f"{n} {esc(s)}" for s, n in counts.items() if n)
        parts.append(f'<p class="cd-page-counts"><a href="#claims">{plural(len(items), "claim")}</a>: {shown}</p>')
    parts.append("</div>")
    return "".join(parts)


def _status_counts(items: Iterable[SiteClaim]) -> dict[str, int]:
    counts = dict.fromkeys([*STATUSES, NOT_IN_RUN], 0)
    for item in items:
        counts[status_of(item)] += 1
    return counts


def claim_block(data: SiteData, path: str, links: Links) -> str:
    """Every claim of a page as a card, with footnote-style sources after them."""
    items = data.page_claims(path)
    if not items:
        return ""
    cited: dict[str, int] = {}
    for item in items:
        for source_id in item.located.claim.sources:
            cited.setdefault(source_id, len(cited) + 1)
    cards = "".join(claim_card(data, item, links, cited) for item in items)
    notes = "".join(f'<li id="cd-src-{esc(sid)}">{source_line(sid, data.desk.sources.get(sid), links)}</li>'
                    for sid in cited)
    return (f'<section class="cd-claims"><h2 id="claims">Claims on this page</h2>{run_note(data)}{cards}'
            f'<h3 id="claim-sources">Sources</h3><ol class="cd-sources">{notes}</ol></section>')


def explanation_html(data: SiteData, claim_id: str) -> str:
    """A checked claim's collapsed "How this is computed": the steps `claimdesk explain` prints."""
    explanation = data.explanation(claim_id)
    if explanation is None:
        return ""
    return (f'<details class="cd-explain"><summary>How this is computed</summary>'
            f'<pre>{esc(explanation_text(explanation))}</pre></details>')


def claim_block_for_search(data: SiteData, path: str) -> str:
    """The words of the claim block, one paragraph per claim, for the search index: what a reader
    searches for (text, value, status, reason, stance, sources, id) without the card's markup."""
    items = data.page_claims(path)
    if not items:
        return ""
    paragraphs = []
    for item in items:
        claim = item.located.claim
        reason = item.result.reason if item.result is not None else ""
        titles = "; ".join(source.title for sid in claim.sources if (source := data.desk.sources.get(sid)))
        paragraphs.append(f"<p>{esc(claim.text)} {esc(stated(item))} as of {esc(claim.as_of)}. {esc(status_of(item))}: "
                          f"{esc(reason)}. {esc(claim.stance)}. Sources: {esc(titles)}. {esc(claim.id)}</p>")
    return f'<section class="cd-claims"><h2 id="claims">Claims on this page</h2>{"".join(paragraphs)}</section>'


def claim_card(data: SiteData, item: SiteClaim, links: Links, cited: dict[str, int]) -> str:
    claim = item.located.claim
    status = status_of(item)
    value = stated(item)
    figure = f'<span class="cd-value">{esc(value)}</span> ' if value else ""
    refs = "".join(f'<a class="cd-fn" href="#cd-src-{esc(s)}">[{cited[s]}]</a>' for s in claim.sources)
    lines = [f'<div class="cd-claim cd-st-{esc(status.replace(" ", "-"))}" id="{esc(claim.id)}">',
             f'<p class="cd-text">{esc(claim.text)}<sup class="cd-fns">{refs}</sup> '
             f'<a class="cd-anchor" href="#{esc(claim.id)}" title="link to this claim">#</a></p>',
             f'<p class="cd-meta">{stance(claim.stance)} {figure}<span class="cd-asof">as of {esc(claim.as_of)}</span> '
             f'{badge(status)} <code class="cd-id">{esc(claim.id)}</code></p>']
    lines.append(_result_html(item.result, data, links))
    extra = []
    if claim.metric:
        where = links.metric(claim.metric)
        extra.append(f'metric <a href="{where}">{esc(claim.metric)}</a>' if where else f"metric {esc(claim.metric)}")
    if claim.attributed_to:
        extra.append(f"attributed to {esc(claim.attributed_to)}")
    if claim.review_by:
        extra.append(f"review by {claim.review_by.isoformat()}")
    if claim.resolves:
        extra.append(f"resolves {claim.resolves.isoformat()}")
    if extra:
        lines.append(f'<p class="cd-extra">{"; ".join(extra)}</p>')
    if claim.note:
        lines.append(f'<p class="cd-note">{esc(claim.note)}</p>')
    lines.append(explanation_html(data, claim.id))
    lines.append("</div>")
    return "".join(lines)


def _result_html(result: Result | None, data: SiteData, links: Links) -> str:
    if result is None:
        return (f'<p class="cd-reason">The latest check run ({data.run.run_id}) does not hold this claim: it was '
                f'added or changed since; run <code>claimdesk check</code>.</p>')
    parts = [f'<p class="cd-reason">{esc(result.reason)}</p>']
    if result.also:
        parts.append('<ul class="cd-also">' + "".join(f"<li>also {esc(a)}</li>" for a in result.also) + "</ul>")
    facts = []
    if result.recomputed is not None:
        facts.append(f"recomputed {esc(figure_text(result.recomputed))} {esc(result.unit or '')}")
    if result.relative_error is not None:
        error = result.relative_error
        facts.append("relative error " + (f"{error:+.2%}" if abs(error) >= 5e-5 else "under 0.01%"))
    if result.depends_on:
        used = []
        for name in result.depends_on:
            other = data.claims.get(name)
            used.append(f'<a href="{links.claim(other)}">{esc(name)}</a>' if other else esc(name))
        facts.append("uses " + ", ".join(used))
    for f in dataclasses.fields(result):  # fields a newer checker adds show without a change here
        value = getattr(result, f.name)
        if f.name not in _SHOWN_RESULT_FIELDS and value not in (None, "", (), [], {}):
            shown = ", ".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)
            facts.append(f"{esc(f.name.replace('_', ' '))}: {esc(shown)}")
    if facts:
        parts.append(f'<p class="cd-facts">{"; ".join(facts)}</p>')
    return "".join(parts)


# -- inline references ------------------------------------------------------------------------------
def inline_reference(data: SiteData, claim_id: str, links: Links) -> str:
    """A claim's stated value, its status mark and a link to it, for use inside Markdown prose."""
    item = data.claims.get(claim_id)
    if item is None:
        return f'<span class="cd-ref cd-ref-unknown">{md_safe("[[claim:" + claim_id + "]]")} (no such claim)</span>'
    status = status_of(item)
    shown = stated(item) or item.id
    title = f"{status}: {item.located.claim.text}"
    return (f'<a class="cd-ref cd-st-{md_safe(status.replace(" ", "-"))}" href="{md_safe(links.claim(item))}" '
            f'title="{md_safe(title)}" data-claim="{md_safe(item.id)}">{md_safe(shown)}'
            f'<sup class="cd-mark" aria-label="status {md_safe(status)}">{md_safe(STATUS_MARK.get(status, "?"))}'
            f'</sup></a>')
