"""The store: every page, claim, source, model parameter and check result in one DuckDB file.

The Markdown under kb/ and the YAML under data/ are the truth; the store is a build artefact that
answers questions about them (`claimdesk query`) and keeps what the files cannot: the history of
every check run. Its tables and views are documented, with example queries, in kb/guide/store.md;
keep the two in step.

How it is kept:

- `Store.ingest` reads the desk through kb.py with the store as its `PageCache`: a page whose
  content hash is unchanged is rebuilt from the store without YAML parsing or validation, only
  the pages that changed are parsed, and pages that disappeared are removed. When many pages
  changed (a cold store, a big pull) they are parsed ahead in worker processes.
- Every write happens in one DuckDB transaction, so a run that fails or is killed half-way leaves
  the previous store intact; DuckDB's write-ahead log cleans up on the next open.
- One writer at a time: a writer holds an flock on `<store>.lock`, which names its process id, and
  a second writer gets "the store ... is in use by process N". Readers open the file read-only;
  DuckDB lets readers and a writer in at different moments only, so both wait a little for the
  other to finish before they give up with a clear message.
- The store records its schema version and a hash of its DDL. An older store is migrated when a
  writer opens it: the desk's tables are dropped and re-read from kb/ on the next ingest, while
  the history (runs, results) is carried across column by column in the same transaction.

Two choices that look odd and why:

- Pages are rebuilt from a compact `marshal`-ed copy of each clean page (internal table
  `page_cache`) rather than from the typed columns: turning 100,000 rows of typed columns into
  Python values costs seconds, the blob a fraction of that, and the 1-second budget for an
  incremental ingest plus check leaves no room for the former. The columns stay the public,
  queryable form; the blob is only ever read by the writer that wrote it, and a blob that does
  not fit the current code is ignored and the page re-parsed.
- Claims and pages are rebuilt by setting their `__dict__` directly instead of through
  `model_construct`, which costs three times as much: the values were validated when the page
  was parsed, and the round-trip test (tests/test_store_cache.py) guards the shortcut.

This module only stores and reads: it never checks a claim (check.py does) and never renders.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import fcntl
import hashlib
import marshal
import multiprocessing
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from . import __version__, kb
from .freshness import Period, Threshold
from .frontmatter import Loaded
from .problems import DeskError, did_you_mean
from .results import CheckRun, Result
from .schema import MKDOCS_PAGE_KEYS, STATUSES, Claim, DeskSettings, Page
from .values import Stated, Tolerance

SCHEMA_VERSION = 1  # bump when a change needs more than "re-read kb/ and copy history by column name"
STORAGE_COMPATIBILITY = "v1.0.0"  # files stay readable by every DuckDB CLI since 1.0, not only the newest
PARALLEL_MIN_PAGES = 1000  # fewer changed pages than this are parsed in this process: workers take ~1 s to start
CHUNK_PAGES = 250
READ_WAIT_SECONDS = 10.0  # how long a reader or writer waits for the other to close the file
TEST_PAUSE_ENV = "CLAIMDESK_TEST_PAUSE_IN_WRITE"  # tests only: a marker file; ingest pauses before COMMIT

# -- tables ----------------------------------------------------------------------------------
VARCHAR, INTEGER, BIGINT, DOUBLE, BOOLEAN = "VARCHAR", "INTEGER", "BIGINT", "DOUBLE", "BOOLEAN"
DATE, TIMESTAMP, TEXTS, NUMBERS, BLOB = "DATE", "TIMESTAMP", "VARCHAR[]", "MAP(VARCHAR, DOUBLE)", "BLOB"
ARROW_TYPES: dict[str, pa.DataType] = {
    VARCHAR: pa.string(), INTEGER: pa.int32(), BIGINT: pa.int64(), DOUBLE: pa.float64(), BOOLEAN: pa.bool_(),
    DATE: pa.date32(), TIMESTAMP: pa.timestamp("us"), TEXTS: pa.list_(pa.string()),
    NUMBERS: pa.map_(pa.string(), pa.float64()), BLOB: pa.binary(),
}
Columns = tuple[tuple[str, str], ...]


def _claim_columns(id_column: str) -> Columns:
    return (("path", VARCHAR), ("position", INTEGER), ("line", INTEGER), (id_column, VARCHAR), ("text", VARCHAR),
            ("stance", VARCHAR), ("value_kind", VARCHAR), ("value_low", DOUBLE), ("value_high", DOUBLE),
            ("value_op", VARCHAR), ("value_band", DOUBLE), ("value_written", VARCHAR), ("unit", VARCHAR),
            ("tolerance_written", VARCHAR), ("tolerance_amount", DOUBLE), ("tolerance_relative", BOOLEAN),
            ("check_expr", VARCHAR), ("given", NUMBERS), ("metric", VARCHAR), ("attributed_to", VARCHAR),
            ("as_of_written", VARCHAR), ("as_of_start", DATE), ("as_of_end", DATE), ("review_by", DATE),
            ("resolves", DATE), ("stale_after_count", INTEGER), ("stale_after_period", VARCHAR), ("note", VARCHAR))


def _link_columns(id_column: str) -> Columns:
    return (("path", VARCHAR), ("position", INTEGER), (id_column, VARCHAR), ("rank", INTEGER), ("source_id", VARCHAR))


TABLES: dict[str, Columns] = {
    "store_meta": (("key", VARCHAR), ("value", VARCHAR)),
    "pages": (("path", VARCHAR), ("title", VARCHAR), ("summary", VARCHAR), ("tags", TEXTS),
              ("content_hash", VARCHAR), ("mtime", TIMESTAMP), ("size", BIGINT), ("body_line", INTEGER),
              ("claims", INTEGER), ("problems", INTEGER)),
    "claims": _claim_columns("claim_id"),
    "claim_sources": _link_columns("claim_id"),
    "sources": (("source_id", VARCHAR), ("line", INTEGER), ("title", VARCHAR), ("publisher", VARCHAR),
                ("author", VARCHAR), ("url", VARCHAR), ("published_written", VARCHAR), ("published_start", DATE),
                ("published_end", DATE), ("kind", VARCHAR), ("via", VARCHAR), ("note", VARCHAR)),
    "models": (("path", VARCHAR), ("content_hash", VARCHAR), ("title", VARCHAR), ("summary", VARCHAR),
               ("problems", INTEGER)),
    "parameters": _claim_columns("parameter_id"),
    "parameter_sources": _link_columns("parameter_id"),
    "quantities": (("path", VARCHAR), ("position", INTEGER), ("line", INTEGER), ("quantity_id", VARCHAR),
                   ("text", VARCHAR), ("unit", VARCHAR), ("expr", VARCHAR), ("solve_for", VARCHAR),
                   ("where_expr", VARCHAR), ("requires", VARCHAR), ("note", VARCHAR)),
    "runs": (("run_id", INTEGER), ("started", TIMESTAMP), ("finished", TIMESTAMP), ("today", DATE),
             ("desk_version", VARCHAR), ("model_fingerprint", VARCHAR), ("claims", INTEGER),
             *((status, INTEGER) for status in STATUSES)),
    "results": (("run_id", INTEGER), ("claim_id", VARCHAR), ("path", VARCHAR), ("line", INTEGER),
                ("status", VARCHAR), ("reason", VARCHAR), ("also", TEXTS), ("stated", VARCHAR),
                ("recomputed", DOUBLE), ("unit", VARCHAR), ("relative_error", DOUBLE), ("depends_on", TEXTS),
                ("check_expr", VARCHAR), ("metric", VARCHAR), ("value_kind", VARCHAR), ("value_low", DOUBLE),
                ("value_high", DOUBLE), ("as_of_written", VARCHAR), ("as_of_start", DATE), ("as_of_end", DATE)),
    "page_cache": (("path", VARCHAR), ("content_hash", VARCHAR), ("record", BLOB)),
}
HISTORY_TABLES = ("runs", "results")  # carried across a rebuild; everything else is re-read from the desk
INTERNAL_TABLES = ("store_meta", "page_cache")  # not exported
PAGE_TABLES = ("pages", "claims", "claim_sources", "page_cache")  # rows keyed by a page's path
DATA_TABLES = ("sources", "models", "parameters", "parameter_sources", "quantities")
VIEWS: dict[str, str] = {
    "latest_results": """
        SELECT r.*, runs.started, runs.today
        FROM results r JOIN runs USING (run_id)
        QUALIFY row_number() OVER (PARTITION BY r.claim_id ORDER BY r.run_id DESC) = 1""",
    "status_changes": """
        WITH pairs AS (
            SELECT * FROM (SELECT run_id, lag(run_id) OVER (ORDER BY run_id) AS previous_run_id FROM runs)
            WHERE previous_run_id IS NOT NULL),
        now_ AS (SELECT p.run_id AS pair, r.* FROM pairs p JOIN results r ON r.run_id = p.run_id),
        before AS (SELECT p.run_id AS pair, r.* FROM pairs p JOIN results r ON r.run_id = p.previous_run_id)
        SELECT coalesce(n.pair, b.pair) AS run_id, pairs.previous_run_id,
               coalesce(n.claim_id, b.claim_id) AS claim_id, coalesce(n.path, b.path) AS path,
               b.status AS old_status, n.status AS new_status, b.stated AS old_stated, n.stated AS new_stated,
               b.recomputed AS old_recomputed, n.recomputed AS new_recomputed,
               coalesce(n.reason, 'the claim is gone') AS reason
        FROM now_ n FULL JOIN before b ON n.pair = b.pair AND n.claim_id = b.claim_id
        JOIN pairs ON pairs.run_id = coalesce(n.pair, b.pair)
        WHERE n.status IS DISTINCT FROM b.status""",
}


def _ddl() -> list[str]:
    tables = [f"CREATE TABLE {name} ({', '.join(f'{col} {kind}' for col, kind in cols)})"
              for name, cols in TABLES.items()]
    return tables + [f"CREATE VIEW {name} AS {sql.strip()}" for name, sql in VIEWS.items()]


SCHEMA_HASH = hashlib.blake2b("\n".join(_ddl()).encode(), digest_size=8).hexdigest()

# The layout of a page_cache blob depends on the models' fields: a change to any of them makes
# every blob stale, and the pages are parsed again.
CLAIM_FIELDS = tuple(Claim.model_fields)
PAGE_FIELDS = tuple(Page.model_fields)
CACHE_FORMAT = hashlib.blake2b(repr((
    1, CLAIM_FIELDS, PAGE_FIELDS, MKDOCS_PAGE_KEYS,
    *(tuple(f.name for f in dataclasses.fields(kind)) for kind in (Stated, Period, Tolerance, Threshold)),
)).encode(), digest_size=8).hexdigest()


# -- results of the store's operations -------------------------------------------------------
@dataclass
class IngestStats:
    store: Path
    pages: int = 0
    parsed: int = 0  # read and validated from the file
    reused: int = 0  # unchanged: rebuilt from the store
    removed: int = 0
    written: int = 0  # pages whose rows were (re)written
    claims: int = 0
    parameters: int = 0
    sources: int = 0
    problem_pages: int = 0  # pages stored with problems (their invalid claims left out); see `claimdesk validate`
    seconds: float = 0.0
    desk: kb.Desk | None = field(default=None, repr=False)  # the desk as read, for the checker

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
    return path if path.is_absolute() else root / path


def open_store(desk: Path | str | None = None, override: Path | str | None = None, *, write: bool = False,
               wait: float | None = None) -> Store:
    """Open the store of the desk at or above `desk`."""
    root = kb.find_root(desk)
    path = store_path(root, override=override)
    return Store.open(path, write=write, wait=wait, root=root)


def desk_version(root: Path) -> str | None:
    """The desk's git commit, with '-dirty' when kb/ or data/ differ from it; None outside git."""
    def git(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=30)
    try:
        head = git("rev-parse", "HEAD")
        if head.returncode != 0:
            return None
        dirty = git("status", "--porcelain", "--untracked-files=normal", "--", "kb", "data")
    except (OSError, subprocess.SubprocessError):
        return None
    commit = head.stdout.strip()
    store_files = re.compile(r"\.duckdb(\.wal|\.lock)?$")
    changed = [line for line in dirty.stdout.splitlines() if not store_files.search(line)]
    return f"{commit}-dirty" if changed else commit


