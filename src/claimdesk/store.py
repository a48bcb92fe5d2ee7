"""The store: every page, claim, source, model parameter and check result in one DuckDB file.

The Markdown under kb/ and the YAML under data/ are the truth; the store is a build artefact that
answers questions about them (`claimdesk query`) and keeps what the files cannot: the history of
every check run. Its tables and views are documented, with example queries, in kb/guide/store.md;
keep the two in step.

How it is kept:

- `Store.ingest` reads the desk through kb.py with the store as its `PageCache`: a page whose mtime
  and size are the stored ones is not read at all (unless it was written within RACY_SECONDS of
  the previous ingest's start: git's racy-file rule), a page whose content hash is unchanged is
  rebuilt from the store without YAML parsing or validation, only the pages that changed are
  parsed, and pages that disappeared are removed. When many pages changed (a cold store, a big
  pull), worker processes parse them while kb.py walks the desk. A `lazy` ingest leaves the
  unchanged pages unbuilt; `cached_pages` builds the few an incremental check needs (job.py).
- `record_run` stores a run with the validation problems and what the run depended on (store_meta
  `run_base`); `record_incremental` stores a run that re-checked some claims, the others keeping
  their results. Results are stored as versions (`result_versions`: one row per stretch of runs in
  which a claim's result did not change), so a run writes only the results that changed; the
  view `results` gives one row per claim and run. `pages_version` in store_meta grows with every
  ingest that changed pages or data, so a run builds only on a previous run whose pages it knows.
- Every write happens in one DuckDB transaction, so a run that fails or is killed half-way leaves
  the previous store intact; DuckDB's write-ahead log cleans up on the next open.
- One writer at a time: a writer holds an flock on `<store>.lock`, which names its process id, and
  a second writer gets "the store ... is in use by process N". Readers open the file read-only.
  DuckDB lets a writer or readers hold the file, not both, so each side waits a little for the
  other, and a writer closes the file between its steps (and during a long parse) to let them in.
- The store records its schema version and a hash of its DDL. An older store is migrated when a
  writer opens it: the desk's tables are dropped and re-read from kb/ on the next ingest, while
  the history (runs, result_versions) is carried across column by column in the same transaction
  (a schema-1 store's table of one result per claim and run is folded into versions).

Three choices that look odd, and why:

- Pages are rebuilt from a compact `marshal`-ed copy of each clean page (internal table
  `page_cache`) rather than from the typed columns: turning 100,000 rows of typed columns into
  Python values costs seconds, the copy a fraction of that. The columns stay the public,
  queryable form; the copy is only read by a writer of this store, and one that does not fit
  the current parsing code (CACHE_FORMAT) is ignored and the page parsed again.
- Claims and pages are rebuilt by setting their `__dict__` directly instead of through
  `model_construct`, which costs three times as much: the values were validated when the page
  was parsed. tests/test_store_cache.py proves the rebuilt desk equal, field by field and type
  by type, to the parsed one.
- Python's cycle collector is held back while a desk is built, and what was built is frozen
  (see `_collector_paused`): otherwise it rescans a million live objects again and again.

This module only stores and reads: it never checks a claim (check.py does) and never renders.
It holds the `Store` (opening, ingesting, recording runs, reading back) and the places a store
lives; the rest of the store has rooms of its own: store_schema.py (tables, views, DDL,
migration), store_files.py (the writer's lock, refusing links and foreign files, one-line errors),
page_cache.py (rebuilding unchanged pages, parse workers) and store_rows.py (pages, claims, data
files and results as table rows, and writing them).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import errno
import json
import os
import re
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from . import __version__, kb
from .page_cache import (
    _blobs,
    _Cache,
    _claims_of,
    _collector_paused,
    _int,
    _known_pages,
    _merged,
    _ParseAhead,
    _rebuilt,
    _record_from_blob,
    _suspects,
)
from .problems import DeskError, Problem, did_you_mean
from .results import CheckRun, Result, Shown, Tally
from .schema import STATUSES, DeskSettings
from .store_files import (
    _file_problem,
    _first_line,
    _foreign,
    _is_marked,
    _looks_like_ours,
    _open_problem,
    _plain_text,
    _printable,
    _reason,
    _refuse_unsafe_path,
    _write_problem,
    _WriteLock,
)
from .store_rows import (
    _data_fingerprint,
    _insert,
    _naive_utc,
    _record_results,
    _result_rows,
    _set_base,
    _write_data,
    _write_pages,
    _write_problems,
)
from .store_schema import (
    _OPEN,
    BIGINT,
    CACHE_FORMAT,
    INTERNAL_TABLES,
    PAGE_TABLES,
    SCHEMA_HASH,
    SCHEMA_VERSION,
    STORE_MARKER,
    TABLES,
    TIMESTAMP,
    VARCHAR,
    _rebuild_schema,
    _relations,
    _schema_of,
    _set_meta,
)
from .store_tables import paths_visible, visible, write_errors

STORAGE_COMPATIBILITY = "v1.0.0"  # files stay readable by every DuckDB CLI since 1.0, not only the newest
RACY_SECONDS = 2  # a file this close to the previous ingest's start is read even when mtime and size match
READ_WAIT_SECONDS = 10.0  # how long a reader or writer waits for the other to close the file
MAX_QUERY_ROWS = 100_000  # `claimdesk query` prints at most this many rows (kb/guide/commands.md)
WRITE_WAIT_SECONDS = 10.0  # how long a writer waits for another writer's lock (kb/guide/commands.md says so)
TEST_PAUSE_ENV = "CLAIMDESK_TEST_PAUSE_IN_WRITE"  # tests only: a marker file; ingest pauses before COMMIT
TEST_PAUSE_SKIP_ENV = "CLAIMDESK_TEST_PAUSE_SKIP"  # tests only: how many writes go on before the pause

# -- results of the store's operations -------------------------------------------------------
@dataclass
class IngestStats:
    store: Path
    pages: int = 0
    parsed: int = 0  # read and validated from the file
    parsed_ahead: int = 0  # of which by worker processes
    reused: int = 0  # unchanged: rebuilt from the store
    removed: int = 0
    written: int = 0  # pages whose rows were (re)written
    claims: int = 0
    parameters: int = 0
    sources: int = 0
    problem_pages: int = 0  # pages stored with problems (their invalid claims left out); see `claimdesk validate`
    seconds: float = 0.0
    desk: kb.Desk | None = field(default=None, repr=False)  # the desk as read, for the checker
    phases: dict[str, float] = field(default_factory=dict)  # seconds per step, for benchmarks
    # For an incremental check (job.py): what this ingest found.
    changed: list[str] = field(default_factory=list)  # pages added or whose content changed
    gone: list[str] = field(default_factory=list)  # pages removed
    unread: list[str] = field(default_factory=list)  # pages not read: unchanged by mtime and size
    problem_pages_before: set[str] = field(default_factory=set)  # pages stored with problems before
    previous: list[tuple[str, int, str, str | None]] = field(default_factory=list)  # (path, position, id, metric)
    pages_version: int = 0  # the store's page version before this ingest
    pages_version_after: int = 0  # and after: one more when pages, sources or models changed
    data_hash: str = ""

    def summary(self) -> str:
        text = (f"{self.pages} pages ({self.parsed} parsed, {self.reused} unchanged, {self.removed} removed), "
                f"{self.claims} claims, {self.parameters} parameters, {self.sources} sources "
                f"in {self.seconds:.2f} s")
        if self.problem_pages:
            text += f"; {self.problem_pages} pages have problems (run claimdesk validate)"
        return text


@dataclass
class QueryResult:
    columns: list[str]
    types: list[str]
    rows: list[tuple[Any, ...]]
    truncated: bool = False  # more rows than `Store.query` reads were left unread


@dataclass(frozen=True)
class HistoryEntry:
    """One claim's stated value and status over a stretch of consecutive runs in which neither changed."""

    claim_id: str
    path: str
    metric: str | None
    as_of: str | None
    stated: str | None
    recomputed: float | None
    unit: str | None
    status: str
    reason: str
    first_run: int
    last_run: int
    since: dt.datetime  # when first_run started
    until: dt.datetime  # when last_run started


