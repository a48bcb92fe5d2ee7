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
"""

from __future__ import annotations

import atexit
import dataclasses
import datetime as dt
import errno
import fcntl
import gc
import hashlib
import json
import marshal
import multiprocessing
import os
import re
import stat
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pydantic

from . import __version__, kb
from .expr import ExprError, parse, refs
from .freshness import Period, Threshold
from .frontmatter import Loaded
from .problems import DeskError, Problem, did_you_mean
from .results import CheckRun, Result, Tally
from .schema import MKDOCS_PAGE_KEYS, STATUSES, Acknowledgement, Claim, DeskSettings, Page, given_reference
from .values import Stated, Tolerance

SCHEMA_VERSION = 3  # bump when a change needs more than "re-read kb/ and copy history by column name"
STORAGE_COMPATIBILITY = "v1.0.0"  # files stay readable by every DuckDB CLI since 1.0, not only the newest
PARALLEL_MIN_PAGES = 1000  # fewer changed pages than this are parsed in this process: workers take ~1 s to start
CHUNK_PAGES = 250
RACY_SECONDS = 2  # a file this close to the previous ingest's start is read even when mtime and size match
READ_WAIT_SECONDS = 10.0  # how long a reader or writer waits for the other to close the file
MAX_QUERY_ROWS = 100_000  # `claimdesk query` prints at most this many rows (kb/guide/commands.md)
WRITE_WAIT_SECONDS = 10.0  # how long a writer waits for another writer's lock (kb/guide/commands.md says so)
STORE_MARKER = ("application", "claimdesk")  # store_meta row: this file was created by claimdesk
DUCKDB_MAGIC = b"DUCK"  # bytes 8-11 of every DuckDB database file
TEST_PAUSE_ENV = "CLAIMDESK_TEST_PAUSE_IN_WRITE"  # tests only: a marker file; ingest pauses before COMMIT
TEST_PAUSE_SKIP_ENV = "CLAIMDESK_TEST_PAUSE_SKIP"  # tests only: how many writes go on before the pause

# -- tables ----------------------------------------------------------------------------------
VARCHAR, INTEGER, BIGINT, DOUBLE, BOOLEAN = "VARCHAR", "INTEGER", "BIGINT", "DOUBLE", "BOOLEAN"
DATE, TIMESTAMP, TEXTS, NUMBERS, BLOB = "DATE", "TIMESTAMP", "VARCHAR[]", "MAP(VARCHAR, DOUBLE)", "BLOB"
NAMES = "MAP(VARCHAR, VARCHAR)"
ARROW_TYPES: dict[str, pa.DataType] = {
    VARCHAR: pa.string(), INTEGER: pa.int32(), BIGINT: pa.int64(), DOUBLE: pa.float64(), BOOLEAN: pa.bool_(),
    DATE: pa.date32(), TIMESTAMP: pa.timestamp("us"), TEXTS: pa.list_(pa.string()),
    NUMBERS: pa.map_(pa.string(), pa.float64()), BLOB: pa.binary(), NAMES: pa.map_(pa.string(), pa.string()),
}
Columns = tuple[tuple[str, str], ...]


def _claim_columns(id_column: str) -> Columns:
    return (("path", VARCHAR), ("position", INTEGER), ("line", INTEGER), (id_column, VARCHAR), ("text", VARCHAR),
            ("stance", VARCHAR), ("value_kind", VARCHAR), ("value_low", DOUBLE), ("value_high", DOUBLE),
            ("value_op", VARCHAR), ("value_band", DOUBLE), ("value_written", VARCHAR), ("unit", VARCHAR),
            ("tolerance_written", VARCHAR), ("tolerance_amount", DOUBLE), ("tolerance_relative", BOOLEAN),
            ("check_expr", VARCHAR), ("given", NUMBERS), ("metric", VARCHAR), ("attributed_to", VARCHAR),
            ("as_of_written", VARCHAR), ("as_of_start", DATE), ("as_of_end", DATE), ("review_by", DATE),
            ("resolves", DATE), ("stale_after_count", INTEGER), ("stale_after_period", VARCHAR), ("note", VARCHAR),
            ("id_line", INTEGER), ("check_names", TEXTS), ("given_refs", NAMES))


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
    # One row per stretch of consecutive runs in which a claim's result did not change (first_run to
    # last_run; last_run NULL while it is the latest run's). The view `results` gives one row per run.
    "result_versions": (("first_run", INTEGER), ("last_run", INTEGER), ("claim_id", VARCHAR), ("path", VARCHAR),
                        ("line", INTEGER),
                ("status", VARCHAR), ("reason", VARCHAR), ("also", TEXTS), ("stated", VARCHAR),
                ("recomputed", DOUBLE), ("unit", VARCHAR), ("relative_error", DOUBLE), ("depends_on", TEXTS),
                ("check_expr", VARCHAR), ("kind", VARCHAR), ("metric", VARCHAR), ("value_kind", VARCHAR),
                ("value_low", DOUBLE),
                ("value_high", DOUBLE), ("as_of_written", VARCHAR), ("as_of_start", DATE), ("as_of_end", DATE),
                ("acknowledged", TEXTS), ("verdict", VARCHAR), ("outcome", DOUBLE), ("resolved_by", VARCHAR)),
    "problems": (("path", VARCHAR), ("line", INTEGER), ("field", VARCHAR), ("message", VARCHAR),
                 ("severity", VARCHAR), ("owner_kind", VARCHAR), ("owner", VARCHAR)),
    "page_cache": (("path", VARCHAR), ("content_hash", VARCHAR), ("record", BLOB)),
    # What each run's results depended on (dependencies.py; schema 3): the run's settings, sources,
    # model files and code, and every claim's, parameter's and quantity's own fields, stored as
    # versions like result_versions, so that a report can say why a result changed between two runs.
    "run_context": (("run_id", INTEGER), ("today", DATE), ("settings", VARCHAR), ("sources", TEXTS),
                    ("model_files", VARCHAR), ("model_fingerprint", VARCHAR), ("claimdesk_version", VARCHAR),
                    ("code_fingerprint", VARCHAR)),
    "input_versions": (("first_run", INTEGER), ("last_run", INTEGER), ("kind", VARCHAR), ("input_id", VARCHAR),
                       ("path", VARCHAR), ("line", INTEGER), ("fields", VARCHAR)),
    # The nightly reports (report.py), one per report, kept for good: `claimdesk query` and the site read them.
    "reports": (("run_id", INTEGER), ("previous_run_id", INTEGER), ("created", TIMESTAMP), ("format_version", INTEGER),
                ("exit_code", INTEGER), ("report", VARCHAR), ("markdown", VARCHAR)),
}
RESULT_DATA: Columns = TABLES["result_versions"][2:]  # a result's own columns, as the `results` view has them
# What record_run receives from a CheckRun, before the copy of each claim is joined on.
RESULT_COLUMNS: Columns = tuple(column for column in RESULT_DATA if column[0] in (
    "claim_id", "path", "line", "status", "reason", "also", "stated", "recomputed", "unit", "relative_error",
    "depends_on", "check_expr", "kind", "acknowledged", "verdict", "outcome", "resolved_by"))
HISTORY_TABLES = ("runs", "result_versions", "run_context", "input_versions", "reports")  # carried across a rebuild; everything else is re-read from the desk
INTERNAL_TABLES = ("store_meta", "page_cache")  # not exported
PAGE_TABLES = ("pages", "claims", "claim_sources", "page_cache")  # rows keyed by a page's path
DATA_TABLES = ("sources", "models", "parameters", "parameter_sources", "quantities")
_OPEN = 2147483647  # last_run of a version that is the latest run's, for range joins
VIEWS: dict[str, str] = {
    "results": f"""
        SELECT runs.run_id, v.* EXCLUDE (first_run, last_run)
        FROM result_versions v JOIN runs
          ON runs.run_id >= v.first_run AND runs.run_id <= coalesce(v.last_run, {_OPEN})""",
    "latest_results": """
        WITH latest AS (SELECT max(run_id) AS run_id FROM runs)
        SELECT coalesce(v.last_run, latest.run_id) AS run_id, v.* EXCLUDE (first_run, last_run),
               runs.started, runs.today
        FROM result_versions v, latest JOIN runs ON runs.run_id = coalesce(v.last_run, latest.run_id)
        QUALIFY row_number() OVER (PARTITION BY v.claim_id ORDER BY v.first_run DESC) = 1""",
    # A claim's status can only change where one of its versions begins or ends.
    "status_changes": """
        WITH pairs AS (
            SELECT * FROM (SELECT run_id, lag(run_id) OVER (ORDER BY run_id) AS previous_run_id FROM runs)
            WHERE previous_run_id IS NOT NULL),
        began AS (SELECT p.run_id AS pair, p.previous_run_id, v.* FROM pairs p
                  JOIN result_versions v ON v.first_run = p.run_id),
        ended AS (SELECT p.run_id AS pair, p.previous_run_id, v.* FROM pairs p
                  JOIN result_versions v ON v.last_run = p.previous_run_id)
        SELECT coalesce(n.pair, b.pair) AS run_id, coalesce(n.previous_run_id, b.previous_run_id) AS previous_run_id,
               coalesce(n.claim_id, b.claim_id) AS claim_id, coalesce(n.path, b.path) AS path,
               b.status AS old_status, n.status AS new_status, b.stated AS old_stated, n.stated AS new_stated,
               b.recomputed AS old_recomputed, n.recomputed AS new_recomputed,
               coalesce(n.reason, 'the claim is gone') AS reason
        FROM began n FULL JOIN ended b ON n.pair = b.pair AND n.claim_id = b.claim_id
        WHERE n.status IS DISTINCT FROM b.status""",
}


def _ddl() -> list[str]:
    tables = [f"CREATE TABLE {name} ({', '.join(f'{col} {kind}' for col, kind in cols)})"
              for name, cols in TABLES.items()]
    return tables + [f"CREATE VIEW {name} AS {sql.strip()}" for name, sql in VIEWS.items()]


SCHEMA_HASH = hashlib.blake2b("\n".join(_ddl()).encode(), digest_size=8).hexdigest()

# A page_cache blob is only as good as the code that parsed the page: it depends on the models'
# fields (its layout) and on every rule that decides what a page parses to. Any change to those
# modules, or to pydantic, makes every blob stale, and the next ingest parses every page again.
CLAIM_FIELDS = tuple(Claim.model_fields)
PAGE_FIELDS = tuple(Page.model_fields)
PARSING_MODULES = ("kb", "frontmatter", "schema", "values", "units", "freshness", "problems", "expr")


def _cache_format() -> str:
    digest = hashlib.blake2b(repr((
        3, CLAIM_FIELDS, PAGE_FIELDS, MKDOCS_PAGE_KEYS, pydantic.VERSION,
        *(tuple(f.name for f in dataclasses.fields(kind)) for kind in (Stated, Period, Tolerance, Threshold)),
    )).encode(), digest_size=8)
    for name in PARSING_MODULES:
        source = Path(__file__).with_name(f"{name}.py")
        digest.update(source.read_bytes() if source.exists() else name.encode())
    return digest.hexdigest()


CACHE_FORMAT = _cache_format()


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


# -- the write lock --------------------------------------------------------------------------
class _WriteLock:
    """An flock on `<store>.lock` naming the holder's process id. The kernel drops it when the
    process dies, however it dies, so a killed writer never leaves the store locked."""

    def __init__(self, db: Path, label: str):
        self.path = db.with_name(db.name + ".lock")
        self.label = label
        self.fd: int | None = None

    def acquire(self, wait: float) -> None:
        # O_NOFOLLOW: a lock file committed as a link to a page must never truncate that page.
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise DeskError(_file_problem(self.path, "lock file", self.label, exc)) from None
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise DeskError(f"the store's lock file {self.label}.lock is not a regular file; remove it and run again")
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = os.pread(fd, 200, 0).decode("utf-8", "replace").split("\n")
                    os.close(fd)
                    who = f"process {holder[0]}" if holder[0].strip().isdigit() else "another process"
                    what = f" ({holder[1]})" if len(holder) > 1 and holder[1].strip() else ""
                    raise DeskError(f"the store {self.label} is in use by {who}{what}; waited {wait:g} s; "
                                    "try again when it has finished") from None
                time.sleep(0.1)
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n{_command_line()}\n".encode(), 0)
        except OSError as exc:
            os.close(fd)
            raise DeskError(_file_problem(self.path, "lock file", self.label, exc)) from None
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
        except (duckdb.Error, OSError, pa.ArrowException, OverflowError) as exc:
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
                             "WHERE pages.path = t.path",
                        _arrow((("path", VARCHAR), ("mtime", TIMESTAMP), ("size", BIGINT)), touched))
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
            con.register("replaced", pa.table({
                "kind": pa.array([k for k, owners in replaced.items() for _ in owners], pa.string()),
                "owner": pa.array([o for owners in replaced.values() for o in owners], pa.string())}))
            try:
                con.execute("DELETE FROM problems WHERE owner_kind IN ('source', 'data') OR EXISTS (SELECT 1 FROM "
                            "replaced WHERE replaced.kind = problems.owner_kind AND replaced.owner = problems.owner)")
            finally:
                con.unregister("replaced")
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
        for name, values in lists.items():
            _paths_table(con, name, values)
        try:
            return con.execute(sql, list(params)).fetchall()
        finally:
            for name in lists:
                con.unregister(name)

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


def _paths_table(con: duckdb.DuckDBPyConnection, name: str, values: Iterable[str]) -> None:
    con.register(name, pa.table({"path": pa.array(sorted(set(values)), pa.string())}))


def _blobs(con: duckdb.DuckDBPyConnection, paths: Iterable[str], with_hash: bool = False) -> dict[str, Any]:
    """Stored copies of some pages: path -> blob, or (content hash, blob) `with_hash`."""
    _paths_table(con, "wanted", paths)
    try:
        rows = con.execute("SELECT path, content_hash, record FROM page_cache "
                           "WHERE path IN (SELECT path FROM wanted)").fetchall()
    finally:
        con.unregister("wanted")
    return {path: (content_hash, blob) if with_hash else blob for path, content_hash, blob in rows}


def _claims_of(con: duckdb.DuckDBPyConnection, paths: Iterable[str]) -> list[tuple[str, int, str, str | None]]:
    _paths_table(con, "wanted", paths)
    try:
        return [tuple(row) for row in con.execute(  # type: ignore[misc]
            "SELECT path, position, claim_id, metric FROM claims WHERE path IN (SELECT path FROM wanted) "
            "ORDER BY path, position").fetchall()]
    finally:
        con.unregister("wanted")


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


# -- rows ------------------------------------------------------------------------------------
def _result_rows(results: list[Result]) -> pa.Table:
    with _collector_paused():
        rows = [(r.claim_id, r.path, r.line, r.status, r.reason, list(r.also), r.stated, r.recomputed, r.unit,
                 r.relative_error, list(r.depends_on), r.check, r.kind, list(r.acknowledged), r.verdict, r.outcome,
                 r.resolved_by) for r in results]
        return _arrow(RESULT_COLUMNS, rows)


def _record_results(con: duckdb.DuckDBPyConnection, run_id: int, incoming: pa.Table,
                    scope: Iterable[str] | None = None) -> None:
    """Make `incoming` run `run_id`'s results. A result equal to its claim's latest version extends
    that version to this run (nothing is written); any other result starts a new version, and the
    version it replaces ends with the previous run. `scope`: the claims this run decided (an
    incremental run); every other claim's latest version carries on unchanged. None: all of them
    (a full run), so the claims without a result here are gone and their versions end too."""
    # An id written twice is an error of its own; any_value keeps such a result to one row.
    _insert(con, """
        CREATE OR REPLACE TEMP TABLE new_results AS
        SELECT r.*, c.metric, c.value_kind, c.value_low, c.value_high,
               c.as_of_written, c.as_of_start, c.as_of_end
        FROM incoming r LEFT JOIN (
            SELECT path, claim_id, any_value(metric) AS metric, any_value(value_kind) AS value_kind,
                   any_value(value_low) AS value_low, any_value(value_high) AS value_high,
                   any_value(as_of_written) AS as_of_written, any_value(as_of_start) AS as_of_start,
                   any_value(as_of_end) AS as_of_end
            FROM (SELECT path, claim_id, metric, value_kind, value_low, value_high, as_of_written,
                         as_of_start, as_of_end FROM claims
                  UNION ALL
                  SELECT path, parameter_id, metric, value_kind, value_low, value_high, as_of_written,
                         as_of_start, as_of_end FROM parameters)
            WHERE claim_id IN (SELECT claim_id FROM incoming)  -- an incremental run's few, not the whole desk
            GROUP BY path, claim_id
        ) c ON c.path = r.path AND c.claim_id = r.claim_id""", incoming, always=True)
    same = " AND ".join(f"n.{name} IS NOT DISTINCT FROM v.{name}" for name, _ in RESULT_DATA)
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE unchanged AS
        SELECT n.claim_id FROM new_results n JOIN result_versions v
          ON v.claim_id = n.claim_id AND v.last_run IS NULL AND {same}""")
    ending = "last_run IS NULL AND claim_id NOT IN (SELECT claim_id FROM unchanged)"
    if scope is None:
        con.execute(f"UPDATE result_versions SET last_run = ? WHERE {ending}", [run_id - 1])
    else:
        _paths_table(con, "scope", scope)
        try:
            con.execute(f"UPDATE result_versions SET last_run = ? WHERE {ending} "
                        "AND claim_id IN (SELECT path FROM scope UNION ALL SELECT claim_id FROM new_results)",
                        [run_id - 1])
        finally:
            con.unregister("scope")
    names = ", ".join(name for name, _ in RESULT_DATA)
    con.execute(f"INSERT INTO result_versions SELECT ? AS first_run, NULL AS last_run, {names} FROM new_results "
                "WHERE claim_id NOT IN (SELECT claim_id FROM unchanged)", [run_id])
    con.execute("DROP TABLE new_results")
    con.execute("DROP TABLE unchanged")


