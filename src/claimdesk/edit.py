"""Exact edits of desk files: splice text at the YAML parser's positions, prove the result, write atomically.

An edit never re-serialises a file. It finds the span to change from libyaml's event marks,
replaces only those characters (or inserts a block with its siblings' indentation), then proves
the result before anything touches the disk:

- every byte outside the edited span is unchanged (comments, key order, quoting, blank lines,
  long lines, the Markdown body, CRLF line endings and a UTF-8 byte-order mark included);
- the new file parses with the desk's own safe loader (frontmatter.py) and its data is exactly
  the old data with the intended change.

Otherwise the edit is refused and nothing is written. Writing (`commit`) takes an exclusive lock
on the file, refuses when the file on disk is no longer the one the edit was computed from, writes
a temporary file in the same folder, fsyncs it, renames it over the original and fsyncs the
folder. Refused outright: pages outside kb/, symlinks, read-only files, front-matter that does not
parse or breaks a YAML safety rule (duplicate keys included).

The position tree (`Node`) is built here from libyaml's event stream with an explicit stack and
a depth bound, never by libyaml's composer (see frontmatter.py for why); it constructs nothing,
so it can also walk mkdocs.yml, whose `!!python/name` tags the desk's loader rightly refuses.
"""

from __future__ import annotations

import bisect
import contextlib
import datetime as dt
import errno
import fcntl
import json
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
import yaml.events as ev

from .atomic import fsync_folder, temp_file
from .frontmatter import MAX_BYTES, MAX_DEPTH, Loaded, YamlNumber, parse_yaml, split_front_matter
from .problems import DeskError, Problem

try:
    from yaml.cyaml import CParser as _Parser  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml.loader import SafeLoader as _Parser  # type: ignore[assignment]

# The tests stop a writer at these points (a file path to write the pid to): TEST_PAUSE_ENV just
# before the rename (the crash test kills it there), TEST_READ_PAUSE_ENV after reading the file
# (the race test lets another writer finish meanwhile).
TEST_PAUSE_ENV = "CLAIMDESK_TEST_EDIT_PAUSE"
TEST_READ_PAUSE_ENV = "CLAIMDESK_TEST_EDIT_READ_PAUSE"
LOCK_WAIT = 10.0  # seconds to wait for another claimdesk writing the same file
_NEWLINE = re.compile(r"\r\n|\r|\n")

Pos = tuple[int, int]  # (line, column), 0-based, in the YAML text, lines ending at "\n" only


# -- the position tree ---------------------------------------------------------------------
@dataclass
class Node:
    """A YAML node with where it starts and ends; scalars keep their text, style and tag."""

    kind: str  # "scalar", "map" or "seq"
    start: Pos
    end: Pos
    flow: bool = False
    value: str = ""
    style: str | None = None
    tag: str | None = None
    items: list[Node] = field(default_factory=list)  # seq items; map: key, value, key, value, ...

    def pairs(self) -> Iterator[tuple[Node, Node]]:
        for i in range(0, len(self.items) - 1, 2):
            yield self.items[i], self.items[i + 1]

    def get(self, key: str) -> tuple[Node, Node] | None:
        for k, v in self.pairs():
            if k.kind == "scalar" and k.value == key:
                return k, v
        return None

    def last_pos(self) -> Pos:
        """Where the node's own text ends: a block collection's end mark lies at the next token,
        past any comment, so it is the end of its last descendant."""
        if self.kind == "scalar" or self.flow or not self.items:
            return self.end
        return self.items[-1].last_pos()

    def plain(self) -> Any:
        """The structure as nested tuples, for comparing two trees (tags and styles included)."""
        if self.kind == "scalar":
            return ("scalar", self.value, self.style or "", self.tag or "")
        return (self.kind, tuple(item.plain() for item in self.items))


