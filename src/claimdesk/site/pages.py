"""The generated pages: Home's at-a-glance block, Claims, Sources, Bull vs bear, Metrics, the Model.

Each function returns an HTML fragment for one page; renderer.py decides where it goes. Listings
that span pages are built here from the whole desk at once (the way mkdocs-material's tags plugin
fills its listings once all pages are known), one part at a time: parts.py decides which sections
each part of Sources, Bull vs bear and Metrics holds. Everything from contributors is escaped by
html.py's helpers; the Claims table's rows travel as JSON (`claims_json`) and are written with
textContent.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from collections.abc import Iterable
from urllib.parse import quote

from ..expr import ExprError
from ..model import sensitivity
from ..render import plural
from ..schema import STATUSES
from ..store_rows import check_names
from ..units import UnitError, parse_unit
from ..values import figure_text
from .calculator import equation_mathml, json_for_html, model_data
from .collect import KB, SiteClaim, SiteData
from .html import (
    CLAIMS_PAGE,
    METRICS_PAGE,
    MODEL_PAGE,
    NOT_IN_RUN,
    SIDES_PAGE,
    SOURCES_PAGE,
    URL_SAFE,
    Links,
    badge,
    docs_path_of,
    esc,
    page_url,
    run_note,
    source_line,
    stance,
    stated,
    status_of,
)
from .parts import LIST_LIMIT, Layout, Listing, Part, Section
from .reports import REPORT_PAGE

GENERATED_TITLES = {CLAIMS_PAGE: "Claims", SOURCES_PAGE: "Sources", SIDES_PAGE: "Bull vs bear",
                    METRICS_PAGE: "Metrics", MODEL_PAGE: "The model"}
NEWEST = 10
PARTS_AROUND = 5  # a listing's part N links to parts 1 and last and to N-5 ... N+5
LABEL_CHARS = 60  # a section's name in a part's range (a source's title can be long) is cut to this
HOLD, FAIL, STALE = ("ok",), ("mismatch", "conflict", "error"), ("stale",)
CHART_W, CHART_H, PAD = 520, 180, 36


def _page_title(data: SiteData, path: str) -> str:
    record = data.pages.get(path)
    return record.page.title if record is not None and record.page is not None else path


def _claim_link(data: SiteData, item: SiteClaim, links: Links, text: str | None = None) -> str:
    return f'<a href="{links.claim(item)}">{esc(text if text is not None else item.id)}</a>'


def _more(links: Links, shown: int, total: int, what: str, **filters: str) -> str:
    """'and N more ...', linking to the Claims page filtered to exactly those claims."""
    if total <= shown:
        return ""
    query = "&".join(f"{key}={quote(value, safe='')}" for key, value in filters.items())
    return f'<a class="cd-more" href="{links.page(CLAIMS_PAGE)}#{esc(query)}">and {total - shown} more {esc(what)}</a>'


def _page_claims(data: SiteData) -> list[SiteClaim]:
    return [c for c in data.claims.values() if c.kind == "claim"]


# -- Home ---------------------------------------------------------------------------------------------
def home(data: SiteData, links: Links, has_report: bool) -> str:
    tally = data.run.tally
    share = f"{tally.checked / tally.quantitative:.0%}" if tally.quantitative else "n/a"
    counts = "".join(f"<tr><td>{badge(s)}</td><td>{tally.counts[s]}</td></tr>" for s in STATUSES)
    newest = sorted(_page_claims(data), key=lambda c: (c.located.claim.as_of.end, c.id), reverse=True)[:NEWEST]
    rows = "".join(f"<li>{_claim_link(data, c, links, c.located.claim.text)} — {stance(c.located.claim.stance)} "
                   f"{badge(status_of(c))} <span class=\"cd-asof\">as of {esc(c.located.claim.as_of)}</span></li>"
                   for c in newest)
    pages = [(CLAIMS_PAGE, "every claim in one filterable table"),
             (SOURCES_PAGE, "each source and the track record of its figures"),
             (SIDES_PAGE, "the bull and bear claims side by side, per page and per tag"),
             (METRICS_PAGE, "each metric's claims in time order"),
             (MODEL_PAGE, "the shared model, with a calculator")]
    pages.insert(0, (REPORT_PAGE, "the latest nightly desk report" if has_report else
                     "empty until `claimdesk nightly` records a report"))
    listed = "".join(f'<li><a href="{links.page(p)}">{esc(GENERATED_TITLES.get(p, "Desk report"))}</a>: {esc(what)}'
                     f"</li>" for p, what in pages)
    return (f'<section class="cd-home"><h2 id="the-desk-at-a-glance">The desk at a glance</h2>{run_note(data)}'
            f'<p>{plural(tally.claims, "claim")} and {plural(tally.parameters, "model parameter")}; checked '
            f'{tally.checked} of {tally.quantitative} quantitative claims ({share}).</p>'
            f'<table class="cd-counts"><thead><tr><th>status</th><th>claims</th></tr></thead><tbody>{counts}'
            f'</tbody></table><h3 id="desk-pages">Desk pages</h3><ul class="cd-generated">{listed}</ul>'
            f'<h3 id="newest-claims">Newest claims</h3><ul class="cd-newest">{rows}</ul></section>')


# -- Claims -------------------------------------------------------------------------------------------
def claims_json(data: SiteData) -> bytes:
    """The Claims page's rows: [id, text, status, stance, page title, site URL, tags, metric, value,
    as of, reason, source ids]; URLs are relative to the site's root."""
    rows = []
    for item in data.claims.values():
        claim = item.located.claim
        if item.kind == "claim":
            record = data.pages.get(item.page)
            tags = list(record.page.tags) if record is not None and record.page is not None else []
            title = _page_title(data, item.page)
        else:
            tags, title = [], "The model"
        rows.append([item.id, claim.text, status_of(item), claim.stance, title,
                     quote(page_url(docs_path_of(item)), safe=URL_SAFE) + "#" + item.id, tags, claim.metric or "", stated(item),
                     str(claim.as_of), item.result.reason if item.result else "", list(claim.sources)])
    return json.dumps({"run": data.run.run_id, "columns": ["id", "text", "status", "stance", "page", "url", "tags",
                                                           "metric", "value", "as_of", "reason", "sources"],
                       "rows": rows},
                      ensure_ascii=False, separators=(",", ":")).encode()