# -- the write lock --------------------------------------------------------------------------
class _WriteLock:
    """An flock on `<store>.lock` naming the holder's process id. The kernel drops it when the
    process dies, however it dies, so a killed writer never leaves the store locked."""

    def __init__(self, db: Path, label: str):
        self.path = db.with_name(db.name + ".lock")
        self.label = label
        self.fd: int | None = None

    def acquire(self, wait: float) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = os.pread(fd, 200, 0).decode("utf-8", "replace").split("\n")
                    os.close(fd)
                    who = f"process {holder[0]}" if holder[0].strip() else "another process"
                    what = f" ({holder[1]})" if len(holder) > 1 and holder[1].strip() else ""
                    raise DeskError(f"the store {self.label} is in use by {who}{what}; "
                                    "try again when it has finished") from None
                time.sleep(0.1)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n{_command_line()}\n".encode(), 0)
        self.fd = fd

    def release(self) -> None:
        if self.fd is not None:
            os.ftruncate(self.fd, 0)
            os.close(self.fd)  # closing drops the flock; the file stays, so no two processes ever lock different files
            self.fd = None


def _command_line() -> str:
    name = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "python"
    return " ".join([name, *sys.argv[1:3]])[:120]


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

    # -- opening and closing --------------------------------------------------------------
    @classmethod
    def open(cls, path: Path | str, *, write: bool = False, wait: float | None = None,
             root: Path | None = None) -> Store:
        """Open for reading (the default) or for writing. A writer takes the store's lock (waiting
        `wait` seconds for another writer, default 0) and creates or migrates the file; a reader
        needs an existing, current store."""
        path = Path(path).absolute()
        store = cls(path, write, _label(path, root))
        if write:
            path.parent.mkdir(parents=True, exist_ok=True)
            store._lock = _WriteLock(path, store.label)
            store._lock.acquire(wait or 0.0)
            try:
                store._prepare()
            except BaseException:
                store.close()
                raise
        else:
            if not path.exists():
                raise DeskError(f"there is no store at {store.label} yet; run `claimdesk ingest` to build it")
            con = store._connect(READ_WAIT_SECONDS if wait is None else wait)
            version, schema_hash = _schema_of(con)
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
        if self._con is not None:
            self._con.close()
            self._con = None
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def _connect(self, wait: float = READ_WAIT_SECONDS, external_access: bool = False) -> duckdb.DuckDBPyConnection:
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
        deadline = time.monotonic() + wait
        while True:
            try:
                self._con = duckdb.connect(str(self.path), read_only=not self.write, config=config)
                return self._con
            except duckdb.IOException as exc:
                holder = re.search(r"\(PID (\d+)\)", str(exc))
                if holder is None:
                    raise DeskError(f"cannot open the store {self.label}: {_first_line(exc)}; move it aside to "
                                    "rebuild it from kb/ (its run history would be lost)") from None
                if time.monotonic() >= deadline:
                    doing = "reading" if self.write else "writing"
                    raise DeskError(f"the store {self.label} is in use by process {holder[1]} "
                                    f"(it is {doing} the file); try again when it has finished") from None
                time.sleep(0.1)
            except duckdb.Error as exc:
                raise DeskError(f"cannot open the store {self.label}: {_first_line(exc)}") from None

    @contextmanager
    def _transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        con = self._connect()
        con.begin()
        try:
            yield con
        except BaseException:
            con.rollback()
            raise
        con.commit()

    def _prepare(self) -> None:
        """Create the tables of a new store, or migrate an old one."""
        con = self._connect()
        version, schema_hash = _schema_of(con)
        if version is not None and version > SCHEMA_VERSION:
            raise DeskError(f"the store {self.label} was written by a newer claimdesk (schema {version}, "
                            f"this one knows {SCHEMA_VERSION}); upgrade claimdesk")
        if (version, schema_hash) == (SCHEMA_VERSION, SCHEMA_HASH):
            return
        with self._transaction() as con:
            _rebuild_schema(con)
        con.execute("CHECKPOINT")

    # -- ingest ---------------------------------------------------------------------------
    def ingest(self, desk_root: Path | str | None = None, *, rebuild: bool = False) -> IngestStats:
        """Bring the store in line with the desk: parse the pages whose content changed, drop the
        pages that are gone, rewrite sources and models when their files changed. All or nothing."""
        self._require_write()
        started = time.perf_counter()
        root = kb.find_root(desk_root)
        con = self._connect()
        meta = dict(con.execute("SELECT key, value FROM store_meta").fetchall())
        rebuild = rebuild or meta.get("cache_format") != CACHE_FORMAT  # rows written by other code: redo all
        known = {} if rebuild else _known_pages(con)
        blobs = {} if rebuild else dict(con.execute("SELECT path, record FROM page_cache").fetchall())
        on_disk = _scan_pages(root)
        prefetched = self._parse_ahead(root, on_disk, known, blobs)
        self._cache = cache = _Cache(root, known, blobs, on_disk, prefetched)
        try:
            desk = kb.load_desk(root, cache=self)
        finally:
            self._cache = None
        stats = IngestStats(self.path, pages=len(desk.pages), reused=cache.reused,
                            parsed=len(desk.pages) - cache.reused, desk=desk)
        changed = [r for r in desk.pages if r.path not in known or known[r.path].content_hash != r.content_hash]
        changed_paths = {r.path for r in changed}
        gone = sorted(set(known) - {r.path for r in desk.pages})
        touched = [(path, *on_disk[path][1:]) for path in sorted(known.keys() & on_disk.keys() - changed_paths)
                   if (known[path].mtime_us, known[path].size) != on_disk[path][1:]]
        data_hash = _data_fingerprint(root, desk)
        stats.removed, stats.written = len(gone), len(changed)
        stats.claims = sum(len(r.claims) for r in desk.pages)
        stats.parameters = len(desk.parameters())
        stats.sources = len(desk.sources)
        stats.problem_pages = sum(1 for r in desk.pages if r.problems)
        if changed or gone or touched or rebuild or data_hash != meta.get("data_hash"):
            with self._transaction() as con:
                if rebuild:
                    for table in PAGE_TABLES:
                        con.execute(f"DELETE FROM {table}")
                self._write_pages(con, changed, gone, on_disk, cache.blobs_made)
                _insert(con, "touched", "UPDATE pages SET mtime = t.mtime, size = t.size FROM touched t "
                                        "WHERE pages.path = t.path",
                        (("path", VARCHAR), ("mtime", TIMESTAMP), ("size", BIGINT)), _columns(touched, 3))
                if data_hash != meta.get("data_hash") or rebuild:
                    _write_data(con, desk)
                _set_meta(con, cache_format=CACHE_FORMAT, data_hash=data_hash, desk_root=str(root),
                          last_ingest=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                          claimdesk_version=__version__)
                _pause_for_tests()
        stats.seconds = time.perf_counter() - started
        return stats

    def lookup(self, path: str, content_hash: str) -> kb.PageRecord | None:
        """kb.PageCache: the page as it was read before, when its content has not changed."""
        cache = self._cache
        if cache is None:
            return None
        blob = cache.prefetched.pop(path, None)
        if blob is not None and blob[0] == content_hash:
            if blob[1] is None:
                return None  # the worker found problems: kb.py reads the page again and reports them
            cache.blobs_made[path] = blob[1]
            return _record_from_blob(path, content_hash, cache.mtime(path), blob[1], cache.memo)
        known = cache.known.get(path)
        stored = cache.blobs.get(path)
        if known is None or stored is None or known.content_hash != content_hash:
            return None
        try:
            record = _record_from_blob(path, content_hash, cache.mtime(path), stored, cache.memo)
        except (ValueError, TypeError, EOFError, IndexError):  # a blob that does not fit: parse the page
            return None
        cache.reused += 1
        return record

    def _parse_ahead(self, root: Path, on_disk: dict[str, tuple[float, int, int]], known: dict[str, _Known],
                     blobs: dict[str, bytes]) -> dict[str, tuple[str, bytes | None]]:
        """Parse many changed pages in worker processes before kb.py walks the desk (a cold store
        or a big pull); a handful is cheaper to parse in line."""
        suspects = [path for path, (_, mtime_us, size) in on_disk.items()
                    if path not in known or (known[path].mtime_us, known[path].size) != (mtime_us, size)
                    or (path not in blobs and known[path].problems == 0)]
        workers = min(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1, 8)
        if len(suspects) < PARALLEL_MIN_PAGES or workers < 2:
            return {}
        chunks = [suspects[i:i + CHUNK_PAGES] for i in range(0, len(suspects), CHUNK_PAGES)]
        out: dict[str, tuple[str, bytes | None]] = {}
        # spawn, not fork: DuckDB's threads are running in this process, and a forked copy of them is unsafe.
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            for chunk in pool.map(_parse_pages, [str(root)] * len(chunks), chunks):
                for path, content_hash, blob in chunk:
                    out[path] = (content_hash, blob)
        return out

    def _write_pages(self, con: duckdb.DuckDBPyConnection, changed: list[kb.PageRecord], gone: list[str],
                     on_disk: dict[str, tuple[float, int, int]], blobs_made: dict[str, bytes]) -> None:
        removed = [r.path for r in changed] + gone
        if removed:
            con.register("removed", pa.table({"path": pa.array(removed, pa.string())}))
            for table in PAGE_TABLES:
                con.execute(f"DELETE FROM {table} WHERE path IN (SELECT path FROM removed)")
            con.unregister("removed")
        pages: list[tuple[Any, ...]] = []
        claims: list[tuple[Any, ...]] = []
        links: list[tuple[Any, ...]] = []
        cached: list[tuple[Any, ...]] = []
        for record in changed:
            blob = blobs_made.get(record.path)
            content = marshal.loads(blob) if blob is not None else _page_content(record)
            if blob is None and not record.problems and record.page is not None:
                try:
                    blob = marshal.dumps(content)
                except ValueError:  # a value marshal cannot keep exactly (a date in an MkDocs key): not cached
                    blob = None
            header, claim_tuples = content
            mtime_us, size = on_disk.get(record.path, (0.0, 0, 0))[1:]
            title, summary, tags = header[:3] if header else (None, None, None)
            pages.append((record.path, title, summary, tags, record.content_hash, mtime_us, size,
                          record.body_line, len(claim_tuples), len(record.problems)))
            for t in claim_tuples:
                claims.append(_claim_row(record.path, t))
                links.extend((record.path, t[0], t[3], rank, source) for rank, source in enumerate(t[6]))
            if blob is not None:
                cached.append((record.path, record.content_hash, blob))
        _insert(con, "incoming", "INSERT INTO pages BY NAME SELECT * FROM incoming", TABLES["pages"],
                _columns(pages, 10))
        _insert(con, "incoming", "INSERT INTO claims BY NAME SELECT * FROM incoming", TABLES["claims"],
                _columns(claims, len(TABLES["claims"])))
        _insert(con, "incoming", "INSERT INTO claim_sources BY NAME SELECT * FROM incoming",
                TABLES["claim_sources"], _columns(links, 5))
        _insert(con, "incoming", "INSERT INTO page_cache BY NAME SELECT * FROM incoming", TABLES["page_cache"],
                _columns(cached, 3))

    # -- runs -----------------------------------------------------------------------------
    def record_run(self, run: CheckRun, desk_version: str | None, started: dt.datetime | None = None) -> int:
        """Append a check run and its results; returns the run's id. Each result keeps a copy of its
        claim's metric, value and as_of as they are now, so history outlives edits and deletions.
        Times are UTC."""
        self._require_write()
        finished = _utcnow()
        started = started.astimezone(dt.UTC).replace(tzinfo=None) if started and started.tzinfo \
            else (started or finished)
        counts = run.counts()
        results = run.results
        with self._transaction() as con:
            run_id = int(con.execute("SELECT coalesce(max(run_id), 0) + 1 FROM runs").fetchall()[0][0])
            con.execute(f"INSERT INTO runs VALUES ({', '.join('?' * len(TABLES['runs']))})",
                        [run_id, started, finished, run.today, desk_version, run.model_fingerprint,
                         len(results), *(counts[s] for s in STATUSES)])
            columns: Columns = (("claim_id", VARCHAR), ("path", VARCHAR), ("line", INTEGER), ("status", VARCHAR),
                                ("reason", VARCHAR), ("also", TEXTS), ("stated", VARCHAR), ("recomputed", DOUBLE),
                                ("unit", VARCHAR), ("relative_error", DOUBLE), ("depends_on", TEXTS),
                                ("check_expr", VARCHAR))
            rows = [(r.claim_id, r.path, r.line, r.status, r.reason, list(r.also), r.stated, r.recomputed, r.unit,
                     r.relative_error, list(r.depends_on), r.check) for r in results]
            _insert(con, "checked", f"""
                INSERT INTO results BY NAME
                SELECT {run_id} AS run_id, r.*, c.metric, c.value_kind, c.value_low, c.value_high,
                       c.as_of_written, c.as_of_start, c.as_of_end
                FROM checked r LEFT JOIN (
                    SELECT * FROM (
                        SELECT path, claim_id, metric, value_kind, value_low, value_high, as_of_written,
                               as_of_start, as_of_end, line FROM claims
                        UNION ALL
                        SELECT path, parameter_id, metric, value_kind, value_low, value_high, as_of_written,
                               as_of_start, as_of_end, line FROM parameters)
                    -- an id written twice on one page is an error of its own; keep one row, not two
                    QUALIFY row_number() OVER (PARTITION BY path, claim_id ORDER BY line) = 1
                ) c ON c.path = r.path AND c.claim_id = r.claim_id""",
                    columns, _columns(rows, len(columns)), always=True)
        return run_id

    # -- reading --------------------------------------------------------------------------
    def query(self, sql: str) -> QueryResult:
        """Run SQL a person wrote; errors become one clean line."""
        con = self._connect()
        try:
            cursor = con.execute(sql)
            if cursor.description is None:
                return QueryResult([], [], [])
            columns = [d[0] for d in cursor.description]
            types = [str(d[1]) for d in cursor.description]
            return QueryResult(columns, types, cursor.fetchall())
        except duckdb.Error as exc:
            message = _first_line(exc)
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
        row = con.execute("SELECT run_id, started, finished, desk_version, today, model_fingerprint FROM runs "
                          "ORDER BY run_id DESC LIMIT 1").fetchall()
        if not row:
            return None
        run_id, started, finished, version, today, fingerprint = row[0]
        results = [Result(claim_id, path, line, status, reason, tuple(also or ()), stated, recomputed, unit,
                          relative_error, tuple(depends_on or ()), check)
                   for claim_id, path, line, status, reason, also, stated, recomputed, unit, relative_error,
                   depends_on, check in con.execute(
                       "SELECT claim_id, path, line, status, reason, also, stated, recomputed, unit, relative_error, "
                       "depends_on, check_expr FROM results WHERE run_id = ? ORDER BY path, line", [run_id]).fetchall()]
        return StoredRun(run_id, started, finished, version, CheckRun(today, results, fingerprint or ""))

    def history(self, key: str) -> list[HistoryEntry]:
        """A claim's (or every claim of a metric's) stated value and status over time, one entry per
        stretch of runs in which neither changed. Raises DeskError when nothing has that name."""
        con = self._connect()
        rows = con.execute("""
            SELECT r.run_id, runs.started, r.claim_id, r.path, r.metric, r.as_of_written, r.stated, r.recomputed,
                   r.unit, r.status, r.reason
            FROM results r JOIN runs USING (run_id)
            WHERE r.claim_id = $key OR r.metric = $key
            ORDER BY r.claim_id, r.path, r.run_id""", {"key": key}).fetchall()
        if not rows:
            self._explain_missing(con, key)
        entries: list[HistoryEntry] = []
        for run_id, started, claim_id, path, metric, as_of, stated, recomputed, unit, status, reason in rows:
            last = entries[-1] if entries else None
            if last and (last.claim_id, last.path, last.as_of, last.stated, last.recomputed, last.status) == \
                    (claim_id, path, as_of, stated, recomputed, status):
                entries[-1] = dataclasses.replace(last, last_run=run_id, until=started, reason=reason)
            else:
                entries.append(HistoryEntry(claim_id, path, metric, as_of, stated, recomputed, unit, status, reason,
                                            run_id, run_id, started, started))
        return sorted(entries, key=lambda e: (e.since, e.claim_id))

    def _explain_missing(self, con: duckdb.DuckDBPyConnection, key: str) -> None:
        known = con.execute("SELECT 1 FROM claims WHERE claim_id = $k OR metric = $k UNION ALL "
                            "SELECT 1 FROM parameters WHERE parameter_id = $k LIMIT 1", {"k": key}).fetchall()
        if known:
            raise DeskError(f"'{key}' has no check results yet; run `claimdesk check` to record a run")
        names = [n for (n,) in con.execute("SELECT DISTINCT claim_id FROM claims UNION SELECT DISTINCT metric "
                                           "FROM claims WHERE metric IS NOT NULL UNION SELECT DISTINCT claim_id "
                                           "FROM results").fetchall()]
        raise DeskError(f"no claim or metric named '{key}' in the store{did_you_mean(key, names)}")

    def export(self, folder: Path | str) -> dict[str, int]:
        """Write every table and view as `<name>.parquet` in `folder`; returns rows per file."""
        folder = Path(folder).absolute()
        folder.mkdir(parents=True, exist_ok=True)
        if not self.write:  # writing files needs a connection allowed to touch the file system
            self.close()
        con = self._connect(external_access=True)
        written = {}
        for name in (n for n in _relations(con) if n not in INTERNAL_TABLES):
            target = folder / f"{name}.parquet"
            partial = folder / f".{name}.parquet.partial"
            con.execute(f"COPY (SELECT * FROM {name}) TO '{_sql_text(str(partial))}' (FORMAT parquet)")
            os.replace(partial, target)  # a reader of the folder never sees half a file
            written[name] = int(con.execute(f"SELECT count(*) FROM {name}").fetchall()[0][0])
        return written

    def _require_write(self) -> None:
        if not self.write:
            raise DeskError(f"the store {self.label} is open for reading only")


