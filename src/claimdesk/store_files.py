"""The store's files on disk: the writer's lock, refusing what is not ours, and saying what went wrong.

A desk is built from contributors' pull requests: the store, its WAL and its lock may arrive as
committed links, and `--store` may name someone else's DuckDB file. Nothing here follows a link,
writes a file without claimdesk's marker, or lets an OS or DuckDB error escape as a traceback: each
becomes one line that says what is actually wrong.
"""

from __future__ import annotations

import errno
import fcntl
import os
import stat
import sys
import time
from pathlib import Path

import duckdb

from .problems import DeskError
from .store_schema import STORE_MARKER, TABLES, VIEWS, _relations
from .store_tables import conversion_errors

DUCKDB_MAGIC = b"DUCK"  # bytes 8-11 of every DuckDB database file

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
    if isinstance(exc, conversion_errors()):
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


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.split("\n", 1)[0] if text else type(exc).__name__