def _write_problems(con: duckdb.DuckDBPyConnection, problems: Sequence[tuple[str, str, Problem]]) -> None:
    rows = [(p.path, p.line, p.field, p.message, p.severity, kind, owner) for kind, owner, p in problems]
    _insert(con, "INSERT INTO problems BY NAME SELECT * FROM incoming", _arrow(TABLES["problems"], rows))


def _set_base(con: duckdb.DuckDBPyConnection, run_id: int, base: dict[str, Any] | None) -> None:
    con.execute("DELETE FROM store_meta WHERE key = 'run_base'")
    if base is not None:
        con.execute("INSERT INTO store_meta VALUES ('run_base', ?)", [json.dumps(dict(base, run_id=run_id))])


def _naive_utc(started: dt.datetime | None, default: dt.datetime) -> dt.datetime:
    if started is None:
        return default
    return started.astimezone(dt.UTC).replace(tzinfo=None) if started.tzinfo else started


class _Rows:
    """Rows of the page tables, gathered page by page and handed to DuckDB as Arrow tables."""

    def __init__(self) -> None:
        self.rows: dict[str, list[tuple[Any, ...]]] = {table: [] for table in PAGE_TABLES}

    def add(self, path: str, content_hash: str, mtime_us: int, size: int, record: kb.PageRecord,
            content: tuple[Any, ...], blob: bytes | None) -> None:
        header, entries = content
        page = dict(zip(PAGE_FIELDS, header[0])) if header else {}
        self.rows["pages"].append((path, page.get("title"), page.get("summary"), page.get("tags"), content_hash,
                                   mtime_us, size, record.body_line, len(entries), len(record.problems)))
        claims, links = self.rows["claims"], self.rows["claim_sources"]
        for position, line, _, values, id_line, _ in entries:
            fields = dict(zip(CLAIM_FIELDS, values))
            claims.append(_claim_row(path, position, line, id_line, fields))
            links.extend((path, position, fields["id"], rank, source) for rank, source in enumerate(fields["sources"]))
        if blob is not None:
            self.rows["page_cache"].append((path, content_hash, blob))

    def tables(self) -> dict[str, pa.Table]:
        return {name: _arrow(TABLES[name], rows) for name, rows in self.rows.items()}