# -- the page cache ----------------------------------------------------------------------------
@dataclass(frozen=True)
class _Known:
    content_hash: str
    mtime_us: int
    size: int
    problems: int


@dataclass
class _Cache:
    root: Path
    known: dict[str, _Known]
    blobs: dict[str, bytes]
    on_disk: dict[str, tuple[float, int, int]]  # path -> (st_mtime, mtime in µs, size)
    prefetched: dict[str, tuple[str, bytes | None]]  # path -> (content hash, blob or None when it has problems)
    blobs_made: dict[str, bytes] = field(default_factory=dict)  # blobs of changed pages, to store
    memo: dict[Any, Any] = field(default_factory=dict)  # shared frozen values: Periods, dates, field sets
    reused: int = 0

    def mtime(self, path: str) -> float:
        seen = self.on_disk.get(path)
        return seen[0] if seen else (self.root / path).stat().st_mtime


def _known_pages(con: duckdb.DuckDBPyConnection) -> dict[str, _Known]:
    return {path: _Known(content_hash, mtime_us or 0, size or 0, problems or 0)
            for path, content_hash, mtime_us, size, problems in con.execute(
                "SELECT path, content_hash, epoch_us(mtime), size, problems FROM pages").fetchall()}


def _scan_pages(root: Path) -> dict[str, tuple[float, int, int]]:
    """Every .md under kb/ with its mtime and size: a cheap first look that tells which pages
    probably changed. kb.py still decides, by content hash."""
    found: dict[str, tuple[float, int, int]] = {}
    pending = [(root / "kb", "kb")]
    while pending:
        folder, rel = pending.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            if entry.name.startswith("."):
                continue
            try:
                if entry.is_dir(follow_symlinks=False):  # as os.walk in kb.page_paths
                    pending.append((Path(entry.path), f"{rel}/{entry.name}"))
                elif entry.name.endswith(".md"):
                    st = entry.stat()
                    found[f"{rel}/{entry.name}"] = (st.st_mtime, st.st_mtime_ns // 1000, st.st_size)
            except OSError:
                continue
    return found


def _parse_pages(root: str, paths: list[str]) -> list[tuple[str, str, bytes | None]]:
    """Worker process: parse pages and return each as (path, content hash, blob or None)."""
    out: list[tuple[str, str, bytes | None]] = []
    for rel in paths:
        try:
            full = Path(root) / rel
            if full.stat().st_size > kb.MAX_FILE_BYTES:
                continue
            record = kb.load_page(rel, full.read_bytes())
        except OSError:
            continue
        blob = None
        if not record.problems and record.page is not None:
            try:
                blob = marshal.dumps(_page_content(record))
            except ValueError:
                blob = None
        out.append((rel, record.content_hash, blob))
    return out


# A page's content as plain values (what marshal keeps exactly):
#   (header, claims); header = (title, summary, tags, mkdocs keys, fields-set mask, body line)
#   claim = (position, line, mask, id, text, stance, sources, as_of, value, unit, tolerance, check,
#            given, metric, attributed_to, review_by, resolves, stale_after, note)
# dates are ordinals; as_of = (start, end, written); value = (kind, low, high, written, op, band);
# tolerance = (written, amount, relative); stale_after = None | 'never' | (count, period).
_EPOCH = dt.date(1970, 1, 1).toordinal()
_CLAIM_BITS = {name: 1 << i for i, name in enumerate(CLAIM_FIELDS)}
_PAGE_BITS = {name: 1 << i for i, name in enumerate(PAGE_FIELDS)}


def _mask(fields_set: set[str], bits: dict[str, int]) -> int:
    return sum(bits[name] for name in fields_set)


def _claim_content(position: int, line: int, claim: Claim) -> tuple[Any, ...]:
    value, tolerance, stale = claim.value, claim.tolerance, claim.stale_after
    return (position, line, _mask(claim.model_fields_set, _CLAIM_BITS), claim.id, claim.text, claim.stance,
            list(claim.sources), (claim.as_of.start.toordinal(), claim.as_of.end.toordinal(), claim.as_of.written),
            None if value is None else (value.kind, value.low, value.high, value.written, value.op, value.band),
            claim.unit, None if tolerance is None else (tolerance.written, tolerance.amount, tolerance.relative),
            claim.check, None if claim.given is None else dict(claim.given), claim.metric, claim.attributed_to,
            claim.review_by.toordinal() if claim.review_by else None,
            claim.resolves.toordinal() if claim.resolves else None,
            stale if stale is None or stale == "never" else (stale.count, stale.period), claim.note)


def _page_content(record: kb.PageRecord) -> tuple[Any, ...]:
    page = record.page
    header = None
    if page is not None:
        extras = {key: getattr(page, key) for key in MKDOCS_PAGE_KEYS if getattr(page, key) is not None}
        header = (page.title, page.summary, list(page.tags), extras, _mask(page.model_fields_set, _PAGE_BITS),
                  record.body_line)
    lines = record.loaded.line_of if record.loaded else (lambda path: 1)
    return header, [_claim_content(i, lines(("claims", i)), claim) for i, claim in record.claims]


_new = object.__new__
_set = object.__setattr__


def _fields_set(mask: int, names: tuple[str, ...], memo: dict[Any, Any]) -> set[str]:
    key = (names, mask)
    if key not in memo:
        memo[key] = frozenset(name for i, name in enumerate(names) if mask >> i & 1)
    return set(memo[key])


def _day(ordinal: int | None, memo: dict[Any, Any]) -> dt.date | None:
    if ordinal is None:
        return None
    day = memo.get(ordinal)
    if day is None:
        day = memo[ordinal] = dt.date.fromordinal(ordinal)
    return day


def _period(as_of: tuple[int, int, str], memo: dict[Any, Any]) -> Period:
    period = memo.get(as_of)
    if period is None:  # frozen: one Period per distinct as_of can be shared by every claim
        period = memo[as_of] = Period(dt.date.fromordinal(as_of[0]), dt.date.fromordinal(as_of[1]), as_of[2])
    return period


def _claim_from(t: Sequence[Any], memo: dict[Any, Any]) -> Claim:
    (_, _, mask, claim_id, text, stance, sources, as_of, value, unit, tolerance, check, given, metric,
     attributed_to, review_by, resolves, stale, note) = t
    stated = None
    if value is not None:
        stated = _new(Stated)
        _set(stated, "__dict__", {"kind": value[0], "low": value[1], "high": value[2], "written": value[3],
                                  "op": value[4], "band": value[5]})
    claim = _new(Claim)
    _set(claim, "__dict__", {
        "id": claim_id, "text": text, "stance": stance, "sources": sources, "as_of": _period(as_of, memo),
        "value": stated, "unit": unit,
        "tolerance": None if tolerance is None else Tolerance(tolerance[0], tolerance[1], tolerance[2]),
        "check": check, "given": given, "metric": metric, "attributed_to": attributed_to,
        "review_by": _day(review_by, memo), "resolves": _day(resolves, memo),
        "stale_after": stale if stale is None or stale == "never" else Threshold(stale[0], stale[1]),
        "note": note})
    _set(claim, "__pydantic_fields_set__", _fields_set(mask, CLAIM_FIELDS, memo))
    _set(claim, "__pydantic_extra__", None)
    _set(claim, "__pydantic_private__", None)
    return claim


def _record_from_blob(path: str, content_hash: str, mtime: float, blob: bytes,
                      memo: dict[Any, Any]) -> kb.PageRecord:
    header, claim_tuples = marshal.loads(blob)
    title, summary, tags, extras, mask, body_line = header
    page = _new(Page)
    _set(page, "__dict__", {"title": title, "summary": summary, "tags": tags, "claims": [],
                            **{key: extras.get(key) for key in MKDOCS_PAGE_KEYS}})
    _set(page, "__pydantic_fields_set__", _fields_set(mask, PAGE_FIELDS, memo))
    _set(page, "__pydantic_extra__", None)
    _set(page, "__pydantic_private__", None)
    # Only the claims' lines are kept: enough for Located.line, which is all that reads them.
    loaded = Loaded(lines={("claims", t[0]): t[1] for t in claim_tuples})
    claims = [(t[0], _claim_from(t, memo)) for t in claim_tuples]
    return kb.PageRecord(path, content_hash, mtime, page, loaded, claims, body_line)


# -- rows ------------------------------------------------------------------------------------
def _claim_row(path: str, t: Sequence[Any]) -> tuple[Any, ...]:
    (position, line, _, claim_id, text, stance, _, as_of, value, unit, tolerance, check, given, metric,
     attributed_to, review_by, resolves, stale, note) = t
    kind, low, high, written, op, band = value if value is not None else (None,) * 6
    tol_written, tol_amount, tol_relative = tolerance if tolerance is not None else (None,) * 3
    count, period = (None, "never") if stale == "never" else (stale if stale is not None else (None, None))
    return (path, position, line, claim_id, text, stance, kind, low, high, op, band, written, unit,
            tol_written, tol_amount, tol_relative, check, None if given is None else list(given.items()), metric,
            attributed_to, as_of[2], as_of[0] - _EPOCH, as_of[1] - _EPOCH,
            None if review_by is None else review_by - _EPOCH, None if resolves is None else resolves - _EPOCH,
            count, period, note)


def _columns(rows: Sequence[Sequence[Any]], width: int) -> list[list[Any]]:
    return [list(column) for column in zip(*rows)] if rows else [[] for _ in range(width)]


def _insert(con: duckdb.DuckDBPyConnection, name: str, sql: str, columns: Columns, values: list[list[Any]],
            always: bool = False) -> None:
    """Run `sql` with `values` (one list per column) visible as the table `name`."""
    if not values or (not values[0] and not always):
        return
    table = pa.table({col: pa.array(vals, ARROW_TYPES[kind]) for (col, kind), vals in zip(columns, values)})
    con.register(name, table)
    try:
        con.execute(sql)
    finally:
        con.unregister(name)


def _write_data(con: duckdb.DuckDBPyConnection, desk: kb.Desk) -> None:
    """Sources and the model: small, so rewritten whole whenever one of their files changed."""
    for table in DATA_TABLES:
        con.execute(f"DELETE FROM {table}")
    sources = [(key, desk.source_lines.get(key), s.title, s.publisher, s.author, s.url, s.published.written,
                s.published.start.toordinal() - _EPOCH, s.published.end.toordinal() - _EPOCH, s.kind, s.via, s.note)
               for key, s in desk.sources.items()]
    _insert(con, "incoming", "INSERT INTO sources BY NAME SELECT * FROM incoming", TABLES["sources"],
            _columns(sources, len(TABLES["sources"])))
    models = [(m.path, m.content_hash, m.model.title if m.model else None, m.model.summary if m.model else None,
               len(m.problems)) for m in desk.models]
    _insert(con, "incoming", "INSERT INTO models BY NAME SELECT * FROM incoming", TABLES["models"],
            _columns(models, 5))
    parameters: list[tuple[Any, ...]] = []
    links: list[tuple[Any, ...]] = []
    quantities: list[tuple[Any, ...]] = []
    for m in desk.models:
        for i, (parameter, line, _) in enumerate(m.parameter_lines()):
            t = _claim_content(i, line, parameter)
            parameters.append(_claim_row(m.path, t))
            links.extend((m.path, i, parameter.id, rank, source) for rank, source in enumerate(parameter.sources))
        for i, (q, line, _) in enumerate(m.quantity_lines()):
            quantities.append((m.path, i, line, q.id, q.text, q.unit, q.expr, q.solve_for, q.where, q.requires,
                               q.note))
    _insert(con, "incoming", "INSERT INTO parameters BY NAME SELECT * FROM incoming", TABLES["parameters"],
            _columns(parameters, len(TABLES["parameters"])))
    _insert(con, "incoming", "INSERT INTO parameter_sources BY NAME SELECT * FROM incoming",
            TABLES["parameter_sources"], _columns(links, 5))
    _insert(con, "incoming", "INSERT INTO quantities BY NAME SELECT * FROM incoming", TABLES["quantities"],
            _columns(quantities, len(TABLES["quantities"])))


def _data_fingerprint(root: Path, desk: kb.Desk) -> str:
    """Changes when data/sources.yaml or a model file changes (or the code that reads them)."""
    try:
        sources = kb.content_hash((root / kb.SOURCES_FILE).read_bytes())
    except OSError:
        sources = ""
    parts = [SCHEMA_HASH, CACHE_FORMAT, sources, *(f"{m.path}:{m.content_hash}" for m in desk.models)]
    return hashlib.blake2b("\n".join(parts).encode(), digest_size=8).hexdigest()


# -- schema ----------------------------------------------------------------------------------
def _schema_of(con: duckdb.DuckDBPyConnection) -> tuple[int | None, str | None]:
    if "store_meta" not in _relations(con):
        return None, None
    meta = dict(con.execute("SELECT key, value FROM store_meta").fetchall())
    version = meta.get("schema_version")
    return (int(version) if version and version.isdigit() else 0), meta.get("schema_hash")


def _relations(con: duckdb.DuckDBPyConnection) -> list[str]:
    return [name for (name,) in con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' "
        "AND table_catalog = current_database() ORDER BY table_type, table_name").fetchall()]


