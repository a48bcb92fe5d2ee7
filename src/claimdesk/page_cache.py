"""The page cache: rebuilding unchanged pages from the store instead of parsing them again.

An ingest does not read a page whose mtime and size are the stored ones, rebuilds a page whose
content hash is unchanged from a compact `marshal`-ed copy (internal table `page_cache`), and
parses only the pages that changed, in worker processes when there are many.
"""

from __future__ import annotations

import atexit
import dataclasses
import datetime as dt
import gc
import marshal
import multiprocessing
import os
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from . import kb
from .freshness import Period, Threshold
from .frontmatter import Loaded
from .schema import Acknowledgement, Claim, Page
from .store_schema import CLAIM_FIELDS, PAGE_FIELDS
from .store_tables import paths_visible
from .values import Stated, Tolerance

if TYPE_CHECKING:
    import pyarrow as pa

PARALLEL_MIN_PAGES = 1000  # fewer changed pages than this are parsed in this process: workers take ~1 s to start
CHUNK_PAGES = 250

# -- the page cache ----------------------------------------------------------------------------
@dataclass(frozen=True)
class _Known:
    content_hash: str
    mtime_us: int
    size: int
    problems: int
    cached: bool  # a copy is in page_cache


@dataclass
class _Cache:
    root: Path
    known: dict[str, _Known]
    blobs: dict[str, bytes]
    on_disk: dict[str, tuple[float, int, int]]  # path -> (st_mtime, mtime in µs, size)
    # pages parsed ahead by workers: path -> (content hash, blob or None when it has problems)
    prefetched: dict[str, tuple[str, bytes | None]] = field(default_factory=dict)
    pending: dict[str, Future[Any]] = field(default_factory=dict)  # path -> the worker's chunk holding it
    worker_tables: list[dict[str, pa.Table]] = field(default_factory=list)  # their rows for the page tables
    from_workers: set[str] = field(default_factory=set)  # pages rebuilt from what a worker parsed
    spoilt: set[str] = field(default_factory=set)  # pages whose stored copy could not be read
    memo: dict[Any, Any] = field(default_factory=dict)  # shared frozen values: Periods, dates, field sets
    reused: int = 0

    def mtime(self, path: str) -> float:
        seen = self.on_disk.get(path)
        return seen[0] if seen else (self.root / path).stat().st_mtime

    def collect(self, chunk: Future[Any]) -> None:
        """Take in what a worker parsed (waiting for it to finish). Should a worker fail, its pages
        are simply parsed in line by kb.py."""
        for path in [path for path, pending in self.pending.items() if pending is chunk]:
            del self.pending[path]
        try:
            pages, tables = chunk.result()
        except Exception:  # noqa: BLE001 - a dead worker (killed, out of memory) costs time, not the ingest
            return
        for path, content_hash, blob in pages:
            self.prefetched[path] = (content_hash, blob)
        self.worker_tables.append(tables)


def _suspects(on_disk: dict[str, tuple[float, int, int]], known: dict[str, _Known], blobs: dict[str, bytes]) -> list[str]:
    """Pages that probably changed since the last ingest (new, another mtime or size, no stored copy),
    in kb.py's reading order."""
    return sorted(path for path, (_, mtime_us, size) in on_disk.items()
                  if path not in known or (known[path].mtime_us, known[path].size) != (mtime_us, size)
                  or (path not in blobs and known[path].problems == 0))