def _write_pages(con: duckdb.DuckDBPyConnection, changed: list[kb.PageRecord], gone: list[str],
                 on_disk: dict[str, tuple[float, int, int]], worker_tables: list[dict[str, pa.Table]],
                 from_workers: set[str]) -> None:
    """Replace the rows of the changed pages and delete those of the pages that are gone."""
    removed = [r.path for r in changed] + gone
    if removed:
        con.register("removed", pa.table({"path": pa.array(removed, pa.string())}))
        for table in PAGE_TABLES:
            con.execute(f"DELETE FROM {table} WHERE path IN (SELECT path FROM removed)")
        con.unregister("removed")
    rows = _Rows()
    for record in changed:
        if record.path in from_workers:
            continue  # a worker made its rows already
        content = _page_content(record)
        blob = None
        if not record.problems and record.page is not None:
            try:
                blob = marshal.dumps(content)
            except ValueError:  # a value marshal cannot give back exactly (a date in an MkDocs key): not cached
                blob = None
        mtime_us, size = on_disk.get(record.path, (0.0, 0, 0))[1:]
        rows.add(record.path, record.content_hash, mtime_us, size, record, content, blob)
    parts_of: dict[str, list[pa.Table]] = {name: [table] for name, table in rows.tables().items()}
    if worker_tables:
        import pyarrow.compute as pc  # here: importing it costs 0.15 s, and only parsing workers need it

        wanted = pa.array(sorted(from_workers & {r.path for r in changed}), pa.string())
        for name, parts in parts_of.items():
            parts += [t[name].filter(pc.is_in(t[name]["path"], value_set=wanted)) for t in worker_tables]
    for name, parts in parts_of.items():
        _insert(con, f"INSERT INTO {name} BY NAME SELECT * FROM incoming", pa.concat_tables(parts))