def claims_page(data: SiteData, links: Links) -> str:
    return (f'{run_note(data)}<div id="cd-claims-app" class="cd-claims-app" data-root="{esc(links.url(""))}" '
            f'data-src="{esc(links.asset_url("claims.json"))}">'
            f'<p class="cd-filters"><input type="search" id="cd-q" placeholder="Search claims" aria-label="Search claims"> '
            + "".join(f'<label>{name} <select id="cd-f-{key}" data-column="{key}"><option value="">all</option></select>'
                      f"</label> " for key, name in (("status", "status"), ("stance", "stance"), ("page", "page"),
                                                    ("tags", "tag"), ("metric", "metric"), ("sources", "source")))
            + '</p><p id="cd-count" class="cd-count">Loading the claims…</p><table class="cd-table" id="cd-table">'
              '<thead><tr><th>claim</th><th>stance</th><th>value</th><th>as of</th><th>status</th><th>page</th>'
              '</tr></thead><tbody></tbody></table>'
              '<noscript>The table needs JavaScript; every claim is also on its page.</noscript></div>'
            f'<script src="{esc(links.asset("claims.js"))}"></script>')


# -- the listings' parts ------------------------------------------------------------------------------
def _label(text: str) -> str:
    """A section's name in a part's range, escaped, cut to LABEL_CHARS characters."""
    return esc(text if len(text) <= LABEL_CHARS else text[:LABEL_CHARS - 1].rstrip() + "…")


def _span(part: Part) -> str:
    """The sections a part holds, as 'first – last'."""
    return _label(part.first) if part.first == part.last else f"{_label(part.first)} – {_label(part.last)}"