def yaml_tree(text: str) -> Node | None:
    """The position tree of one YAML document (None when it is empty). Raises DeskError when it
    does not parse, uses anchors or aliases, or nests deeper than MAX_DEPTH.

    `text` has "\n" line endings. Positions are worked out from libyaml's character index, not its
    line count: libyaml also breaks lines at U+0085, U+2028 and U+2029, which the desk (and every
    editor) reads as characters inside a line."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        raise DeskError(f"larger than {MAX_BYTES // (1024 * 1024)} MiB")
    line_starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def position(index: int) -> Pos:
        line = bisect.bisect_right(line_starts, index) - 1
        return line, index - line_starts[line]

    parser = _Parser(text)
    stack: list[Node] = []
    root: Node | None = None
    try:
        while (event := parser.get_event()) is not None:
            if isinstance(event, ev.AliasEvent) or getattr(event, "anchor", None):
                raise DeskError("anchors and aliases are not supported by claimdesk's editor")
            marks = event.start_mark, event.end_mark
            start = position(marks[0].index) if marks[0] else (0, 0)
            end = position(marks[1].index) if marks[1] else start
            node: Node | None = None
            if isinstance(event, ev.ScalarEvent):
                node = Node("scalar", start, end, value=event.value, style=event.style or None, tag=event.tag)
            elif isinstance(event, (ev.MappingStartEvent, ev.SequenceStartEvent)):
                if len(stack) >= MAX_DEPTH:
                    raise DeskError(f"nesting deeper than {MAX_DEPTH} levels")
                kind = "map" if isinstance(event, ev.MappingStartEvent) else "seq"
                node = Node(kind, start, end, flow=bool(event.flow_style), tag=event.tag)
            elif isinstance(event, (ev.MappingEndEvent, ev.SequenceEndEvent)):
                done = stack.pop()
                done.end = end
                continue
            else:
                continue
            if stack:
                stack[-1].items.append(node)
            elif root is None:
                root = node
            else:
                raise DeskError("more than one YAML document")
            if node.kind != "scalar":
                stack.append(node)
    except yaml.YAMLError as exc:
        raise DeskError(f"does not parse as YAML: {exc}") from None
    finally:
        dispose = getattr(parser, "dispose", None)
        if dispose:
            dispose()
    return root


# -- a file as text with positions -----------------------------------------------------------
@dataclass
class Text:
    """A file's text with its BOM and line endings kept, and where each line starts."""

    raw: bytes
    bom: bool
    text: str  # without the BOM, line endings as written
    line_starts: list[int]
    first_line: int = 0  # the file line (0-based) where the YAML text begins

    @classmethod
    def of(cls, raw: bytes, source: str) -> Text:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise DeskError(Problem(source, 0, "", "not valid UTF-8; save the file as UTF-8")) from None
        bom = text.startswith("\ufeff")
        if bom:
            text = text[1:]
        starts = [0] + [m.end() for m in _NEWLINE.finditer(text)]
        return cls(raw, bom, text, starts)

    def offset(self, pos: Pos) -> int:
        """The character offset of a YAML position (line, column) in `text`."""
        return self.line_starts[self.first_line + pos[0]] + pos[1]

    def line_end(self, pos: Pos) -> int:
        """The offset just after the line break of the line holding `pos` (or the end of the text)."""
        index = self.first_line + pos[0] + 1
        return self.line_starts[index] if index < len(self.line_starts) else len(self.text)

    def newline(self, near: int) -> str:
        """The line break the file uses around offset `near` (the file's first one otherwise)."""
        if self.text[max(0, near - 2):near] == "\r\n":
            return "\r\n"
        if near > 0 and self.text[near - 1] in "\r\n":
            return self.text[near - 1]
        match = _NEWLINE.search(self.text, near) or _NEWLINE.search(self.text)
        return match.group() if match else "\n"

    def line_text(self, pos: Pos) -> str:
        start = self.line_starts[self.first_line + pos[0]]
        end = self.line_end(pos)
        return _NEWLINE.sub("", self.text[start:end])

    def encoded(self, text: str) -> bytes:
        return ("\ufeff" if self.bom else "").encode() + text.encode("utf-8")