class _ParseAhead:
    """When many pages changed (a cold store, a big pull), worker processes parse them while kb.py
    walks the desk, reads and hashes the files; `lookup` then waits for the chunk that holds the
    page it is asked for. A handful of pages is cheaper to parse in line: workers take a second
    to start."""

    def __init__(self, cache: _Cache, suspects: list[str]):
        self.cache = cache
        self.suspects = suspects
        self.pool: ProcessPoolExecutor | None = None

    def __enter__(self) -> _ParseAhead:
        affinity = getattr(os, "sched_getaffinity", None)
        workers = min(len(affinity(0)) if affinity else os.cpu_count() or 1, 8)
        if len(self.suspects) < PARALLEL_MIN_PAGES or workers < 2:
            return self
        # spawn, not fork: DuckDB's threads are running in this process, and a forked copy of them is unsafe.
        self.pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
        root = str(self.cache.root)
        for i in range(0, len(self.suspects), CHUNK_PAGES):
            chunk = self.suspects[i:i + CHUNK_PAGES]
            future = self.pool.submit(_parse_pages, root, chunk)
            self.cache.pending.update(dict.fromkeys(chunk, future))
        return self

    def __exit__(self, kind: object, *exc: object) -> None:
        if self.pool is None:
            return
        if kind is None:  # pages kb.py did not ask for (gone meanwhile): collected, then filtered out
            for chunk in list(dict.fromkeys(self.cache.pending.values())):
                self.cache.collect(chunk)
        self.pool.shutdown(wait=True, cancel_futures=True)


def _known_pages(con: duckdb.DuckDBPyConnection) -> dict[str, _Known]:
    return {path: _Known(content_hash, mtime_us or 0, size or 0, problems or 0, cached)
            for path, content_hash, mtime_us, size, problems, cached in con.execute(
                "SELECT p.path, p.content_hash, epoch_us(p.mtime), p.size, p.problems, c.path IS NOT NULL "
                "FROM pages p LEFT JOIN (SELECT DISTINCT path FROM page_cache) c USING (path)").fetchall()}


def _blobs(con: duckdb.DuckDBPyConnection, paths: Iterable[str], with_hash: bool = False) -> dict[str, Any]:
    """Stored copies of some pages: path -> blob, or (content hash, blob) `with_hash`."""
    with paths_visible(con, "wanted", paths):
        rows = con.execute("SELECT path, content_hash, record FROM page_cache "
                           "WHERE path IN (SELECT path FROM wanted)").fetchall()
    return {path: (content_hash, blob) if with_hash else blob for path, content_hash, blob in rows}


def _claims_of(con: duckdb.DuckDBPyConnection, paths: Iterable[str]) -> list[tuple[str, int, str, str | None]]:
    with paths_visible(con, "wanted", paths):
        return [tuple(row) for row in con.execute(  # type: ignore[misc]
            "SELECT path, position, claim_id, metric FROM claims WHERE path IN (SELECT path FROM wanted) "
            "ORDER BY path, position").fetchall()]


def _merged(first: list[kb.PageRecord], second: list[kb.PageRecord]) -> list[kb.PageRecord]:
    """Two lists of pages, each in desk order, as one in desk order."""
    return sorted(first + second, key=lambda record: record.path)


def _int(text: str | None) -> int:
    return int(text) if text and text.lstrip("-").isdigit() else 0