def _part_link(links: Links, part: Part) -> str:
    """'part 3: first – last', a link unless it is this page."""
    name = f"part {part.number}"
    return (name if part.path == links.docs_path else f'<a href="{links.page(part.path)}">{name}</a>') + \
        f": {_span(part)}"


def parts_nav(links: Links, listing: Listing, part: Part) -> str:
    """Which part this is and the others, with the range each holds: part 1 lists every part; any
    other lists part 1, the last part and the PARTS_AROUND parts either side of it. Empty for a
    listing of one page."""
    count = len(listing.parts)
    if count == 1:
        return ""
    shown = [p for p in listing.parts
             if part.number == 1 or p.number in (1, count) or abs(p.number - part.number) <= PARTS_AROUND]
    items, previous = [], 0
    for other in shown:
        if other.number > previous + 1:
            items.append('<li class="cd-parts-gap">…</li>')
        here = ' class="cd-parts-here" aria-current="page"' if other is part else ""
        items.append(f"<li{here}>{_part_link(links, other)}</li>")
        previous = other.number
    return (f'<nav class="cd-parts" aria-label="parts of {esc(listing.title)}"><p>{esc(listing.title)} is in '
            f'{count} parts; this is part {part.number}, {_span(part)}.</p><ul>{"".join(items)}</ul></nav>')


def parts_next(links: Links, listing: Listing, part: Part) -> str:
    """At the end of a part, the next one."""
    if part.number == len(listing.parts):
        return ""
    return f'<p class="cd-parts-next">Next: {_part_link(links, listing.parts[part.number])}</p>'


def _listing_page(data: SiteData, links: Links, listing: Listing, part: Part, body: list[str]) -> str:
    # A line per section and per listed claim: a Markdown processor reading the staged page (zensical)
    # takes time superlinear in a line's length, and the browser ignores the line breaks.
    return "\n".join([run_note(data) + parts_nav(links, listing, part), *body, parts_next(links, listing, part)]
                     ).rstrip("\n")


# -- Sources ------------------------------------------------------------------------------------------
def _source(data: SiteData, section: Section, links: Links) -> str:
    source_id, items = section.key, section.items
    source = data.desk.sources[source_id]
    statuses = [status_of(c) for c in items]
    hold, fail, stale = (sum(s in group for s in statuses) for group in (HOLD, FAIL, STALE))
    rows = "".join(f"\n<tr><td>{_claim_link(data, c, links)}</td><td>{esc(c.located.claim.text)}</td>"
                   f"<td>{esc(stated(c))}</td><td>{badge(status_of(c))}</td></tr>" for c in items[:LIST_LIMIT])
    via = ""
    if source.via:
        where = links.source(source.via)
        via = (f'<p class="cd-via">via <a href="{where}">{esc(source.via)}</a></p>' if where else
               f'<p class="cd-via">via {esc(source.via)}</p>')
    note = f'<p class="cd-note">{esc(source.note)}</p>' if source.note else ""
    return (f'<section class="cd-source" id="source-{esc(source_id)}"><h2>{esc(source.title)}</h2>'
            f'<p>{source_line(source_id, source, links, track=False)}; {esc(source.kind)}; '
            f'id <code>{esc(source_id)}</code></p>{via}{note}'
            f'<p class="cd-track-record">{plural(len(items), "claim")} cite it: {hold} hold, {fail} fail, '
            f'{stale} went stale.</p>'
            + (f'<table class="cd-table"><thead><tr><th>claim</th><th>text</th><th>value</th><th>status</th>'
               f'</tr></thead><tbody>{rows}</tbody></table>' if rows else "")
            + _more(links, LIST_LIMIT, len(items), "claims citing it", sources=source_id) + "</section>")


def sources_page(data: SiteData, links: Links, listing: Listing, part: Part) -> str:
    return _listing_page(data, links, listing, part, [_source(data, s, links) for s in part.sections])


