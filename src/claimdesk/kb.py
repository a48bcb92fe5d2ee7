"""Walk the desk: read every page under kb/ and the files under data/ into typed records.

Reading never stops at a bad file: each file's problems are collected and the rest of the desk
is still read, so one run reports every mistake. Cross-file rules (duplicate ids, unknown
sources) live in validate.py; this module only reads.

A desk is a folder holding `kb/` (the pages) and `data/` (sources.yaml, models/*.yaml and the
optional desk.yaml).
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from .frontmatter import Loaded, decode, load_front_matter, parse_yaml, require_mapping
from .problems import DeskError, Problem, printable
from .schema import Claim, DeskSettings, ModelFile, Page, Parameter, Quantity, Source, SourceKey, validate

MAX_FILE_BYTES = 4 * 1024 * 1024
SOURCES_FILE = "data/sources.yaml"
SETTINGS_FILE = "data/desk.yaml"
MODELS_DIR = "data/models"
_UNREADABLE_NAME = " (name not plain text)"  # marks an escaped file name: the file cannot be opened by it


@dataclass
class PageRecord:
    path: str  # desk-relative, forward slashes: kb/token-economics.md
    content_hash: str
    mtime: float
    page: Page | None = None  # None: no front-matter, or front-matter too broken to read
    loaded: Loaded | None = None
    claims: list[tuple[int, Claim]] = field(default_factory=list)  # (index as written, claim): the valid ones
    body_line: int = 1
    problems: list[Problem] = field(default_factory=list)


@dataclass(frozen=True)
class Located:
    """A claim or parameter with where it is written."""

    claim: Claim
    path: str
    line: int
    field: str  # claims[3] or parameters[0]


@dataclass(frozen=True)
class Reference:
    """What desk-wide rules need of a claim, read even from a claim that failed validation."""

    path: str
    field: str  # claims[3] or parameters[0]
    claim_id: str | None
    id_line: int
    sources: list[tuple[str, int]]  # (source id, line)


@dataclass
class ModelRecord:
    path: str
    content_hash: str
    model: ModelFile | None
    loaded: Loaded
    problems: list[Problem] = field(default_factory=list)

    def parameter_lines(self) -> Iterator[tuple[Parameter, int, str]]:
        if self.model:
            for i, parameter in enumerate(self.model.parameters):
                yield parameter, self.loaded.line_of(("parameters", i)), f"parameters[{i}]"

    def quantity_lines(self) -> Iterator[tuple[Quantity, int, str]]:
        if self.model:
            for i, quantity in enumerate(self.model.quantities):
                yield quantity, self.loaded.line_of(("quantities", i)), f"quantities[{i}]"


@dataclass
class Desk:
    root: Path
    settings: DeskSettings
    pages: list[PageRecord]
    sources: dict[str, Source]
    source_lines: dict[str, int]
    models: list[ModelRecord]
    problems: list[Problem]  # problems found while reading (per file); see validate.py for the rest
    sources_readable: bool = True  # False when data/sources.yaml could not be read at all
    sources_hash: str = ""  # content hash of data/sources.yaml ("" when missing)
    settings_hash: str = ""  # content hash of data/desk.yaml ("" when missing)
    _claims: list[Located] | None = field(default=None, init=False, repr=False, compare=False)

    def claims(self) -> list[Located]:
        """Every page claim, in page order. A desk is not changed once read, so the list is
        built once: validation, the checker and the store all walk it."""
        if self._claims is None:
            self._claims = self._collect_claims()
        return self._claims

    def _collect_claims(self) -> list[Located]:
        return [located for record in self.pages for located in page_claims(record)]

    def references(self) -> Iterator[Reference]:
        """The id and sources of every claim and parameter, valid or not, with their lines:
        the pages' claims in page order, then the models' parameters."""
        for record in self.pages:
            yield from page_references(record)
        for model in self.models:
            yield from model_references(model)

    def parameters(self) -> list[Located]:
        return [Located(p, m.path, line, where) for m in self.models for p, line, where in m.parameter_lines()]



def page_references(record: PageRecord) -> list[Reference]:
    """The id and sources of every claim of one page, valid or not (see `Desk.references`)."""
    return list(_references(record.path, record.loaded, "claims")) if record.loaded is not None else []


def model_references(model: ModelRecord) -> list[Reference]:
    """The id and sources of every parameter of one model file, valid or not."""
    return list(_references(model.path, model.loaded, "parameters"))


def page_claims(record: PageRecord) -> list[Located]:
    """The valid claims of one page, in the order written (see `Desk.claims`)."""
    if record.page is None or record.loaded is None:
        return []
    line_of = record.loaded.line_of
    return [Located(claim, record.path, line_of(("claims", i)), f"claims[{i}]") for i, claim in record.claims]


def _references(path: str, loaded: Loaded, key: str) -> Iterator[Reference]:
    items = loaded.data.get(key) if isinstance(loaded.data, dict) else None
    if not isinstance(items, list):
        return
    line_of = loaded.line_of
    for i, raw in enumerate(items):
        if not isinstance(raw, dict):
            continue
        claim_id = raw.get("id")
        listed = raw.get("sources")
        sources = [(s, line_of((key, i, "sources", j))) for j, s in enumerate(listed) if isinstance(s, str)] \
            if isinstance(listed, list) else []
        yield Reference(path, f"{key}[{i}]", claim_id if isinstance(claim_id, str) else None,
                        line_of((key, i, "id")), sources)


def find_root(start: Path | str | None = None) -> Path:
    """The desk folder: `start` itself or its nearest parent that holds kb/."""
    if start is not None and not Path(start).exists():
        raise DeskError(f"no such file or folder: {start}")
    here = Path(start or os.getcwd()).resolve()
    if here.is_file():
        here = here.parent
    for candidate in (here, *here.parents):
        if (candidate / "kb").is_dir():
            return candidate
    raise DeskError(f"no desk found: {here} and its parents hold no kb/ folder "
                    "(run claimdesk inside a desk, or pass the desk's folder)")


def content_hash(raw: bytes) -> str:
    return hashlib.blake2b(raw, digest_size=16).hexdigest()


def read_file(path: Path, rel: str) -> tuple[bytes | None, Problem | None]:
    """A file's bytes, or why not. Only a regular file is read (a named pipe would block, a device
    never end), through at most MAX_FILE_BYTES; nothing is opened for writing."""
    if _UNREADABLE_NAME in rel:
        return None, Problem(rel, 0, "", "the file or folder name holds control characters or bytes that are not "
                                         "UTF-8 (shown escaped); rename it in plain text to have it read")
    if rel.endswith("/"):
        return None, Problem(rel, 0, "", "cannot list this folder, so its pages are left out of the desk; make it "
                                         "readable (or remove it)")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        return None, Problem(rel, 0, "", f"cannot read: {(exc.strerror or str(exc)).lower()}")
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return None, Problem(rel, 0, "", "not a regular file (a folder, pipe or device); pages and data files "
                                             "are plain files")
        if info.st_size > MAX_FILE_BYTES:
            return None, Problem(rel, 0, "", f"file is {info.st_size} bytes; at most {MAX_FILE_BYTES} are read")
        chunks = []
        remaining = MAX_FILE_BYTES + 1
        while remaining > 0 and (chunk := os.read(fd, min(remaining, 1 << 20))):
            chunks.append(chunk)
            remaining -= len(chunk)
        raw = b"".join(chunks)
        if len(raw) > MAX_FILE_BYTES:
            return None, Problem(rel, 0, "", f"file is more than {MAX_FILE_BYTES} bytes; at most that many are read")
        return raw, None
    except OSError as exc:
        return None, Problem(rel, 0, "", f"cannot read: {(exc.strerror or str(exc)).lower()}")
    finally:
        os.close(fd)


def _inside(path: Path, folder: Path) -> bool:
    """Does `path`, links followed, lead to `folder` or below? A link loop leads nowhere."""
    try:
        path.resolve().relative_to(folder)
        return True
    except (ValueError, OSError, RuntimeError):
        return False


def _shown_name(name: str) -> str:
    """A name as the desk records it: unchanged when it is plain text, else escaped and marked (see read_file)."""
    if name.isascii() and name.isprintable():  # nearly every name: no character to look at one by one
        return name
    if name.isprintable() and not any(0xD800 <= ord(c) <= 0xDFFF for c in name):
        return name
    escaped = "".join(f"\\x{ord(c) - 0xDC00:02x}" if 0xDC80 <= ord(c) <= 0xDCFF else c for c in name)
    return printable(escaped) + _UNREADABLE_NAME


def page_paths(root: Path) -> list[str]:
    """Desk-relative paths of every Markdown page under kb/, sorted; hidden files skipped,
    links that lead outside kb/ ignored."""
    return list(scan_pages(root))


def scan_pages(root: Path) -> dict[str, tuple[float, int, int]]:
    """`page_paths` with each page's (st_mtime, mtime in µs, size), in the same sorted order: one
    walk gives the store what it needs to tell unchanged pages without reading them. A file that
    cannot be looked at gets (0.0, 0, -1), and reading it then reports why.

    Folders are walked as os.walk does (links to folders are not followed; hidden folders skipped)."""
    kb_folder = (root / "kb").resolve()
    found: dict[str, tuple[float, int, int]] = {}
    if not _inside(kb_folder, root.resolve()):
        return found  # kb/ is a link out of the desk: load_desk says so
    pending = [(str(kb_folder), "kb")]
    while pending:
        folder, prefix = pending.pop()
        try:
            with os.scandir(folder) as listing:
                entries = list(listing)
        except OSError:
            if prefix != "kb":
                found[prefix + "/"] = (0.0, 0, -1)  # reading it reports that its pages are left out
            continue
        for entry in entries:
            name = _shown_name(entry.name)
            if name.startswith("."):
                continue
            if name.endswith(_UNREADABLE_NAME):
                found[f"{prefix}/{name}"] = (0.0, 0, -1)
                continue
            try:
                is_dir = entry.is_dir()
            except OSError:
                is_dir = False
            if is_dir:
                if not entry.is_symlink():
                    pending.append((entry.path, f"{prefix}/{name}"))
                continue
            if not name.endswith(".md"):
                continue
            if entry.is_symlink() and not _inside(Path(entry.path), kb_folder):
                continue  # only a link can lead outside kb/ (or loop); resolving every file is slow
            try:
                st = entry.stat()
                found[f"{prefix}/{name}"] = (st.st_mtime, st.st_mtime_ns // 1000, st.st_size)
            except OSError:
                found[f"{prefix}/{name}"] = (0.0, 0, -1)
    return dict(sorted(found.items()))


def load_page(rel: str, raw: bytes, mtime: float = 0.0) -> PageRecord:
    """Parse and validate one page's front-matter."""
    record = PageRecord(rel, content_hash(raw), mtime)
    text, problem = decode(raw, rel)
    if problem or text is None:
        record.problems.append(problem or Problem(rel, 0, "", "unreadable"))
        return record
    loaded, record.body_line = load_front_matter(text, rel)
    record.loaded = loaded
    if loaded is None:
        record.problems.append(Problem(rel, 1, "", "no front-matter: a plain prose page with no claims",
                                       "warning"))
        return record
    record.problems.extend(loaded.problems)
    if loaded.fatal:
        return record
    # Validate the page's own fields and each claim on its own, so that one bad claim neither
    # hides the others' mistakes nor keeps the good ones out of desk-wide rules and checks.
    data = loaded.data
    raw_claims = data.get("claims")
    header = dict(data, claims=[]) if isinstance(raw_claims, list) else data
    record.page, problems = validate(Page, header, loaded, rel)
    if isinstance(raw_claims, list):
        for i, raw in enumerate(raw_claims):
            claim, claim_problems = validate(Claim, raw, loaded, rel, ("claims", i))
            problems += claim_problems
            if claim is not None and not any(p.field.startswith(f"claims[{i}]") for p in loaded.problems):
                record.claims.append((i, claim))
    record.problems.extend(p for p in problems if not loaded.covers(p))
    return record