@dataclass
class Splice:
    """Replace text[start:end] with `insert`."""

    start: int
    end: int
    insert: str

    def apply(self, text: str) -> str:
        return text[: self.start] + self.insert + text[self.end:]


def proven(before: Text, splice: Splice) -> bytes:
    """The new bytes, after proving that every byte outside the splice is unchanged."""
    after = before.encoded(splice.apply(before.text))
    head = before.encoded(before.text[: splice.start])
    tail = before.text[splice.end:].encode("utf-8")
    if not (after.startswith(head) and before.raw.startswith(head) and after.endswith(tail)
            and before.raw.endswith(tail) and len(after) == len(head) + len(splice.insert.encode()) + len(tail)):
        raise DeskError("the edit would change bytes outside the edited span; nothing was written")
    return after


# -- writing YAML values ---------------------------------------------------------------------
def canonical(value: Any) -> Any:
    """A value as the desk's loader gives it, typed, for exact comparison (a quoted '10' is not
    the number 10; key order counts)."""
    if isinstance(value, YamlNumber):
        return ("number", str(value))
    if isinstance(value, bool) or value is None:
        return ("const", value)
    if isinstance(value, str):
        return ("text", value)
    if isinstance(value, dt.date):
        return ("date", value.isoformat())
    if isinstance(value, list):
        return ("list", tuple(canonical(v) for v in value))
    if isinstance(value, dict):
        return ("map", tuple((k, canonical(v)) for k, v in value.items()))
    return ("other", repr(value))


def _reads_back(snippet: str) -> Any:
    loaded = parse_yaml(f"v: {snippet}\n", "<value>")
    if loaded.problems or not isinstance(loaded.data, dict) or list(loaded.data) != ["v"]:
        return ("unreadable",)
    return canonical(loaded.data["v"])


def yaml_value(value: Any) -> str:
    """`value` written as a one-line YAML value that the desk's loader reads back exactly: plain
    when that is faithful, double-quoted (JSON escapes are valid YAML) when not; lists and
    mappings in flow style."""
    if isinstance(value, list):
        text = "[" + ", ".join(_flow_item(v) for v in value) + "]"
    elif isinstance(value, dict):
        text = "{" + ", ".join(f"{_flow_item(k)}: {_flow_item(v)}" for k, v in value.items()) + "}"
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif value is None:
        text = "null"
    elif isinstance(value, dt.date):
        text = value.isoformat()
    elif isinstance(value, str):
        text = value
        if isinstance(value, YamlNumber) or "\n" in value or _reads_back(value) != canonical(value):
            text = value if isinstance(value, YamlNumber) else json.dumps(value, ensure_ascii=False)
    else:
        raise DeskError(f"cannot write {value!r} as a YAML value")
    if _reads_back(text) != canonical(value):
        raise DeskError(f"cannot write {value!r} as a YAML value that reads back the same")
    return text


def _flow_item(value: Any) -> str:
    if isinstance(value, (list, dict)):
        return yaml_value(value)
    text = yaml_value(value)
    if _reads_back(f"[{text}]") != ("list", (canonical(value),)):
        text = json.dumps(value if isinstance(value, str) else str(value), ensure_ascii=False)
    return text


def mapping_block(fields: dict[str, Any], dash_column: int, key_column: int, newline: str) -> str:
    """A block-sequence item holding `fields`: `- key: value` then one key a line."""
    lines = []
    for i, (key, value) in enumerate(fields.items()):
        lead = " " * dash_column + "-" + " " * (key_column - dash_column - 1) if i == 0 else " " * key_column
        lines.append(f"{lead}{yaml_value(key)}: {yaml_value(value)}")
    return newline.join(lines) + newline