# -- Bull vs bear ---------------------------------------------------------------------------------------
def _sides(data: SiteData, items: list[SiteClaim], links: Links, **filters: str) -> str:
    def column(side: str) -> str:
        chosen = [c for c in items if c.located.claim.stance == side]
        if not chosen:
            return f"<td><em>no {side} claims</em></td>"
        return "<td><ul>" + "".join(f"\n<li>{_claim_link(data, c, links, c.located.claim.text)} {badge(status_of(c))}"
                                    f"</li>" for c in chosen[:LIST_LIMIT]) + "</ul>" + \
            _more(links, LIST_LIMIT, len(chosen), f"{side} claims", stance=side, **filters) + "</td>"

    neutral = sum(1 for c in items if c.located.claim.stance == "neutral")
    return (f'<table class="cd-sides"><thead><tr><th>{stance("bull")}</th><th>{stance("bear")}</th></tr></thead>'
            f'<tbody><tr>{column("bull")}{column("bear")}</tr></tbody></table>'
            f'<p class="cd-neutral">and {plural(neutral, "neutral claim")}</p>')


def sides_page(data: SiteData, links: Links, listing: Listing, part: Part) -> str:
    """Concept pages, then tags, under the headings "By page" and "By tag": a part has each heading
    when it holds such sections (a listing of one page always has both)."""
    single = len(listing.parts) == 1
    body = ['<h2 id="by-page">By page</h2>'] if single or any(s.group == "page" for s in part.sections) else []
    by_tag = False
    for section in part.sections:
        items = list(section.items)
        if section.group == "page":
            url = links.page(section.key[len(KB):]) if section.key.startswith(KB) else "#"
            body.append(f'<h3><a href="{url}">{esc(section.label)}</a></h3>'
                        f'{_sides(data, items, links, page=section.label)}')
            continue
        if not by_tag:
            body.append('<h2 id="by-tag">By tag</h2>')
            by_tag = True
        body.append(f'<h3 id="{esc(section.anchor)}">{esc(section.key)}</h3>{_sides(data, items, links, tags=section.key)}')
    if single and not by_tag:
        body.append('<h2 id="by-tag">By tag</h2>')
    return _listing_page(data, links, listing, part, body)


# -- Metrics ------------------------------------------------------------------------------------------
def _numeric(item: SiteClaim, unit_text: str) -> float | None:
    """The claim's figure in `unit_text` (a range's midpoint), or None for a bound or another dimension."""
    claim = item.located.claim
    if claim.value is None or claim.value.kind == "bound" or not claim.unit:
        return None
    try:
        mine, theirs = parse_unit(claim.unit), parse_unit(unit_text)
    except UnitError:
        return None
    if mine.dims != theirs.dims:
        return None
    return theirs.from_base(mine.to_base(claim.value.midpoint()))


def chart(points: list[tuple[dt.date, float]], unit: str) -> str:
    """A small SVG line chart, the same bytes for the same points."""
    days = [d.toordinal() for d, _ in points]
    values = [v for _, v in points]
    d0, d1 = min(days), max(days)
    v0, v1 = min(values), max(values)
    if v0 == v1:
        v0, v1 = v0 - 1, v1 + 1
    span_d = (d1 - d0) or 1

    def x(day: int) -> float:
        return PAD + (day - d0) / span_d * (CHART_W - 2 * PAD)

    def y(value: float) -> float:
        return CHART_H - PAD + (value - v0) / (v1 - v0) * (2 * PAD - CHART_H)

    path = " ".join(f"{'M' if i == 0 else 'L'}{x(d):.1f},{y(v):.1f}" for i, (d, v) in enumerate(zip(days, values)))
    dots = "".join(f'<circle cx="{x(d):.1f}" cy="{y(v):.1f}" r="3"><title>{dt.date.fromordinal(d).isoformat()}: '
                   f'{esc(figure_text(v))} {esc(unit)}</title></circle>' for d, v in zip(days, values))
    labels = (f'<text x="{PAD}" y="{CHART_H - 8}">{dt.date.fromordinal(d0).isoformat()}</text>'
              f'<text x="{CHART_W - PAD}" y="{CHART_H - 8}" text-anchor="end">{dt.date.fromordinal(d1).isoformat()}</text>'
              f'<text x="4" y="{PAD - 8}">{esc(figure_text(v1))} {esc(unit)}</text>'
              f'<text x="4" y="{CHART_H - PAD + 14}">{esc(figure_text(v0))}</text>')
    return (f'<svg class="cd-chart" viewBox="0 0 {CHART_W} {CHART_H}" width="{CHART_W}" height="{CHART_H}" '
            f'role="img" aria-label="values over time"><path d="{path}" fill="none" stroke="currentColor" '
            f'stroke-width="1.5"/>{dots}{labels}</svg>')