class PageCache(Protocol):
    """Gives back an already-read page when its content is unchanged (the store implements it)."""

    def lookup(self, path: str, content_hash: str) -> PageRecord | None: ...


def load_pages(root: Path, cache: PageCache | None = None, paths: Iterable[str] | None = None) -> list[PageRecord]:
    """Read every page (or only `paths`, in that order); with a cache, pages whose content hash is
    known are not parsed again."""
    records = []
    for rel in page_paths(root) if paths is None else paths:
        full = root / rel
        raw, problem = read_file(full, rel)
        if raw is None:
            record = PageRecord(rel, "", 0.0)
            record.problems.append(problem or Problem(rel, 0, "", "unreadable"))
            records.append(record)
            continue
        if cache is not None:
            known = cache.lookup(rel, content_hash(raw))
            if known is not None:
                records.append(known)
                continue
        records.append(load_page(rel, raw, full.stat().st_mtime))
    return records


def load_data_file(root: Path, rel: str, required: bool) -> tuple[Loaded | None, list[Problem], str]:
    """Parse a YAML file under data/ that must hold a mapping. (loaded, problems, hash)"""
    full = root / rel
    if not full.exists() and not full.is_symlink():
        if required:
            return None, [Problem(rel, 0, "", "missing: the desk needs this file")], ""
        return None, [], ""
    if not _inside(full, root.resolve()):
        # A link committed to the desk could point at ~/.netrc; its content would end up in messages.
        return None, [Problem(rel, 0, "", "is a link to a file outside the desk (or a broken link); claimdesk reads "
                                          "only files inside the desk: put the file itself here")], ""
    raw, problem = read_file(full, rel)
    if raw is None:
        return None, [problem] if problem else [], ""
    text, problem = decode(raw, rel)
    if text is None:
        return None, [problem] if problem else [], content_hash(raw)
    loaded = parse_yaml(text, rel, 1)
    if not loaded.fatal:
        require_mapping(loaded, rel, 1, "the file")
    return (None if loaded.fatal else loaded), list(loaded.problems), content_hash(raw)


