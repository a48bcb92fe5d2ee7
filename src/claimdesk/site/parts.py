"""The listing pages in parts: Sources, Bull vs bear and Metrics, cut to a bounded size.

A listing is a sequence of sections (a source; a concept page or a tag; a metric), each listing at
most LIST_LIMIT claims per list. A section weighs one row for its heading plus one per claim it
lists. Sections are packed in the listing's order into parts of at most PART_ROWS rows: a section
that would take the part over the bound starts the next one. A listing within the bound is one
page, as it always was; past it, part 1 keeps the listing's path (desk/sources.md, where the nav
and Home point) and part N is desk/sources/N.md. No section weighs more than 2 * LIST_LIMIT + 1
rows, so every part holds at least one.

`layout` works all of this out once per build from the site data, before any page is rendered: the
parts, their sections with the claims each is about, and which part holds each anchor
(`source-ID`, `tag-TAG`, `metric-NAME`), so that every link into a listing points to its part.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from .collect import SiteClaim, SiteData
from .html import METRICS_PAGE, SIDES_PAGE, SOURCES_PAGE, metric_anchor, tag_anchor

LIST_LIMIT = 50  # claims listed per source, page, tag or metric; the rest are one link away, on Claims, filtered
PART_ROWS = 1000  # rows per part of a listing page (a section's heading and each claim it lists are a row each)
LISTINGS = {SOURCES_PAGE: "Sources", SIDES_PAGE: "Bull vs bear", METRICS_PAGE: "Metrics"}


@dataclass(frozen=True)
class Section:
    key: str  # the source id, the concept page's desk path, the tag or the metric
    anchor: str  # its id on the page, "" for none (a concept page's section links to the page instead)
    label: str  # how a part's range names it (contributor text: escape it where it is shown)
    rows: int  # 1 for its heading, plus the claims it lists
    items: tuple[SiteClaim, ...] = ()  # every claim it is about, listed or not
    group: str = ""  # Bull vs bear: "page" or "tag"


@dataclass(frozen=True)
class Part:
    path: str  # docs path
    number: int  # from 1
    sections: tuple[Section, ...]

    @property
    def rows(self) -> int:
        return sum(s.rows for s in self.sections)

    @property
    def first(self) -> str:
        return self.sections[0].label if self.sections else ""

    @property
    def last(self) -> str:
        return self.sections[-1].label if self.sections else ""


@dataclass(frozen=True)
class Listing:
    page: str  # the docs path of part 1 (the listing's own path)
    title: str
    parts: tuple[Part, ...]


@dataclass
class Layout:
    listings: dict[str, Listing]  # listing page -> the listing
    parts: dict[str, tuple[Listing, Part]] = field(default_factory=dict)  # docs path of every part -> its listing, part
    placed: dict[tuple[str, str], str] = field(default_factory=dict)  # (listing page, anchor) -> docs path of its part

    def __post_init__(self) -> None:
        for listing in self.listings.values():
            for part in listing.parts:
                self.parts[part.path] = (listing, part)
                for section in part.sections:
                    if section.anchor:
                        self.placed[(listing.page, section.anchor)] = part.path


def part_path(page: str, number: int) -> str:
    """desk/sources.md for part 1, desk/sources/N.md for part N."""
    return page if number == 1 else f"{page.removesuffix('.md')}/{number}.md"


def pack(page: str, sections: list[Section], bound: int | None = None) -> tuple[Part, ...]:
    """The sections in order, in parts of at most `bound` rows (PART_ROWS); always at least one part."""
    bound = PART_ROWS if bound is None else bound
    groups: list[list[Section]] = [[]]
    rows = 0
    for section in sections:
        if groups[-1] and rows + section.rows > bound:
            groups.append([])
            rows = 0
        groups[-1].append(section)
        rows += section.rows
    return tuple(Part(part_path(page, n), n, tuple(group)) for n, group in enumerate(groups, start=1))


def _listed(items: list[SiteClaim]) -> int:
    return min(len(items), LIST_LIMIT)


def source_sections(data: SiteData) -> list[Section]:
    citing: dict[str, list[SiteClaim]] = defaultdict(list)
    for item in data.claims.values():
        for source_id in item.located.claim.sources:
            citing[source_id].append(item)
    return [Section(source_id, "source-" + source_id, source.title, 1 + _listed(citing.get(source_id, [])),
                    tuple(citing.get(source_id, ())))
            for source_id, source in data.desk.sources.items()]


def _sides_rows(items: list[SiteClaim]) -> int:
    return 1 + sum(min(sum(1 for c in items if c.located.claim.stance == side), LIST_LIMIT) for side in ("bull", "bear"))


def side_sections(data: SiteData) -> list[Section]:
    """A section per concept page with claims (in the desk's order), then one per tag of those pages (sorted)."""
    sections = []
    by_tag: dict[str, list[SiteClaim]] = defaultdict(list)
    for path, record in data.pages.items():
        items = data.page_claims(path)
        if not items or record.page is None:
            continue
        for tag in record.page.tags:
            by_tag[tag] += items
        sections.append(Section(path, "", record.page.title, _sides_rows(items), tuple(items), "page"))
    sections += [Section(tag, tag_anchor(tag), f"tag {tag}", _sides_rows(by_tag[tag]), tuple(by_tag[tag]), "tag")
                 for tag in sorted(by_tag)]
    return sections


def metric_sections(data: SiteData) -> list[Section]:
    """A section per metric (sorted), its claims in time order."""
    by_metric: dict[str, list[SiteClaim]] = defaultdict(list)
    for item in data.claims.values():
        if item.located.claim.metric:
            by_metric[item.located.claim.metric].append(item)
    sections = []
    for metric in sorted(by_metric):
        items = sorted(by_metric[metric], key=lambda c: (c.located.claim.as_of.start, c.id))
        sections.append(Section(metric, metric_anchor(metric), metric, 1 + _listed(items), tuple(items)))
    return sections


def layout(data: SiteData, bound: int | None = None) -> Layout:
    """Every listing's parts, and which part holds each anchor, for one build."""
    sections = {SOURCES_PAGE: source_sections(data), SIDES_PAGE: side_sections(data),
                METRICS_PAGE: metric_sections(data)}
    return Layout({page: Listing(page, LISTINGS[page], pack(page, found, bound)) for page, found in sections.items()})