def _metric(data: SiteData, section: Section, links: Links) -> str:
    """The metric's claims in time order: the newest LIST_LIMIT of them, charted."""
    metric, items = section.key, list(section.items)
    listed = items[-LIST_LIMIT:]
    unit = next((c.located.claim.unit for c in items if c.located.claim.unit), "") or ""
    rows = "".join(f"\n<tr><td>{esc(stated(c))}</td><td>{esc(c.located.claim.as_of)}</td>"
                   f"<td>{_claim_link(data, c, links)}</td><td>{esc(', '.join(c.located.claim.sources))}</td>"
                   f"<td>{badge(status_of(c))}</td></tr>" for c in listed)
    points = [(c.located.claim.as_of.start, v) for c in listed if (v := _numeric(c, unit)) is not None]
    graph = chart(points, unit) if len(points) >= 3 else ""
    return (f'<section class="cd-metric" id="{esc(section.anchor)}"><h2>{esc(metric)}</h2>{graph}'
            f'<table class="cd-table"><thead><tr><th>value</th><th>as of</th><th>claim</th><th>sources</th>'
            f'<th>status</th></tr></thead><tbody>{rows}</tbody></table>'
            + _more(links, LIST_LIMIT, len(items), "earlier claims", metric=metric) + "</section>")


def metrics_page(data: SiteData, links: Links, listing: Listing, part: Part) -> str:
    body = [_metric(data, s, links) for s in part.sections] or ["<p>No claim names a metric yet.</p>"]
    return _listing_page(data, links, listing, part, body)


# -- The model ----------------------------------------------------------------------------------------
def _uses(data: SiteData, links: Links) -> dict[str, list[dict[str, str]]]:
    """quantity or parameter -> the claims whose check names it, with links from the Model page."""
    uses: dict[str, list[dict[str, str]]] = defaultdict(list)
    for item in data.claims.values():
        for name in check_names(item.located.claim.check) or []:
            uses[name].append({"id": item.id, "url": links.claim(item)})
    return uses


def _value(data: SiteData, name: str, overrides: dict[str, float] | None = None) -> str:
    try:
        return f"{figure_text(data.model.evaluate(name, overrides))} {data.model.unit(name)}"
    except ExprError as exc:
        return f"cannot be computed: {exc}"