def _rebuild_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create the current schema, keeping the history tables' rows: every column the old and new
    tables share is copied by name; new columns start empty. The desk's tables start empty and
    the next ingest reads every page."""
    existing = set(_relations(con))
    for view in VIEWS:
        con.execute(f"DROP VIEW IF EXISTS {view}")
    for table in HISTORY_TABLES:
        if table in existing:
            con.execute(f"ALTER TABLE {table} RENAME TO old_{table}")
    for table in TABLES:
        if table in existing and table not in HISTORY_TABLES:
            con.execute(f"DROP TABLE {table}")
    for statement in _ddl():
        con.execute(statement)
    for table in HISTORY_TABLES:
        if table in existing:
            old = {name for (name,) in con.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = ? "
                "AND table_catalog = current_database()", [f"old_{table}"]).fetchall()}
            shared = [col for col, _ in TABLES[table] if col in old]
            if shared:
                names = ", ".join(shared)
                con.execute(f"INSERT INTO {table} ({names}) SELECT {names} FROM old_{table}")
            con.execute(f"DROP TABLE old_{table}")
    _set_meta(con, schema_version=str(SCHEMA_VERSION), schema_hash=SCHEMA_HASH)


def _set_meta(con: duckdb.DuckDBPyConnection, **values: str) -> None:
    for key, value in values.items():
        con.execute("DELETE FROM store_meta WHERE key = ?", [key])
        con.execute("INSERT INTO store_meta VALUES (?, ?)", [key, value])


# -- small helpers ---------------------------------------------------------------------------
def _pause_for_tests() -> None:
    """The crash tests kill a writer here, inside its transaction, to prove the old store survives."""
    marker = os.environ.get(TEST_PAUSE_ENV)
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


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.split("\n", 1)[0] if text else type(exc).__name__


def _sql_text(text: str) -> str:
    return text.replace("'", "''")


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)