def _claim_row(path: str, position: int, line: int, id_line: int, c: dict[str, Any]) -> tuple[Any, ...]:
    """A claims (or parameters) row from a claim's stored field values."""
    value = dict(zip(_STATED_FIELDS, c["value"])) if c["value"] is not None else {}
    tolerance, stale, given = c["tolerance"], c["stale_after"], c["given"]
    tol_written, tol_amount, tol_relative = tolerance if tolerance is not None else (None,) * 3
    count, period = (None, "never") if stale == "never" else (stale if stale is not None else (None, None))
    return (path, position, line, c["id"], c["text"], c["stance"], value.get("kind"), value.get("low"),
            value.get("high"), value.get("op"), value.get("band"), value.get("written"), c["unit"],
            tol_written, tol_amount, tol_relative, c["check"], _given_numbers(given),
            c["metric"], c["attributed_to"], c["as_of"][2], c["as_of"][0] - _EPOCH, c["as_of"][1] - _EPOCH,
            None if c["review_by"] is None else c["review_by"] - _EPOCH,
            None if c["resolves"] is None else c["resolves"] - _EPOCH, count, period, c["note"], id_line,
            check_names(c["check"], given), _given_names(given))


def _given_numbers(given: dict[str, float | str] | None) -> list[tuple[str, float]] | None:
    numbers = [(k, v) for k, v in given.items() if not isinstance(v, str)] if given else None
    return numbers or None