# -- pages -------------------------------------------------------------------------------------
@dataclass
class Page:
    """A page read for editing: its text, its front-matter's tree and data."""

    root: Path
    rel: str  # kb/page.md
    text: Text
    tree: Node
    loaded: Loaded

    @property
    def path(self) -> Path:
        return self.root / self.rel

    def claims(self) -> list[Any]:
        data = self.loaded.data
        claims = data.get("claims") if isinstance(data, dict) else None
        return claims if isinstance(claims, list) else []


def page_path(root: Path, page: str | Path) -> str:
    """The desk-relative path of a page given as `kb/x.md`, `x.md`, `x` or a path; refuses anything
    that is not a Markdown file inside kb/ (links included)."""
    given = Path(page)
    candidates = [given] if given.is_absolute() else [root / "kb" / given, root / given, Path.cwd() / given]
    if not given.suffix:
        candidates += [c.with_suffix(".md") for c in candidates]
    kb = (root / "kb").resolve()
    for candidate in candidates:
        if candidate.exists() or candidate.is_symlink():
            if candidate.is_symlink():
                raise DeskError(f"{page}: is a symbolic link; claimdesk edits only real files under kb/")
            full = candidate.resolve()
            try:
                rel = full.relative_to(kb)
            except ValueError:
                raise DeskError(f"{page}: is outside {kb}; claimdesk edits only pages under kb/") from None
            if full.suffix != ".md" or not full.is_file():
                raise DeskError(f"{page}: is not a Markdown page (.md)")
            return f"kb/{rel.as_posix()}"
    raise DeskError(f"{page}: no such page under kb/ (create it with `claimdesk new \"Title\"`)")


def writable(path: Path, rel: str) -> None:
    """Refuse a symlink, a file that is not regular, or one this user may not write."""
    if path.is_symlink():
        raise DeskError(Problem(rel, 0, "", "is a symbolic link; claimdesk edits only real files"))
    if not path.is_file():
        raise DeskError(Problem(rel, 0, "", "is not a regular file"))
    # The permission bits, not only access(): root may write anything, but a file marked read-only
    # was marked so on purpose.
    if not os.access(path, os.W_OK) or not os.access(path.parent, os.W_OK) or not path.stat().st_mode & 0o200:
        raise DeskError(Problem(rel, 0, "", "is read-only; make it (and its folder) writable to edit it"))


def read_page(root: Path, rel: str) -> Page:
    """Read a page for editing. Refuses (DeskError) a page whose front-matter is missing, does not
    parse, or breaks a YAML safety rule (duplicate keys, tags, anchors, ...)."""
    path = root / rel
    writable(path, rel)
    raw = path.read_bytes()
    _pause(TEST_READ_PAUSE_ENV)
    text = Text.of(raw, rel)
    split = split_front_matter(_NEWLINE.sub("\n", text.text))
    if split.yaml_text is None:
        raise DeskError(Problem(rel, 1, "", "has no front-matter; start the page with a '---' line, the "
                                            "YAML, and another '---' line"))
    if split.first_line == -1:
        raise DeskError(Problem(rel, 1, "", "front-matter opened on line 1 is never closed by a line '---'"))
    loaded = parse_yaml(split.yaml_text, rel, split.first_line)
    if loaded.problems or loaded.fatal or not isinstance(loaded.data, dict):
        problems = loaded.problems or [Problem(rel, split.first_line, "", "front-matter must be a mapping")]
        raise DeskError([*problems, Problem(rel, 0, "", "refused: fix the front-matter first (see "
                                                        "`claimdesk validate`); nothing was written")])
    text.first_line = split.first_line - 1
    tree = yaml_tree(split.yaml_text)
    if tree is None or tree.kind != "map":
        raise DeskError(Problem(rel, split.first_line, "", "front-matter must be a mapping"))
    return Page(root, rel, text, tree, loaded)