@dataclass
class StoredRun:
    run_id: int
    started: dt.datetime
    finished: dt.datetime
    desk_version: str | None
    run: CheckRun


# -- locations -------------------------------------------------------------------------------
def store_path(root: Path, settings: DeskSettings | None = None, override: Path | str | None = None) -> Path:
    """Where a desk's store lives: `override` (relative to the current folder), else the desk's
    `store` setting (relative to the desk's root)."""
    if override is not None:
        return Path(override).absolute()
    if settings is None:
        settings, _ = kb.load_settings(root)
    path = Path(settings.store)
    path = path if path.is_absolute() else root / path
    # `store:` is written by contributors: it may only name a file inside the desk (--store, typed
    # by the person running claimdesk, may name any file).
    try:
        path.parent.resolve().relative_to(root.resolve())
    except ValueError:
        raise DeskError(Problem(kb.SETTINGS_FILE, 0, "store", f"'{_printable(settings.store, 80)}' is outside the "
                                "desk (or reached through a link that leads outside it); the store setting must "
                                "name a file inside the desk, e.g. data/claimdesk.duckdb, or pass --store")) from None
    return path


def open_store(desk: Path | str | None = None, override: Path | str | None = None, *, write: bool = False,
               wait: float | None = None) -> Store:
    """Open the store of the desk at or above `desk`; a reader given `override` needs no desk."""
    try:
        root: Path | None = kb.find_root(desk)
    except DeskError:
        if override is None or write:
            raise
        root = None
    path = store_path(root, override=override) if root is not None else Path(override or "").absolute()
    return Store.open(path, write=write, wait=wait, root=root)


def read_desk(desk: Path | str | None = None, store_file: Path | str | None = None) -> kb.Desk:
    """The desk exactly as kb.load_desk reads it, except that a page the store holds a copy of
    (a clean page whose content is unchanged since the last ingest) is rebuilt from that copy
    instead of parsed: `claimdesk validate` and `explain` then take seconds on a big desk, not a
    minute. The store is only read, and only when it is there, current and free; otherwise every
    page is parsed, as without a store."""
    root = kb.find_root(desk)
    copies = _stored_copies(root, store_file)
    if not copies:
        return kb.load_desk(root)
    with _collector_paused(freeze=True):
        return kb.load_desk(root, cache=_StoredCopies(root, copies))


def _stored_copies(root: Path, store_file: Path | str | None) -> dict[str, tuple[str, bytes]]:
    """path -> (content hash, copy) of every page the store holds a usable copy of; {} when there
    is no store, a writer holds it, or it was written by other code."""
    try:
        path = store_path(root, override=store_file)
        if not path.exists():
            return {}
        with Store.open(path, wait=0.0, root=root) as store:
            con = store._connect()
            if dict(con.execute("SELECT key, value FROM store_meta").fetchall()).get("cache_format") != CACHE_FORMAT:
                return {}
            return {page: (content_hash, record) for page, content_hash, record in
                    con.execute("SELECT path, content_hash, record FROM page_cache").fetchall()}
    except (DeskError, duckdb.Error, OSError):
        return {}