@dataclass
class SourcesFile:
    """data/sources.yaml as read."""

    sources: dict[str, Source] = field(default_factory=dict)
    lines: dict[str, int] = field(default_factory=dict)  # each id's line
    problems: list[Problem] = field(default_factory=list)
    readable: bool = False  # False when the file could not be read at all
    content_hash: str = ""


def load_sources(root: Path) -> SourcesFile:
    loaded, problems, digest = load_data_file(root, SOURCES_FILE, required=True)
    result = SourcesFile(problems=problems, content_hash=digest)
    if loaded is None:
        return result
    result.readable = True
    for key, entry in loaded.data.items():
        result.lines[key] = loaded.line_of((key,))
        _, id_problems = validate(SourceKey, {"id": key}, loaded, SOURCES_FILE, ())
        for p in id_problems:
            problems.append(Problem(SOURCES_FILE, result.lines[key], key, p.message))
        source, entry_problems = validate(Source, entry, loaded, SOURCES_FILE, (key,))
        problems.extend(p for p in entry_problems if not loaded.covers(p))
        if source is not None and not id_problems:
            result.sources[key] = source
    return result


def load_models(root: Path) -> list[ModelRecord]:
    folder = root / MODELS_DIR
    records: list[ModelRecord] = []
    if not folder.is_dir():
        return records
    for full in sorted(folder.glob("*.yaml")) + sorted(folder.glob("*.yml")):
        rel = full.relative_to(root).as_posix()
        loaded, problems, digest = load_data_file(root, rel, required=True)
        model = None
        if loaded is not None:
            model, more = validate(ModelFile, loaded.data, loaded, rel)
            problems = problems + [p for p in more if not loaded.covers(p)]
            if loaded.problems:
                model = None
        records.append(ModelRecord(rel, digest, model, loaded or Loaded(), problems))
    return records