def _item_columns(page: Page, item: Node) -> tuple[int, int]:
    """(dash column, key column) of a block-sequence item that is a mapping."""
    key_column = item.start[1]
    before = page.text.line_text(item.start)[:key_column]
    match = re.fullmatch(r"( *)-( +)", before)
    if match and item.kind == "map" and not item.flow:
        return len(match.group(1)), key_column
    raise DeskError(Problem(page.rel, page.text.first_line + item.start[0] + 1, "claims",
                            "the claims are not written as `- key: value` blocks; claimdesk adds claims only "
                            "next to claims written that way"))


def insert_claim(page: Page, fields: dict[str, Any], after: int | None = None) -> bytes:
    """The page's new bytes with a claim holding `fields` inserted after claim `after` (default: the
    last one), as a block with its siblings' indentation. Proven (see the module docstring)."""
    text = page.text
    found = page.tree.get("claims")
    if found is None:
        # No claims yet: a `claims:` key at the end of the front-matter, written as the page's keys are.
        last_key, last_value = list(page.tree.pairs())[-1]
        at = text.line_end(last_value.last_pos() if last_value.end[1] else (last_value.end[0] - 1, 0))
        newline = text.newline(at)
        indent = last_key.start[1]
        block = " " * indent + "claims:" + newline + mapping_block(fields, indent + 2, indent + 4, newline)
        splice = Splice(at, at, block)
    else:
        key, claims = found
        newline = text.newline(text.offset(key.start))
        if claims.kind == "scalar" and claims.value == "" and not claims.style:  # `claims:` with nothing
            at = text.line_end(key.start)
            splice = Splice(at, at, mapping_block(fields, key.start[1] + 2, key.start[1] + 4, newline))
        elif claims.kind == "seq" and claims.flow and not claims.items:  # `claims: []`
            start = text.offset(claims.start)
            while start > 0 and text.text[start - 1] == " ":
                start -= 1  # `claims: [] # none yet` becomes `claims: # none yet`
            end = text.offset(claims.end)
            at = text.line_end(key.start)
            block = mapping_block(fields, key.start[1] + 2, key.start[1] + 4, newline)
            splice = Splice(start, at, text.text[end:at] + block)
        elif claims.kind == "seq" and not claims.flow:
            index = len(claims.items) - 1 if after is None else after
            item = claims.items[index]
            dash, key_column = _item_columns(page, item)
            last = item.last_pos()
            at = text.offset(last) if last[1] == 0 else text.line_end(last)
            splice = Splice(at, at, mapping_block(fields, dash, key_column, text.newline(at)))
        else:
            raise DeskError(Problem(page.rel, text.first_line + key.start[0] + 1, "claims",
                                    "claims is not a block list (`- id: ...` items); rewrite it as one to add claims"))
    expected = dict(page.loaded.data)
    claims_list = list(page.claims())
    claims_list.insert(len(claims_list) if after is None else after + 1, fields)
    expected["claims"] = claims_list
    return _prove_page(page, splice, expected)