def model_page(data: SiteData, links: Links) -> str:
    model = data.model
    if not model.parameters:
        return "<p>The desk has no model: data/models/ holds no model file with parameters.</p>"
    uses = _uses(data, links)
    parts = [run_note(data), '<h2 id="calculator">Calculator</h2>'
             '<p>Change any parameter: every quantity is recomputed in your browser by code printed from the '
             'same expressions the checker computes.</p>'
             '<div id="cd-calculator" class="cd-calculator"><noscript>The calculator needs JavaScript.</noscript></div>'
             f'<script type="application/json" id="cd-model-data">{json_for_html(model_data(model, uses))}</script>'
             f'<script src="{esc(links.asset("model.js"))}"></script>'
             f'<script src="{esc(links.asset("calculator.js"))}"></script>',
             '<h2 id="parameters">Parameters</h2><table class="cd-table"><thead><tr><th>parameter</th><th>value</th>'
             '<th>as of</th><th>sources</th><th>status</th></tr></thead><tbody>']
    for name, info in model.parameters.items():
        item = data.claims.get(name)
        status = badge(status_of(item)) if item else badge(NOT_IN_RUN)
        sources = ", ".join(f'<a href="{where}">{esc(s)}</a>' if (where := links.source(s)) else esc(s)
                            for s in info.parameter.sources)
        parts.append(f'<tr id="{esc(name)}"><td><code>{esc(name)}</code><br>{esc(info.parameter.text)}</td>'
                     f'<td>{esc(info.parameter.value.written)} {esc(info.unit)}</td><td>{esc(info.parameter.as_of)}</td>'
                     f'<td>{sources}</td><td>{status}</td></tr>')
    parts.append('</tbody></table><h2 id="quantities">Quantities</h2>')
    for name, q in model.quantities.items():
        requires = "".join(f"<p>requires {esc(c.text)}</p>" for c in q.conditions)
        used = ", ".join(f'<a href="{esc(u["url"])}">{esc(u["id"])}</a>' for u in uses.get(name, [])) or "none"
        parts.append(f'<section class="cd-quantity" id="quantity-{esc(name)}"><h3><code>{esc(name)}</code> '
                     f'[{esc(q.unit)}]</h3><p>{esc(q.quantity.text)}</p><p>defined as <code>{esc(q.definition)}</code>'
                     f'</p>{equation_mathml(model, name)}{requires}<p>at the model\'s values: '
                     f'<strong>{esc(_value(data, name))}</strong>; used by claims: {used}</p></section>')
    for path, table in model.tables:
        header = "".join(f"<th>{esc(h)}</th>" for h in [table.vary, *table.show])
        rows = "".join("<tr><td>" + esc(figure_text(v)) + "</td>" + "".join(
            f"<td>{esc(_value(data, n, {table.vary: v}))}</td>" for n in table.show) + "</tr>" for v in table.values)
        parts.append(f'<h2>{esc(table.title)}</h2><p class="cd-from">from {esc(path)}</p>'
                     f'<table class="cd-table"><thead><tr>{header}</tr></thead><tbody>{rows}</tbody></table>')
    solved = [(n, q) for n, q in model.quantities.items() if q.quantity.solve_for]
    if solved:
        parts.append('<h2 id="break-even">Break-even points</h2><ul>' + "".join(
            f"<li><code>{esc(n)}</code>: {esc(q.quantity.text)} <strong>{esc(_value(data, n))}</strong> "
            f"(<code>{esc(q.definition)}</code>)</li>" for n, q in solved) + "</ul>")
    parts.append(_sensitivities(data))
    return "".join(parts)


def _sensitivities(data: SiteData) -> str:
    model = data.model
    used = [p for p in model.parameters if any(p in q.names for q in model.quantities.values())]
    head = "".join(f"<th><code>{esc(p)}</code></th>" for p in used)
    rows = []
    for name in model.quantities:
        cells = []
        for parameter in used:
            value = sensitivity(model, name, parameter)
            cells.append(f"<td>{'-' if value is None else f'{value:+.3g}'}</td>")
        rows.append(f"<tr><td><code>{esc(name)}</code></td>{''.join(cells)}</tr>")
    return ('<h2 id="sensitivities">Sensitivities</h2><p>d log(quantity) / d log(parameter) at the model\'s '
            f'values: the % change in a quantity for a 1% change in a parameter.</p><div class="cd-wide">'
            f'<table class="cd-table"><thead><tr><th></th>{head}</tr></thead><tbody>{"".join(rows)}</tbody>'
            f'</table></div>')


def generated(data: SiteData, docs_path: str, links: Links, layout: Layout) -> str:
    """The body of a generated page: Claims, The model, or a part of a listing."""
    if docs_path in layout.parts:
        listing, part = layout.parts[docs_path]
        listings = {SOURCES_PAGE: sources_page, SIDES_PAGE: sides_page, METRICS_PAGE: metrics_page}
        return listings[listing.page](data, links, listing, part)
    builders = {CLAIMS_PAGE: claims_page, MODEL_PAGE: model_page}
    return builders[docs_path](data, links)


def every_tag(data: SiteData) -> Iterable[str]:
    return sorted({t for r in data.pages.values() if r.page is not None for t in r.page.tags})