def _given_names(given: dict[str, float | str] | None) -> list[tuple[str, str]] | None:
    names = [(k, v) for k, v in given.items() if isinstance(v, str)] if given else None
    return names or None


_CHECK_NAMES: dict[str, list[str] | None] = {}


def check_names(check: str | None, given: dict[str, float | str] | None = None) -> list[str] | None:
    """The names a check expression mentions, and the figures its `given:` names, sorted: the edges
    along which a change to one claim reaches the claims whose checks use it. None without a check
    or when it cannot be read."""
    if check is None:
        return None
    if check not in _CHECK_NAMES:
        try:
            _CHECK_NAMES[check] = sorted({ref.name for ref in refs(parse(check))})
        except ExprError:
            _CHECK_NAMES[check] = None
    names = _CHECK_NAMES[check]
    referenced = {ref[0] for value in (given or {}).values()
                  if isinstance(value, str) and (ref := given_reference(value))}
    if names is None or not referenced:
        return names
    return sorted(set(names) | referenced)


def _arrow(columns: Columns, rows: Sequence[Sequence[Any]]) -> pa.Table:
    values = [list(column) for column in zip(*rows)] if rows else [[] for _ in columns]
    return pa.table({col: pa.array(vals, ARROW_TYPES[kind]) for (col, kind), vals in zip(columns, values)})