def replace_fields(page: Page, index: int, changes: dict[str, Any]) -> bytes:
    """The page's new bytes with the fields of claim `index` set to `changes`: an existing value is
    replaced where it stands (its span only), a missing field is added as a new line after the
    claim's last line. Proven."""
    found = page.tree.get("claims")
    if found is None or found[1].kind != "seq" or index >= len(found[1].items):
        raise DeskError(Problem(page.rel, 0, "claims", f"no claim at position {index}"))
    item = found[1].items[index]
    if item.kind != "map":
        raise DeskError(Problem(page.rel, 0, f"claims[{index}]", "is not a mapping"))
    text = page.text.text
    splices: list[Splice] = []
    missing: dict[str, Any] = {}
    for name, value in changes.items():
        pair = item.get(name)
        if pair is None:
            missing[name] = value
            continue
        old = pair[1]
        if old.kind == "seq" and not old.flow and old.items and isinstance(value, list) \
                and [canonical(v) for v in page.claims()[index].get(name, [])] == [canonical(v) for v in value[:len(old.items)]]:
            splices.append(_append_items(page, old, value[len(old.items):]))  # a block list that grows
            continue
        if old.kind != "scalar" and not old.flow:
            raise DeskError(Problem(page.rel, page.text.first_line + old.start[0] + 1, f"claims[{index}].{name}",
                                    "is written as a block; claimdesk replaces only one-line values"))
        if old.kind == "scalar" and old.style in ("|", ">"):
            raise DeskError(Problem(page.rel, page.text.first_line + old.start[0] + 1, f"claims[{index}].{name}",
                                    "is a block scalar; claimdesk replaces only one-line values"))
        splices.append(Splice(page.text.offset(old.start), page.text.offset(old.end), _in_style(value, old)))
    if missing:
        if item.flow:
            raise DeskError(Problem(page.rel, 0, f"claims[{index}]", "is a flow mapping; write it as a block"))
        _, key_column = _item_columns(page, item)
        last = item.last_pos()
        at = page.text.offset(last) if last[1] == 0 else page.text.line_end(last)
        newline = page.text.newline(at)
        block = "".join(f"{' ' * key_column}{yaml_value(k)}: {yaml_value(v)}{newline}" for k, v in missing.items())
        splices.append(Splice(at, at, block))
    splices.sort(key=lambda s: s.start)
    for first, second in zip(splices, splices[1:]):
        if first.end > second.start:
            raise DeskError("overlapping edits")
    # One splice covering them all, so the proof covers the whole edited span at once.
    start, end = splices[0].start, splices[-1].end
    middle, cursor = "", start
    for splice in splices:
        middle += text[cursor: splice.start] + splice.insert
        cursor = splice.end
    expected = dict(page.loaded.data)
    claims_list = list(page.claims())
    claim = dict(claims_list[index])
    claim.update(changes)
    claims_list[index] = claim
    expected["claims"] = claims_list
    return _prove_page(page, Splice(start, end, middle), expected)


def _in_style(value: Any, old: Node) -> str:
    """`value` written as the value it replaces was: quoted the same way when it is text."""
    if old.kind == "scalar" and isinstance(value, str) and not isinstance(value, YamlNumber) and "\n" not in value:
        if old.style == '"':
            return json.dumps(value, ensure_ascii=False)
        if old.style == "'":
            return "'" + value.replace("'", "''") + "'"
    return yaml_value(value)


def _append_items(page: Page, sequence: Node, items: list[Any]) -> Splice:
    """`- item` lines after a block sequence's last item, with its dash's indentation."""
    last = sequence.items[-1]
    match = re.fullmatch(r"( *)-( +)", page.text.line_text(last.start)[: last.start[1]])
    if not match or last.kind != "scalar":
        raise DeskError(Problem(page.rel, page.text.first_line + last.start[0] + 1, "",
                                "the list's items are not `- value` lines; edit it by hand"))
    end = last.last_pos()
    at = page.text.offset(end) if end[1] == 0 else page.text.line_end(end)
    newline = page.text.newline(at)
    return Splice(at, at, "".join(f"{match.group(1)}-{match.group(2)}{_flow_item(item)}{newline}" for item in items))


def _prove_page(page: Page, splice: Splice, expected: dict[str, Any]) -> bytes:
    after = proven(page.text, splice)
    again = Text.of(after, page.rel)
    split = split_front_matter(_NEWLINE.sub("\n", again.text))
    loaded = parse_yaml(split.yaml_text or "", page.rel, split.first_line) if split.yaml_text else None
    if loaded is None or loaded.problems or canonical(loaded.data) != canonical(expected):
        raise DeskError(Problem(page.rel, 0, "", "the edited front-matter would not read back as intended; "
                                                 "nothing was written (edit this page by hand)"))
    return after