class _StoredCopies:
    """kb.PageCache over copies read from a store (see read_desk)."""

    def __init__(self, root: Path, copies: dict[str, tuple[str, bytes]]):
        self.root = root
        self.copies = copies
        self.memo: dict[Any, Any] = {}

    def lookup(self, path: str, content_hash: str) -> kb.PageRecord | None:
        stored = self.copies.get(path)
        if stored is None or stored[0] != content_hash:
            return None
        return _rebuilt(path, content_hash, (self.root / path).stat().st_mtime, stored[1], self.memo)


# -- the store -------------------------------------------------------------------------------
class Store:
    """One DuckDB file. Open it with `Store.open(path, write=...)` and use it as a context manager."""

    def __init__(self, path: Path, write: bool, label: str):
        self.path = path
        self.write = write
        self.label = label
        self._con: duckdb.DuckDBPyConnection | None = None
        self._lock: _WriteLock | None = None
        self._cache: _Cache | None = None
        self._memo: dict[Any, Any] = {}  # shared frozen values of rebuilt pages
        self._scan: dict[str, tuple[float, int, int]] = {}  # the last ingest's look at kb/
        self._root = Path(".")  # the last ingested desk
        self.wait = READ_WAIT_SECONDS  # for the other side (readers or a writer) to close the file

    # -- opening and closing --------------------------------------------------------------
    @classmethod
    def open(cls, path: Path | str, *, write: bool = False, wait: float | None = None,
             root: Path | None = None) -> Store:
        """Open for reading (the default) or for writing. A writer takes the store's lock and creates
        or migrates the file; a reader needs an existing, current store. `wait`: seconds to wait for
        the other side to close the file (default: a writer does not wait for another writer and
        waits READ_WAIT_SECONDS for readers; a reader waits READ_WAIT_SECONDS for a writer)."""
        path = Path(path).absolute()
        store = cls(path, write, _label(path, root))
        if wait is not None:
            store.wait = wait
        _refuse_unsafe_path(path, store.label, write)
        if write:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise DeskError(_file_problem(path.parent, "folder", store.label, exc)) from None
            store._lock = _WriteLock(path, store.label)
            store._lock.acquire(WRITE_WAIT_SECONDS if wait is None else wait)
            try:
                _refuse_unsafe_path(path, store.label, write)  # again, now that no other writer can change it
                store._prepare()
            except BaseException:
                store.close()
                raise
        else:
            if not path.exists():
                raise DeskError(f"there is no store at {store.label} yet; run `claimdesk ingest` to build it")
            con = store._connect()
            version, schema_hash = _schema_of(con)
            marked = _is_marked(con)
            if not marked and not _looks_like_ours(con):
                store.close()
                raise DeskError(_foreign(store.label))
            if (version, schema_hash) != (SCHEMA_VERSION, SCHEMA_HASH):
                store.close()
                newer = version is not None and version > SCHEMA_VERSION
                raise DeskError(f"the store {store.label} was written by "
                                f"{'a newer claimdesk; upgrade claimdesk' if newer else 'an older claimdesk; run `claimdesk ingest` to upgrade it'}")
        return store

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._release()
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def _release(self) -> None:
        """Close the DuckDB file (a writer keeps its lock): between a writer's steps, readers get in."""
        if self._con is not None:
            self._con.close()
            self._con = None

    def _connect(self, external_access: bool = False) -> duckdb.DuckDBPyConnection:
        """The connection, opened on first use. DuckDB lets either one writer or any number of
        readers hold the file, so both sides wait for the other a little before giving up."""
        if self._con is not None:
            return self._con
        config: dict[str, Any] = {}
        if self.write and not self.path.exists():
            config["storage_compatibility_version"] = STORAGE_COMPATIBILITY
        if not self.write and not external_access:
            # `claimdesk query` runs SQL a person typed: it may read this file and nothing else.
            config.update(enable_external_access=False, lock_configuration=True)
        deadline = time.monotonic() + self.wait
        while True:
            try:
                self._con = duckdb.connect(str(self.path), read_only=not self.write, config=config)
                return self._con
            except duckdb.IOException as exc:
                holder = re.search(r"\(PID (\d+)\)", str(exc))
                if holder is None:
                    raise DeskError(_open_problem(self.label, self.write, exc)) from None
                if time.monotonic() >= deadline:
                    doing = "reading" if self.write else "writing"
                    raise DeskError(f"the store {self.label} is in use by process {holder[1]} "
                                    f"(it is {doing} the file); try again when it has finished") from None
                time.sleep(0.1)
            except (duckdb.Error, OSError) as exc:
                raise DeskError(_open_problem(self.label, self.write, exc)) from None

    @contextmanager
    def _transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """One DuckDB transaction. A failure of the file or the disk (full, read-only, too large, a
        damaged file) becomes one DeskError line saying what is wrong; the transaction is rolled
        back, so the previous store is what the next reader sees."""
        con = self._connect()
        try:
            con.begin()
            try:
                yield con
            except BaseException:
                try:
                    con.rollback()
                except duckdb.Error:
                    self._con = None  # DuckDB invalidated the database: nothing is committed, reopen next time
                raise
            con.commit()
        except write_errors() as exc:
            self._release_quietly()
            raise DeskError(_write_problem(self.label, exc)) from None

    def _release_quietly(self) -> None:
        try:
            self._release()
        except duckdb.Error:
            self._con = None

    def _prepare(self) -> None:
        """Create the tables of a new store, or migrate an old one. A file with tables that claimdesk
        did not create (no marker, see STORE_MARKER) is refused untouched."""
        con = self._connect()
        version, schema_hash = _schema_of(con)
        marked = _is_marked(con)
        if not marked and not _looks_like_ours(con):
            raise DeskError(_foreign(self.label))
        if version is not None and version > SCHEMA_VERSION:
            raise DeskError(f"the store {self.label} was written by a newer claimdesk (schema {version}, "
                            f"this one knows {SCHEMA_VERSION}); upgrade claimdesk")
        if (version, schema_hash) == (SCHEMA_VERSION, SCHEMA_HASH):
            if not marked:  # a store from before the marker: it is ours, so it gets one
                with self._transaction() as con:
                    _set_meta(con, **dict([STORE_MARKER]))
            return
        with self._transaction() as con:
            _rebuild_schema(con)
        self._checkpoint()

    def _checkpoint(self) -> None:
        try:
            self._connect().execute("CHECKPOINT")
        except (duckdb.Error, OSError) as exc:
            raise DeskError(_write_problem(self.label, exc)) from None

    # -- ingest ---------------------------------------------------------------------------
    def ingest(self, desk_root: Path | str | None = None, *, rebuild: bool = False,
               lazy: bool = False, keep_open: bool = False) -> IngestStats:
        """Bring the store in line with the desk: parse the pages whose content changed, drop the
        pages that are gone, rewrite sources and models when their files changed. All or nothing.
        `rebuild` re-reads every page (the run history is kept).

        A page whose mtime and size are those stored, and that is not racily new (see
        `RACY_SECONDS`), is not read at all. `stats.desk` holds every page, rebuilt from the store
        where unchanged; with `lazy`, only the pages that were read (the changed ones, those with
        problems, the racily new), and `cached_pages` rebuilds others on demand.

        The file is closed afterwards, to let readers in, unless `keep_open` (a caller with more
        to do at once: then it is its turn to `let_readers_in`)."""
        self._require_write()
        with _collector_paused(freeze=True):
            stats = self._ingest(kb.find_root(desk_root), rebuild, lazy)
        if not keep_open:
            self.let_readers_in()
        return stats

    def let_readers_in(self) -> None:
        """Close the DuckDB file between a writer's steps (the lock stays held): DuckDB lets one
        writer or any number of readers hold it, so readers waiting for it get their turn."""
        self._release()

    def _ingest(self, root: Path, rebuild: bool, lazy: bool) -> IngestStats:
        clock = _Clock()
        started_us = time.time_ns() // 1000
        con = self._connect()
        meta = dict(con.execute("SELECT key, value FROM store_meta").fetchall())
        rebuild = rebuild or meta.get("cache_format") != CACHE_FORMAT  # rows written by other code: redo all
        known = {} if rebuild else _known_pages(con)
        on_disk = self._scan = kb.scan_pages(root)
        self._root = root
        # Git's rule: a file written within RACY_SECONDS of the previous ingest's start may have
        # changed again after it was read without its mtime or size changing, so it is read again.
        racy_from = _int(meta.get("ingest_started_us")) - RACY_SECONDS * 1_000_000
        unread = [] if rebuild else [
            path for path, (_, mtime_us, size) in on_disk.items()
            if path in known and known[path].cached and not known[path].problems
            and (known[path].mtime_us, known[path].size) == (mtime_us, size) and mtime_us < racy_from]
        skipped = set(unread)
        to_read = [path for path in on_disk if path not in skipped]
        blobs = {} if rebuild else _blobs(con, to_read)
        self._cache = cache = _Cache(root, known, blobs, on_disk)
        clock.lap("open")
        try:
            with _ParseAhead(cache, _suspects({p: on_disk[p] for p in to_read}, known, blobs)) as ahead:
                if ahead.pool is not None:
                    self._release()  # a long parse: readers may use the file meanwhile
                desk = kb.load_desk(root, cache=self, paths=to_read)
        finally:
            self._cache = None
        clock.lap("load_desk")
        con = self._connect()
        read = desk.pages
        stats = IngestStats(self.path, pages=len(on_disk), reused=cache.reused + len(unread),
                            parsed=len(read) - cache.reused, parsed_ahead=len(cache.from_workers), desk=desk,
                            phases=clock.laps, unread=unread, pages_version=_int(meta.get("pages_version")))
        changed = [r for r in read if r.path not in known or known[r.path].content_hash != r.content_hash
                   or r.path in cache.spoilt]
        changed_paths = {r.path for r in changed}
        gone = sorted(set(known) - set(on_disk))
        touched = [(r.path, *on_disk[r.path][1:]) for r in read if r.path in known and r.path not in changed_paths
                   and (known[r.path].mtime_us, known[r.path].size) != on_disk[r.path][1:]]
        stats.changed, stats.gone = sorted(changed_paths), gone
        stats.problem_pages_before = {path for path, k in known.items() if k.problems}
        if lazy:  # what the pages that changed (or have problems) held before: an incremental check needs it
            stats.previous = _claims_of(con, changed_paths | set(gone) | stats.problem_pages_before)
        data_hash = stats.data_hash = _data_fingerprint(desk)
        stats.removed, stats.written = len(gone), len(changed)
        stats.parameters = len(desk.parameters())
        stats.sources = len(desk.sources)
        stats.problem_pages = sum(1 for r in read if r.problems)
        new_content = bool(changed or gone or rebuild or data_hash != meta.get("data_hash"))
        with self._transaction() as con:
            if new_content or touched:
                if rebuild:
                    for table in PAGE_TABLES:
                        con.execute(f"DELETE FROM {table}")
                _write_pages(con, changed, gone, on_disk, cache.worker_tables, cache.from_workers)
                _insert(con, "UPDATE pages SET mtime = t.mtime, size = t.size FROM incoming t "
                             "WHERE pages.path = t.path", (("path", VARCHAR), ("mtime", TIMESTAMP), ("size", BIGINT)),
                        touched)
                if data_hash != meta.get("data_hash") or rebuild:
                    _write_data(con, desk)
                _set_meta(con, cache_format=CACHE_FORMAT, data_hash=data_hash, desk_root=str(root),
                          last_ingest=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                          claimdesk_version=__version__)
            stats.pages_version_after = stats.pages_version + (1 if new_content else 0)
            if new_content:  # an incremental check builds only on a run recorded at this version
                _set_meta(con, pages_version=str(stats.pages_version_after))
            _set_meta(con, ingest_started_us=str(started_us))
            _pause_for_tests()
            clock.lap("write")
            if lazy:
                stats.claims = int(con.execute("SELECT count(*) FROM claims").fetchall()[0][0])
        clock.lap("commit")
        if not lazy:
            if unread:
                desk.pages = _merged(read, self.cached_pages(unread))
                clock.lap("rebuild")
            stats.claims = sum(len(r.claims) for r in desk.pages)
        stats.seconds = clock.total()
        return stats

    def cached_pages(self, paths: Sequence[str]) -> list[kb.PageRecord]:
        """Pages as the last ingest stored them, rebuilt from their stored copy, in the order of
        `paths` (which the last ingest found unchanged). Should a copy not be usable, the page is
        read from its file, which is the truth; if that differs from what the store holds, the
        desk changed under the run and DeskError says so."""
        con = self._connect()
        scan = self._scan
        stored = _blobs(con, paths, with_hash=True)
        records = []
        with _collector_paused(freeze=True):  # as ingest: a desk's worth of pages stays alive a while
            for path in paths:
                content_hash, blob = stored.get(path, ("", b""))
                mtime = scan[path][0] if path in scan else 0.0
                rebuilt = _rebuilt(path, content_hash, mtime, blob, self._memo)
                if rebuilt is not None:
                    records.append(rebuilt)
                    continue
                try:
                    raw = (self._root / path).read_bytes()
                except OSError:
                    raw = b""
                record = kb.load_page(path, raw, mtime)
                if record.content_hash != content_hash:
                    raise DeskError(f"{path} changed while the desk was being checked; run the check again")
                records.append(record)
        return records

    def lookup(self, path: str, content_hash: str) -> kb.PageRecord | None:
        """kb.PageCache: the page as it was read before, when its content has not changed."""
        cache = self._cache
        if cache is None:
            return None
        if path in cache.pending:
            cache.collect(cache.pending[path])
        parsed = cache.prefetched.pop(path, None)
        if parsed is not None and parsed[0] == content_hash:
            if parsed[1] is None:
                return None  # the worker found problems: kb.py reads the page again and reports them
            cache.from_workers.add(path)
            return _record_from_blob(path, content_hash, cache.mtime(path), parsed[1], cache.memo)
        known = cache.known.get(path)
        stored = cache.blobs.get(path)
        if known is None or stored is None or known.content_hash != content_hash:
            return None
        record = _rebuilt(path, content_hash, cache.mtime(path), stored, cache.memo)
        if record is None:
            cache.spoilt.add(path)  # parse the page and write it again
            return None
        cache.reused += 1
        return record

    # -- runs -----------------------------------------------------------------------------
    def record_run(self, run: CheckRun, desk_version: str | None, started: dt.datetime | None = None,
                   problems: Sequence[tuple[str, str, Problem]] | None = None,
                   base: dict[str, Any] | None = None, also: Callable[[int], None] | None = None) -> int:
        """Append a check run and its results; returns the run's id. Each result keeps a copy of its
        claim's metric, value and as_of as they are now (so ingest first), so that history outlives
        edits and deletions. Times are UTC.

        `problems` (validation's, with their owners, see validate.py) and `base` (what the run
        depended on, see job.py) let the next `claimdesk check` be incremental; a run recorded
        without them makes the next one a full run. `also(run_id)` is called inside the run's
        transaction, after the results are written, to record more with the run, all or nothing."""
        self._require_write()
        finished = _utcnow()
        started = _naive_utc(started, finished)
        counts = run.counts()
        incoming = _result_rows(run.results)
        with self._transaction() as con:
            run_id = int(con.execute("SELECT coalesce(max(run_id), 0) + 1 FROM runs").fetchall()[0][0])
            con.execute(f"INSERT INTO runs VALUES ({', '.join('?' * len(TABLES['runs']))})",
                        [run_id, started, finished, run.today, desk_version, run.model_fingerprint,
                         len(run.results), *(counts[s] for s in STATUSES)])
            _record_results(con, run_id, incoming)
            con.execute("DELETE FROM problems")
            _write_problems(con, problems or [])
            _set_base(con, run_id, base if problems is not None else None)
            if also is not None:
                also(run_id)
        self._release()
        return run_id

    def record_incremental(self, previous_run_id: int, results: list[Result], dirty: set[str],
                           today: dt.date, model_fingerprint: str, desk_version: str | None,
                           started: dt.datetime | None, problems: Sequence[tuple[str, str, Problem]],
                           replaced: dict[str, set[str]], base: dict[str, Any],
                           also: Callable[[int], None] | None = None) -> tuple[int, int, list[Problem]]:
        """Record a run that re-checked only the claims in `dirty` (`results` holds theirs; a dirty
        claim without one is gone); every other claim keeps its result from `previous_run_id`,
        which must be the latest run. The stored problems whose
        owner is in `replaced` (owner kind -> owners; every `source` and `data` problem too) give
        way to `problems`. Returns the run's id, its number of results and every problem, read back
        (`stored_run` reads the results). `also`: as in `record_run`."""
        self._require_write()
        finished = _utcnow()
        started = _naive_utc(started, finished)
        incoming = _result_rows(results)
        with self._transaction() as con:
            run_id = int(con.execute("SELECT coalesce(max(run_id), 0) + 1 FROM runs").fetchall()[0][0])
            if run_id != previous_run_id + 1:
                raise DeskError(f"run {previous_run_id} is not the store's latest; check the whole desk again")
            _record_results(con, run_id, incoming, scope=dirty)
            tally = dict(con.execute("SELECT status, count(*) FROM result_versions WHERE last_run IS NULL "
                                     "GROUP BY status").fetchall())
            con.execute(f"INSERT INTO runs VALUES ({', '.join('?' * len(TABLES['runs']))})",
                        [run_id, started, finished, today, desk_version, model_fingerprint,
                         sum(tally.values()), *(tally.get(s, 0) for s in STATUSES)])
            with visible(con, "replaced", (("kind", VARCHAR), ("owner", VARCHAR)),
                         [(kind, owner) for kind, owners in replaced.items() for owner in owners]):
                con.execute("DELETE FROM problems WHERE owner_kind IN ('source', 'data') OR EXISTS (SELECT 1 FROM "
                            "replaced WHERE replaced.kind = problems.owner_kind AND replaced.owner = problems.owner)")
            _write_problems(con, problems)
            _set_base(con, run_id, base)
            if also is not None:
                also(run_id)
            _pause_for_tests()
            merged = sorted({Problem(*row) for row in con.execute(
                "SELECT path, line, field, message, severity FROM problems").fetchall()},
                key=lambda p: (p.path, p.line, p.field, p.message))
        self._release()
        return run_id, sum(tally.values()), merged

    def model_form(self, key: str) -> str | None:
        """The compiled model form kept under `key` (model fingerprint and code), if any."""
        kept = self.kept_model_form()
        return kept[1] if kept is not None and kept[0] == key else None

    def kept_model_form(self) -> tuple[str, str] | None:
        """(key, form) of the one compiled model form the store keeps, if any (`keep_model_form`)."""
        rows = self._connect().execute("SELECT key, form FROM model_forms").fetchall()
        return (rows[0][0], rows[0][1]) if rows else None

    def keep_model_form(self, key: str, form: str) -> None:
        """Keep one model's compiled form, in place of the one kept before."""
        self._require_write()
        with self._transaction() as con:
            con.execute("DELETE FROM model_forms")
            con.execute("INSERT INTO model_forms VALUES (?, ?)", [key, form])

    def run_base(self) -> dict[str, Any] | None:
        """What the latest run depended on, when it was recorded with its problems (record_run)."""
        con = self._connect()
        meta = dict(con.execute("SELECT key, value FROM store_meta WHERE key = 'run_base'").fetchall())
        if "run_base" not in meta:
            return None
        try:
            base = json.loads(meta["run_base"])
        except ValueError:
            return None  # damaged or hand-edited: the next run is a full run, which writes a good one
        if not isinstance(base, dict):
            return None
        latest = con.execute("SELECT max(run_id) FROM runs").fetchall()[0][0]
        return base if base.get("run_id") == latest else None

    def select(self, sql: str, params: Sequence[Any] = (), **lists: Iterable[str]) -> list[tuple[Any, ...]]:
        """Rows of claimdesk's own SQL, with each of `lists` visible as a one-column table (`path`)."""
        con = self._connect()
        with ExitStack() as tables:
            for name, values in lists.items():
                tables.enter_context(paths_visible(con, name, values))
            return con.execute(sql, list(params)).fetchall()

    def run_tally(self, run_id: int) -> Tally:
        """A recorded run's summary (counts per status, checked coverage) without reading its results."""
        con = self._connect()
        row = con.execute(f"SELECT today, model_fingerprint, {', '.join(STATUSES)} FROM runs WHERE run_id = ?",
                          [run_id]).fetchall()[0]
        claims, parameters, quantitative, checked, acknowledged = con.execute(f"""
            SELECT count(*) FILTER (WHERE kind = 'claim'), count(*) FILTER (WHERE kind = 'parameter'),
                   count(*) FILTER (WHERE kind = 'claim' AND stated IS NOT NULL),
                   count(*) FILTER (WHERE kind = 'claim' AND stated IS NOT NULL AND coalesce(check_expr, '') <> ''),
                   count(*) FILTER (WHERE len(coalesce(acknowledged, [])) > 0)
            FROM result_versions WHERE first_run <= $run AND coalesce(last_run, {_OPEN}) >= $run""",
                                                                              {"run": run_id}).fetchall()[0]
        return Tally(row[0], row[1] or "", dict(zip(STATUSES, row[2:])), claims, parameters, quantitative, checked,
                     acknowledged)

    def stored_run(self, run_id: int, statuses: Iterable[str] | None = None) -> CheckRun:
        """A recorded run with its results in the checker's order: parameters (model files in
        reading order), then claims in desk order, each as the checker gave it. With `statuses`,
        only the results that have one of them."""
        con = self._connect()
        today, fingerprint = con.execute("SELECT today, model_fingerprint FROM runs WHERE run_id = ?",
                                         [run_id]).fetchall()[0]
        wanted = list(STATUSES if statuses is None else statuses)
        table = con.sql("""
                    SELECT r.claim_id, r.path, r.line, r.status, r.reason, r.also, r.stated, r.recomputed, r.unit,
                           r.relative_error, r.depends_on, r.check_expr, r.kind, r.acknowledged, r.verdict,
                           r.outcome, r.resolved_by
                    FROM results r LEFT JOIN (
                        SELECT path, claim_id AS id, min(position) AS position FROM claims GROUP BY ALL
                        UNION ALL
                        SELECT path, parameter_id, min(position) FROM parameters GROUP BY ALL
                    ) c ON c.path = r.path AND c.id = r.claim_id
                    WHERE r.run_id = ? AND r.status IN (SELECT unnest(?::VARCHAR[]))
                    ORDER BY r.kind = 'claim', r.kind = 'parameter' AND r.path NOT LIKE '%.yaml', r.path,
                             c.position""", params=[run_id, wanted]).to_arrow_table()
        columns = [table.column(i).to_pylist() for i in range(table.num_columns)]
        for i in (5, 10, 13):  # also, depends_on, acknowledged: lists in the store, tuples in a Result
            columns[i] = [tuple(v) if v else () for v in columns[i]]
        with _collector_paused():
            results = [Result(*row) for row in zip(*columns)]
        return CheckRun(today, results, fingerprint or "")

    def shown_results(self, run_id: int, statuses: Iterable[str]) -> list[Shown]:
        """The part of a recorded run's results a text listing shows, for `statuses`, in no order
        (the listing sorts them). Lists are read only where they are not empty: converting DuckDB
        lists to Python is most of the cost of reading results back."""
        rows = self._connect().execute(f"""
            SELECT claim_id, path, line, status, reason, CASE WHEN len(also) > 0 THEN also END,
                   CASE WHEN len(acknowledged) > 0 THEN acknowledged END
            FROM result_versions
            WHERE first_run <= $run AND coalesce(last_run, {_OPEN}) >= $run AND status IN (SELECT unnest($wanted))""",
                                       {"run": run_id, "wanted": list(statuses)}).fetchall()
        with _collector_paused():
            return [Shown(i, p, line, status, reason, tuple(also) if also else (), tuple(ack) if ack else ())
                    for i, p, line, status, reason, also, ack in rows]

    # -- reading --------------------------------------------------------------------------
    def query(self, sql: str, max_rows: int | None = None) -> QueryResult:
        """Run SQL a person wrote; errors become one clean line. At most `max_rows` rows (default
        MAX_QUERY_ROWS) are read: rows are fetched as they come, so `SELECT * FROM range(1e9)`
        costs what is shown, and `truncated` says that more were left."""
        limit = MAX_QUERY_ROWS if max_rows is None else max_rows
        if not _plain_text(sql):
            raise DeskError("the query is not valid text (it holds bytes that are not UTF-8); write it in plain text")
        if not sql.strip().strip(";").strip():
            raise DeskError("the query is empty; write one SQL statement, e.g. claimdesk query \"SELECT * FROM runs\"")
        con = self._connect()
        try:
            cursor = con.execute(sql)
            if cursor is None or cursor.description is None:
                return QueryResult([], [], [])
            columns = [d[0] for d in cursor.description]
            types = [str(d[1]) for d in cursor.description]
            rows = cursor.fetchmany(limit + 1)
            return QueryResult(columns, types, rows[:limit], truncated=len(rows) > limit)
        except duckdb.Error as exc:
            message = _printable(_first_line(exc))
            if "read-only" in message and not self.write:
                raise DeskError(f"the store is opened read-only: queries can read it but not change it "
                                f"({message})") from None
            raise DeskError(f"query failed: {message}") from None

    def counts(self) -> dict[str, int]:
        """Rows in every table and view except the internal ones."""
        con = self._connect()
        names = [n for n in _relations(con) if n not in INTERNAL_TABLES]
        return {name: int(con.execute(f"SELECT count(*) FROM {name}").fetchall()[0][0]) for name in names}

    def latest_run(self) -> StoredRun | None:
        """The most recent check run with its results, as the checker produced them."""
        con = self._connect()
        row = con.execute("SELECT run_id, started, finished, desk_version FROM runs "
                          "ORDER BY run_id DESC LIMIT 1").fetchall()
        if not row:
            return None
        run_id, started, finished, version = row[0]
        return StoredRun(run_id, started, finished, version, self.stored_run(run_id))

    def history(self, key: str) -> list[HistoryEntry]:
        """A claim's (or every claim of a metric's) stated value and status over time, one entry per
        stretch of runs in which neither changed. Raises DeskError when nothing has that name."""
        if not _plain_text(key):
            raise DeskError("the name is not valid text (it holds bytes that are not UTF-8); give a claim id or metric")
        con = self._connect()
        rows = con.execute("""
            SELECT r.run_id, runs.started, r.claim_id, r.path, r.metric, r.as_of_written, r.stated, r.recomputed,
                   r.unit, r.status, r.reason, r.as_of_start
            FROM results r JOIN runs USING (run_id)
            WHERE r.claim_id = $key OR r.metric = $key
            ORDER BY r.claim_id, r.path, r.run_id""", {"key": key}).fetchall()
        if not rows:
            self._explain_missing(con, key)
        order = {run_id: i for i, (run_id,) in enumerate(con.execute("SELECT run_id FROM runs ORDER BY run_id")
                                                         .fetchall())}
        entries: list[HistoryEntry] = []
        period_start: dict[int, Any] = {}  # id(entry) -> its as_of's first day: a metric's figures in period order
        for run_id, started, claim_id, path, metric, as_of, stated, recomputed, unit, status, reason, start in rows:
            last = entries[-1] if entries else None
            if last and order[run_id] == order[last.last_run] + 1 and \
                    (last.claim_id, last.path, last.as_of, last.stated, last.recomputed, last.status) == \
                    (claim_id, path, as_of, stated, recomputed, status):
                entries[-1] = dataclasses.replace(last, last_run=run_id, until=started, reason=reason)
            else:
                entries.append(HistoryEntry(claim_id, path, metric, as_of, stated, recomputed, unit, status, reason,
                                            run_id, run_id, started, started))
            period_start[id(entries[-1])] = start or dt.date.min
        return sorted(entries, key=lambda e: (period_start[id(e)], e.since, e.claim_id))

    def _explain_missing(self, con: duckdb.DuckDBPyConnection, key: str) -> None:
        known = con.execute("SELECT 1 FROM claims WHERE claim_id = $k OR metric = $k UNION ALL "
                            "SELECT 1 FROM parameters WHERE parameter_id = $k LIMIT 1", {"k": key}).fetchall()
        if known:
            raise DeskError(f"'{_printable(key, 80)}' has no check results yet; run `claimdesk check` to record a run")
        names = [n for (n,) in con.execute("SELECT DISTINCT claim_id FROM claims UNION SELECT DISTINCT metric "
                                           "FROM claims WHERE metric IS NOT NULL UNION SELECT DISTINCT claim_id "
                                           "FROM results").fetchall()]
        raise DeskError(f"no claim or metric named '{_printable(key, 80)}' in the store"
                        f"{did_you_mean(key, names)}")

    def export(self, folder: Path | str) -> dict[str, int]:
        """Write every table and view as `<name>.parquet` in `folder`; returns rows per file. Each
        file is written beside its place and renamed into it; a link found where a file goes is
        replaced, never written through."""
        folder = Path(folder).absolute()
        try:
            if not folder.is_dir():
                folder.mkdir(parents=True)
        except OSError as exc:
            raise DeskError(f"cannot export to {_printable(str(folder))}: {_reason(exc)}; choose a folder you can "
                            "create and write") from None
        if not folder.is_dir():
            raise DeskError(f"cannot export to {_printable(str(folder))}: it is not a folder; choose a folder")
        if not self.write:  # writing files needs a connection allowed to touch the file system
            self.close()
        con = self._connect(external_access=True)
        written = {}
        for name in (n for n in _relations(con) if n not in INTERNAL_TABLES):
            target = folder / f"{name}.parquet"
            partial = folder / f".{name}.parquet.partial"
            try:
                if partial.is_symlink() or partial.exists():
                    partial.unlink()  # a link left here must not be written through
                con.execute(f"COPY (SELECT * FROM {name}) TO '{_sql_text(str(partial))}' (FORMAT parquet)")
                if target.is_dir() and not target.is_symlink():
                    raise IsADirectoryError(errno.EISDIR, "is a directory", str(target))
                os.replace(partial, target)  # a reader of the folder never sees half a file
            except (duckdb.Error, OSError) as exc:
                raise DeskError(f"cannot export to {_printable(str(folder))}: {_reason(exc)}; choose a folder you "
                                "can write (files written so far are complete)") from None
            written[name] = int(con.execute(f"SELECT count(*) FROM {name}").fetchall()[0][0])
        return written

    def _require_write(self) -> None:
        if not self.write:
            raise DeskError(f"the store {self.label} is open for reading only")


# -- small helpers ---------------------------------------------------------------------------
class _Clock:
    def __init__(self) -> None:
        self.start = self.last = time.perf_counter()
        self.laps: dict[str, float] = {}

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name] = now - self.last
        self.last = now

    def total(self) -> float:
        return time.perf_counter() - self.start


_pauses_skipped = 0


def _pause_for_tests() -> None:
    """The crash tests kill a writer here, inside its transaction, to prove the old store survives.
    With TEST_PAUSE_SKIP_ENV=N the first N transactions that come here go on."""
    global _pauses_skipped
    marker = os.environ.get(TEST_PAUSE_ENV)
    if marker and _pauses_skipped < _int(os.environ.get(TEST_PAUSE_SKIP_ENV)):
        _pauses_skipped += 1
        return
    if marker:
        Path(marker).write_text(str(os.getpid()))
        time.sleep(120)


def _label(path: Path, root: Path | None) -> str:
    for base in (root, Path.cwd()):
        if base is not None:
            try:
                return path.relative_to(base.absolute()).as_posix()
            except ValueError:
                pass
    return str(path)


def _sql_text(text: str) -> str:
    return text.replace("'", "''")


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)