def _insert(con: duckdb.DuckDBPyConnection, sql: str, incoming: pa.Table, always: bool = False) -> None:
    """Run `sql` with `incoming` visible as the table `incoming` (skipped when it has no rows)."""
    if not incoming.num_rows and not always:
        return
    con.register("incoming", incoming)
    try:
        con.execute(sql)
    finally:
        con.unregister("incoming")


def _write_data(con: duckdb.DuckDBPyConnection, desk: kb.Desk) -> None:
    """Sources and the model: small, so rewritten whole whenever one of their files changed."""
    for table in DATA_TABLES:
        con.execute(f"DELETE FROM {table}")
    rows: dict[str, list[tuple[Any, ...]]] = {table: [] for table in DATA_TABLES}
    rows["sources"] = [(key, desk.source_lines.get(key), s.title, s.publisher, s.author, s.url, s.published.written,
                        s.published.start.toordinal() - _EPOCH, s.published.end.toordinal() - _EPOCH, s.kind, s.via,
                        s.note) for key, s in desk.sources.items()]
    rows["models"] = [(m.path, m.content_hash, m.model.title if m.model else None,
                       m.model.summary if m.model else None, len(m.problems)) for m in desk.models]
    for m in desk.models:
        for i, (parameter, line, _) in enumerate(m.parameter_lines()):
            rows["parameters"].append(_claim_row(m.path, i, line, m.loaded.line_of(("parameters", i, "id")),
                                                 _stored_fields(parameter)))
            rows["parameter_sources"].extend((m.path, i, parameter.id, rank, source)
                                             for rank, source in enumerate(parameter.sources))
        for i, (q, line, _) in enumerate(m.quantity_lines()):
            rows["quantities"].append((m.path, i, line, q.id, q.text, q.unit, q.expr, q.solve_for, q.where,
                                       q.requires, q.note))
    for table, table_rows in rows.items():
        _insert(con, f"INSERT INTO {table} BY NAME SELECT * FROM incoming", _arrow(TABLES[table], table_rows))