# -- atomic writes ----------------------------------------------------------------------------
def commit(path: Path, rel: str, original: bytes | None, new: bytes) -> None:
    """Write `new` to `path` atomically. `original`: the bytes the edit was computed from (the file
    must still hold exactly them, checked under an exclusive lock); None: create a new file, which
    must not exist."""
    folder = path.parent
    if original is None:
        tmp = temp_file(folder, path.name, new, 0o644)
        try:
            _pause(TEST_PAUSE_ENV)
            os.link(tmp, path)  # fails when the file exists: never overwrites
        except FileExistsError:
            raise DeskError(Problem(rel, 0, "", "already exists; nothing was written")) from None
        finally:
            os.unlink(tmp)
        fsync_folder(folder)
        return
    writable(path, rel)
    with _locked(path, rel) as fd:
        current = os.fstat(fd)
        try:
            on_disk = os.stat(path, follow_symlinks=False)
        except FileNotFoundError:
            on_disk = None
        if on_disk is None or (on_disk.st_ino, on_disk.st_dev) != (current.st_ino, current.st_dev) \
                or _read_fd(fd) != original:
            raise DeskError(Problem(rel, 0, "", "changed on disk while claimdesk was working on it; nothing "
                                                "was written (run the command again)"))
        tmp = temp_file(folder, path.name, new, current.st_mode & 0o7777)
        try:
            _pause(TEST_PAUSE_ENV)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        fsync_folder(folder)


@contextlib.contextmanager
def _locked(path: Path, rel: str) -> Iterator[int]:
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    try:
        deadline = time.monotonic() + LOCK_WAIT
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES) or time.monotonic() > deadline:
                    raise DeskError(Problem(rel, 0, "", "another claimdesk is writing this file; try again")) from None
                time.sleep(0.05)
        yield fd
    finally:
        os.close(fd)  # closing releases the lock


def _read_fd(fd: int) -> bytes:
    os.lseek(fd, 0, os.SEEK_SET)
    chunks = []
    while chunk := os.read(fd, 1 << 20):
        chunks.append(chunk)
    return b"".join(chunks)


def _pause(variable: str) -> None:
    marker = os.environ.get(variable)
    if marker:
        Path(marker).write_text(str(os.getpid()))
        seconds = float(os.environ.get(variable + "_SECONDS", "120"))
        time.sleep(seconds)


# -- mkdocs.yml ---------------------------------------------------------------------------------
def add_nav_entry(root: Path, title: str, page: str) -> tuple[bytes, bytes] | None:
    """(old, new) bytes of mkdocs.yml with `- title: page` appended to its `nav`, or None when the
    site has no explicit nav (MkDocs then lists every page itself). Items go after the last
    top-level nav entry, with its indentation. Proven: only the inserted span differs and the rest
    of the file's structure (tags included) is unchanged."""
    path = root / "mkdocs.yml"
    if not path.exists():
        return None
    writable(path, "mkdocs.yml")
    raw = path.read_bytes()
    text = Text.of(raw, "mkdocs.yml")
    tree = yaml_tree(_NEWLINE.sub("\n", text.text))
    found = tree.get("nav") if tree is not None and tree.kind == "map" else None
    if found is None:
        return None
    key, nav = found
    entry = {title: page}
    if nav.kind != "seq" or nav.flow or not nav.items:
        raise DeskError(Problem("mkdocs.yml", key.start[0] + 1, "nav", "is not a block list; add the page by hand"))
    last = nav.items[-1]
    line = text.line_text(last.start)
    match = re.match(r"( *)-( +)", line)
    if not match or match.end() != last.start[1]:
        raise DeskError(Problem("mkdocs.yml", last.start[0] + 1, "nav", "entries are not `- Title: page.md` lines; "
                                                                          "add the page by hand"))
    end = last.last_pos()
    at = text.offset(end) if end[1] == 0 else text.line_end(end)
    newline = text.newline(at)
    block = f"{match.group(1)}-{match.group(2)}{_flow_item(title)}: {_flow_item(page)}{newline}"
    splice = Splice(at, at, block)
    new = proven(text, splice)
    after = yaml_tree(_NEWLINE.sub("\n", Text.of(new, "mkdocs.yml").text))
    expected_nav = Node("seq", nav.start, nav.end, items=[*nav.items, _entry_node(entry)])
    if after is None or _without_nav(after) != _without_nav(tree) or _nav_plain(after) != _styleless(expected_nav.plain()):
        raise DeskError(Problem("mkdocs.yml", 0, "nav", "the edited nav would not read back as intended; "
                                                        "nothing was written (add the page by hand)"))
    return raw, new