def _parse_pages(root: str, paths: list[str]) -> tuple[list[tuple[str, str, bytes | None]], dict[str, pa.Table]]:
    """Worker process: parse pages. Each comes back as (path, content hash, blob), the blob None
    when the page has problems (kb.py then reads it again to report them), and the clean pages'
    rows come back ready for the page tables. Unreadable or oversized files are left out: kb.py
    reports those."""
    pages: list[tuple[str, str, bytes | None]] = []
    from .store_rows import _Rows  # here: store_rows builds on this module's page copies

    rows = _Rows()
    with _collector_paused():
        for rel in paths:
            try:
                full = Path(root) / rel
                st = full.stat()
                if st.st_size > kb.MAX_FILE_BYTES:
                    continue
                record = kb.load_page(rel, full.read_bytes())
            except OSError:
                continue
            blob = None
            if not record.problems and record.page is not None:
                content = _page_content(record)
                try:
                    blob = marshal.dumps(content)
                except ValueError:
                    blob = None
                if blob is not None:
                    rows.add(rel, record.content_hash, st.st_mtime_ns // 1000, st.st_size, record, content, blob)
            pages.append((rel, record.content_hash, blob))
    return pages, rows.tables()


# A page's content as plain values, which marshal keeps exactly (it refuses str subclasses and
# anything else it could not give back as the same type): (header, claims) with
#   header = (the Page's field values in PAGE_FIELDS order, fields-set mask, body line)
#   claim = (position, line, fields-set mask, the Claim's field values in CLAIM_FIELDS order,
#            line of its id, lines of its sources)
# where dates are ordinals, as_of is (start, end, written), value is the Stated's field values,
# tolerance is (written, amount, relative) and stale_after is None, 'never' or (count, period).
# Rebuilding then only swaps those few values for objects.
_EPOCH = dt.date(1970, 1, 1).toordinal()
_CLAIM_BITS = {name: 1 << i for i, name in enumerate(CLAIM_FIELDS)}
_PAGE_BITS = {name: 1 << i for i, name in enumerate(PAGE_FIELDS)}
_STATED_FIELDS = tuple(f.name for f in dataclasses.fields(Stated))


def _mask(fields_set: set[str], bits: dict[str, int]) -> int:
    return sum(bits[name] for name in fields_set)


def _stored_fields(claim: Claim) -> dict[str, Any]:
    """A claim's field values as plain values (see above)."""
    value, tolerance, stale = claim.value, claim.tolerance, claim.stale_after
    return dict(
        claim.__dict__,
        sources=list(claim.sources),
        as_of=(claim.as_of.start.toordinal(), claim.as_of.end.toordinal(), claim.as_of.written),
        value=None if value is None else tuple(getattr(value, name) for name in _STATED_FIELDS),
        tolerance=None if tolerance is None else (tolerance.written, tolerance.amount, tolerance.relative),
        given=None if claim.given is None else dict(claim.given),
        review_by=claim.review_by.toordinal() if claim.review_by else None,
        resolves=claim.resolves.toordinal() if claim.resolves else None,
        stale_after=stale if stale is None or stale == "never" else (stale.count, stale.period),
        outcome=None if claim.outcome is None else tuple(getattr(claim.outcome, name) for name in _STATED_FIELDS),
        acknowledge=None if claim.acknowledge is None else [
            (a.finding, a.reason, a.with_, a.until.toordinal() if a.until else None, sorted(a.model_fields_set))
            for a in claim.acknowledge])


def _page_content(record: kb.PageRecord) -> tuple[Any, ...]:
    page = record.page
    header = None
    if page is not None:
        fields = dict(page.__dict__, tags=list(page.tags), claims=[])
        header = (tuple(fields[f] for f in PAGE_FIELDS), _mask(page.model_fields_set, _PAGE_BITS), record.body_line)
    lines = record.loaded.line_of if record.loaded else (lambda path: 1)
    claims = []
    for i, claim in record.claims:
        fields = _stored_fields(claim)
        claims.append((i, lines(("claims", i)), _mask(claim.model_fields_set, _CLAIM_BITS),
                       tuple(fields[f] for f in CLAIM_FIELDS), lines(("claims", i, "id")),
                       [lines(("claims", i, "sources", j)) for j in range(len(claim.sources))]))
    return header, claims


_new = object.__new__
_set = object.__setattr__


def _fields_set(mask: int, names: tuple[str, ...], memo: dict[Any, Any]) -> set[str]:
    """The set of fields a model was given. Claims with the same fields share one set: the models
    are frozen, so nothing adds to it, and 100,000 copies would cost 50 MB."""
    key = (names, mask)
    known = memo.get(key)
    if known is None:
        known = memo[key] = {name for i, name in enumerate(names) if mask >> i & 1}
    return known


def _day(ordinal: int, memo: dict[Any, Any]) -> dt.date:
    day = memo.get(ordinal)
    if day is None:
        day = memo[ordinal] = dt.date.fromordinal(ordinal)
    return day


def _claim_from(mask: int, values: tuple[Any, ...], memo: dict[Any, Any]) -> Claim:
    fields = dict(zip(CLAIM_FIELDS, values))
    as_of = fields["as_of"]
    period = memo.get(as_of)
    if period is None:  # frozen: one Period per distinct as_of is shared by every claim that has it
        period = memo[as_of] = Period(dt.date.fromordinal(as_of[0]), dt.date.fromordinal(as_of[1]), as_of[2])
    fields["as_of"] = period
    for name in ("value", "outcome"):
        value = fields[name]
        if value is not None:
            stated = _new(Stated)
            _set(stated, "__dict__", dict(zip(_STATED_FIELDS, value)))
            fields[name] = stated
    if fields["acknowledge"] is not None:
        fields["acknowledge"] = [Acknowledgement.model_construct(
            set(given), finding=finding, reason=reason, with_=with_, until=None if until is None else _day(until, memo))
            for finding, reason, with_, until, given in fields["acknowledge"]]
    if fields["tolerance"] is not None:
        fields["tolerance"] = Tolerance(*fields["tolerance"])
    if fields["review_by"] is not None:
        fields["review_by"] = _day(fields["review_by"], memo)
    if fields["resolves"] is not None:
        fields["resolves"] = _day(fields["resolves"], memo)
    stale = fields["stale_after"]
    if stale is not None and stale != "never":
        fields["stale_after"] = Threshold(*stale)
    claim = _new(Claim)
    _set(claim, "__dict__", fields)
    _set(claim, "__pydantic_fields_set__", _fields_set(mask, CLAIM_FIELDS, memo))
    _set(claim, "__pydantic_extra__", None)
    _set(claim, "__pydantic_private__", None)
    return claim


def _rebuilt(path: str, content_hash: str, mtime: float, blob: bytes, memo: dict[Any, Any]) -> kb.PageRecord | None:
    """A page rebuilt from its stored copy, or None when the copy cannot be used: then the file,
    which is the truth, is parsed instead."""
    try:
        return _record_from_blob(path, content_hash, mtime, blob, memo)
    except Exception:  # noqa: BLE001 - whatever is wrong with a stored copy, the file is the truth
        return None


def _record_from_blob(path: str, content_hash: str, mtime: float, blob: bytes,
                      memo: dict[Any, Any]) -> kb.PageRecord:
    (values, mask, body_line), claim_entries = marshal.loads(blob)
    page = _new(Page)
    _set(page, "__dict__", dict(zip(PAGE_FIELDS, values)))
    _set(page, "__pydantic_fields_set__", _fields_set(mask, PAGE_FIELDS, memo))
    _set(page, "__pydantic_extra__", None)
    _set(page, "__pydantic_private__", None)
    # Of the parsed YAML only what is read downstream is kept: each claim's line (Located.line),
    # and its id and sources with their lines (Desk.references, for the desk-wide rules).
    lines: dict[tuple[str | int, ...], int] = {}
    data = []
    claims = []
    for position, line, mask, values, id_line, source_lines in claim_entries:
        claim = _claim_from(mask, values, memo)
        claims.append((position, claim))
        data.append({"id": claim.id, "sources": list(claim.sources)})
        lines[("claims", position)] = line
        lines[("claims", position, "id")] = id_line
        for j, source_line in enumerate(source_lines):
            lines[("claims", position, "sources", j)] = source_line
    loaded = Loaded(data={"claims": data}, lines=lines)
    return kb.PageRecord(path, content_hash, mtime, page=page, loaded=loaded, claims=claims, body_line=body_line)


_unfreeze_at_exit = False


@contextmanager
def _collector_paused(freeze: bool = False) -> Iterator[None]:
    """Hold back Python's cycle collector while a desk's worth of objects is built: with 100,000
    claims alive it rescans them over and over and triples the time. Nothing built here forms a
    cycle. With `freeze`, what was built is then moved out of the collector's sight for good
    (gc.freeze), or the first collections afterwards would still scan it all, costing another
    second; it is freed by reference counting as usual, and unfrozen at exit so that the
    interpreter's last collection sees everything."""
    global _unfreeze_at_exit
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if freeze:
            gc.freeze()
            if not _unfreeze_at_exit:
                atexit.register(gc.unfreeze)
                _unfreeze_at_exit = True
        if was_enabled:
            gc.enable()