def _data_fingerprint(desk: kb.Desk) -> str:
    """Changes when data/sources.yaml or a model file changes (or the code that reads them)."""
    parts = [SCHEMA_HASH, CACHE_FORMAT, desk.sources_hash, *(f"{m.path}:{m.content_hash}" for m in desk.models)]
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
    views = {name for (name,) in con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' AND table_type = 'VIEW' "
        "AND table_catalog = current_database()").fetchall()}
    for view in views:
        con.execute(f"DROP VIEW {view}")
    # Stores of schema 1 kept a row per claim and run in a table `results`; it becomes versions below.
    per_run = "results" in existing and "results" not in views
    if per_run:
        con.execute("ALTER TABLE results RENAME TO old_results")
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
    if per_run:
        _versions_from_runs(con, "old_results")
        con.execute("DROP TABLE old_results")
    _set_meta(con, schema_version=str(SCHEMA_VERSION), schema_hash=SCHEMA_HASH, **dict([STORE_MARKER]))


def _versions_from_runs(con: duckdb.DuckDBPyConnection, table: str) -> None:
    """Fold a table of one result per claim and run into result_versions: consecutive runs in which
    a claim's result is the same become one version (columns the old table lacks stay empty)."""
    old = {name for (name,) in con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = ? "
        "AND table_catalog = current_database()", [table]).fetchall()}
    data = [name for name, _ in RESULT_DATA if name in old]
    names = ", ".join(data)
    changed = " OR ".join(f"lag({name}) OVER w IS DISTINCT FROM {name}" for name in data)
    con.execute(f"""
        INSERT INTO result_versions (first_run, last_run, {names})
        WITH numbered AS (
            SELECT r.*, n.position FROM {table} r
            JOIN (SELECT run_id, row_number() OVER (ORDER BY run_id) AS position FROM runs) n USING (run_id)),
        marked AS (
            SELECT *, (lag(position) OVER w IS DISTINCT FROM position - 1 OR {changed}) AS starts
            FROM numbered WINDOW w AS (PARTITION BY claim_id ORDER BY run_id)),
        grouped AS (
            SELECT *, sum(starts::INTEGER) OVER (PARTITION BY claim_id ORDER BY run_id) AS version FROM marked)
        SELECT min(run_id), max(run_id), {", ".join(f"arg_min({name}, run_id)" for name in data)}
        FROM grouped GROUP BY claim_id, version""")
    con.execute("UPDATE result_versions SET last_run = NULL WHERE last_run = (SELECT max(run_id) FROM runs)")


def _set_meta(con: duckdb.DuckDBPyConnection, **values: str) -> None:
    for key, value in values.items():
        con.execute("DELETE FROM store_meta WHERE key = ?", [key])
        con.execute("INSERT INTO store_meta VALUES (?, ?)", [key, value])


# -- refusing what is not ours, and saying what went wrong -----------------------------------
def _refuse_unsafe_path(path: Path, label: str, write: bool) -> None:
    """Refuse, before DuckDB touches anything: a store, WAL, lock or temp folder that is a link (a
    contributor can commit `data/claimdesk.duckdb.wal` as a link to a page: DuckDB would write
    through it), a store that is a folder, and a file that is not a DuckDB database."""
    if write:
        for suffix, what in (("", "file"), (".wal", "write-ahead log"), (".lock", "lock file"),
                             (".tmp", "temp folder")):
            candidate = path.with_name(path.name + suffix)
            if candidate.is_symlink():
                raise DeskError(f"the store's {what} {label}{suffix} is a symbolic link; claimdesk never writes "
                                "through a link (one committed to a desk can point at any file): remove it and "
                                "run again")
    try:
        info = path.lstat() if write else path.stat()
    except FileNotFoundError:
        return
    except OSError as exc:
        raise DeskError(_file_problem(path, "file", label, exc)) from None
    if stat.S_ISDIR(info.st_mode):
        raise DeskError(f"the store {label} is a folder, not a file; point `store:` in data/desk.yaml or --store "
                        "at a file such as data/claimdesk.duckdb")
    if not stat.S_ISREG(info.st_mode):
        raise DeskError(f"the store {label} is not a regular file; point `store:` or --store at a file")
    if info.st_size == 0:
        return
    try:
        with open(path, "rb") as handle:
            head = handle.read(12)
    except OSError as exc:
        raise DeskError(_file_problem(path, "file", label, exc)) from None
    if head[8:12] != DUCKDB_MAGIC:
        raise DeskError(f"{label} is not a DuckDB file, so it is not a claimdesk store; it was left untouched: "
                        "point `store:` or --store at another file (or move this one aside if it is a damaged store)")