def _entry_node(entry: dict[str, str]) -> Node:
    (title, page), = entry.items()
    return Node("map", (0, 0), (0, 0), items=[Node("scalar", (0, 0), (0, 0), value=title),
                                              Node("scalar", (0, 0), (0, 0), value=page)])


def _styleless(plain: Any) -> Any:
    if plain[0] == "scalar":
        return ("scalar", plain[1], "", plain[3])
    return (plain[0], tuple(_styleless(p) for p in plain[1]))


def _nav_plain(tree: Node) -> Any:
    found = tree.get("nav")
    return _styleless(found[1].plain()) if found else None


def _without_nav(tree: Node | None) -> Any:
    if tree is None:
        return None
    return tuple((k.plain(), v.plain()) for k, v in tree.pairs() if k.value != "nav")


# -- data files: a new top-level entry ------------------------------------------------------------
def append_entry(raw: bytes, rel: str, key: str, fields: dict[str, Any]) -> bytes:
    """`raw` (a YAML file holding a mapping, like data/sources.yaml) with `key:` and its `fields`
    appended after the last entry, indented as the entries are and separated by a blank line when
    they are. Proven: only the inserted span differs and the data is the old data plus the entry."""
    text = Text.of(raw, rel)
    loaded = parse_yaml(_NEWLINE.sub("\n", text.text), rel)
    if loaded.problems or not isinstance(loaded.data, dict):
        raise DeskError([*loaded.problems, Problem(rel, 0, "", "refused: fix this file first (see "
                                                               "`claimdesk validate`); nothing was written")])
    if key in loaded.data:
        raise DeskError(Problem(rel, loaded.line_of((key,)), key, "already exists"))
    tree = yaml_tree(_NEWLINE.sub("\n", text.text))
    if tree is None or tree.kind != "map" or tree.flow or not tree.items:
        raise DeskError(Problem(rel, 0, "", "is not a block mapping of entries; add the entry by hand"))
    pairs = list(tree.pairs())
    last_key, last_value = pairs[-1]
    end = last_value.last_pos()
    at = text.offset(end) if end[1] == 0 else text.line_end(end)
    newline = text.newline(at)
    inner = 2  # the fields' indentation: as the nearest entry written as a block has them
    for entry_key, entry in reversed(pairs):
        if entry.kind == "map" and not entry.flow and entry.items:
            inner = entry.items[0].start[1] - entry_key.start[1]
            break
    spaced = len(pairs) > 1 and not text.line_text((last_key.start[0] - 1, 0)).strip()
    lead = " " * last_key.start[1]
    block = (newline if spaced else "") + f"{lead}{yaml_value(key)}:{newline}"
    block += "".join(f"{lead}{' ' * inner}{yaml_value(k)}: {yaml_value(v)}{newline}" for k, v in fields.items())
    if at == len(text.text) and text.text and not text.text.endswith(("\n", "\r")):
        block = newline + block
    new = proven(text, Splice(at, at, block))
    again = parse_yaml(_NEWLINE.sub("\n", Text.of(new, rel).text), rel)
    if again.problems or canonical(again.data) != canonical({**loaded.data, key: fields}):
        raise DeskError(Problem(rel, 0, "", "the edited file would not read back as intended; nothing was written"))
    return new