def load_settings(root: Path) -> tuple[DeskSettings, list[Problem]]:
    settings, problems, _ = _load_settings(root)
    return settings, problems


def _load_settings(root: Path) -> tuple[DeskSettings, list[Problem], str]:
    loaded, problems, digest = load_data_file(root, SETTINGS_FILE, required=False)
    if loaded is None:
        return DeskSettings(), problems, digest
    settings, more = validate(DeskSettings, loaded.data, loaded, SETTINGS_FILE)
    return settings or DeskSettings(), problems + [p for p in more if not loaded.covers(p)], digest


def load_desk(root: Path | str | None = None, cache: PageCache | None = None,
              paths: Iterable[str] | None = None) -> Desk:
    """Read the whole desk (with `paths`, only those pages; the data files always whole). Raises
    DeskError only when `root` is not a desk at all."""
    root = find_root(root)
    settings, problems, settings_hash = _load_settings(root)
    if not _inside(root / "kb", root.resolve()):
        problems = [*problems, Problem("kb", 0, "", "kb/ is a link to a folder outside the desk; its pages are not "
                                                    "read: make kb/ a folder of the desk")]
    sources = load_sources(root)
    return Desk(root, settings, load_pages(root, cache, paths), sources.sources, sources.lines, load_models(root),
                problems + sources.problems, sources.readable, sources.content_hash, settings_hash)