def _is_marked(con: duckdb.DuckDBPyConnection) -> bool:
    if "store_meta" not in _relations(con):
        return False
    return bool(con.execute("SELECT 1 FROM store_meta WHERE key = ? AND value = ?", list(STORE_MARKER)).fetchall())


def _looks_like_ours(con: duckdb.DuckDBPyConnection) -> bool:
    """A file without the marker is claimdesk's only when it is empty, or when it is a store from
    before the marker: one whose store_meta names a schema and every table of which claimdesk makes."""
    relations = set(_relations(con))
    if not relations:
        return True
    if "store_meta" not in relations or not relations <= set(TABLES) | set(VIEWS) | {"results"}:
        return False
    try:
        meta = dict(con.execute("SELECT key, value FROM store_meta").fetchall())
    except duckdb.Error:
        return False
    return "schema_version" in meta and "schema_hash" in meta


def _foreign(label: str) -> str:
    return (f"{label} is a DuckDB database that claimdesk did not create (it has no claimdesk marker in "
            "store_meta); it was left untouched: point `store:` in data/desk.yaml or --store at another file")


def _reason(exc: BaseException) -> str:
    """What an OS or DuckDB error means for the person running claimdesk, in a few words."""
    text = str(exc)
    errno_ = getattr(exc, "errno", None)
    lowered = text.lower()
    if errno_ == errno.ENOSPC or "no space left" in lowered:
        return "the disk is full"
    if errno_ == errno.EFBIG or "file too large" in lowered:
        return "the file reached the size limit for files (ulimit -f)"
    if errno_ in (errno.EACCES, errno.EPERM) or "permission denied" in lowered:
        return "permission denied"
    if errno_ == errno.EROFS or "read-only file system" in lowered:
        return "the file system is read-only"
    if errno_ == errno.ENOTDIR or "not a directory" in lowered:
        return "a part of the path is a file, not a folder"
    if errno_ == errno.EISDIR or "is a directory" in lowered:
        return "it is a folder, not a file"
    if errno_ == errno.ELOOP or "too many levels of symbolic links" in lowered:
        return "it is a symbolic link, which claimdesk never writes through"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    if isinstance(exc, (pa.ArrowException, OverflowError)):
        return f"a value does not fit the store's columns ({_printable(_first_line(exc))})"
    return _printable(_first_line(exc))


def _file_problem(path: Path, what: str, label: str, exc: OSError) -> str:
    reason = _reason(exc)
    where = f"the store's {what} {path}" if what != "file" else f"the store {label}"
    fix = {"permission denied": "make it writable or choose another store with --store",
           "the file system is read-only": "choose a store on a writable disk with --store",
           "the disk is full": "free some space and run again"}.get(reason, "choose another store path with --store "
                                                                             "or `store:` in data/desk.yaml")
    return f"cannot use {where}: {reason}; {fix}"


def _open_problem(label: str, write: bool, exc: BaseException) -> str:
    reason = _reason(exc)
    lowered = str(exc).lower()
    if "not a valid duckdb database" in lowered or "corrupt" in lowered or "checksum" in lowered \
            or "serialization" in lowered or "invalid" in lowered:
        return (f"the store {label} is damaged ({_printable(_first_line(exc))}); move it aside (mv {label} "
                f"{label}.damaged) and run `claimdesk ingest` to build a new one from kb/; its run history stays "
                "in the file you moved")
    doing = "write" if write else "read"
    fix = {"permission denied": "make the file and its folder writable, or choose another store with --store",
           "the disk is full": "free some space and run again"}.get(reason, "choose another store with --store")
    return f"cannot {doing} the store {label}: {reason}; {fix}"


def _write_problem(label: str, exc: BaseException) -> str:
    reason = _reason(exc)
    fix = {"the disk is full": "free some space and run again",
           "permission denied": "make the store and its folder writable, or choose another store with --store",
           "the file reached the size limit for files (ulimit -f)": "raise the limit or choose another store"}
    return (f"the store {label} could not be written: {reason}; nothing of this run was saved and the previous "
            f"store is unchanged; {fix.get(reason, 'run again, or move the store aside to rebuild it from kb/')}")


def _plain_text(text: str) -> bool:
    """Can `text` be stored or sent to DuckDB? Arguments with bytes that are not UTF-8 reach
    Python as lone surrogates, which cannot."""
    try:
        text.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


def _printable(text: str, limit: int = 200) -> str:
    from .problems import printable

    return printable(text[:limit] + ("..." if len(text) > limit else ""))


# -- small helpers ---------------------------------------------------------------------------
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


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.split("\n", 1)[0] if text else type(exc).__name__


def _sql_text(text: str) -> str:
    return text.replace("'", "''")


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)
