"""Safe YAML in, line numbers out.

Front-matter and data files come from contributors' pull requests. This module turns their text
into plain Python values (dict, list, str, YamlNumber, bool, None, datetime.date) plus a map from
each value's path to its line, and never constructs an object from a tag.

It refuses what YAML allows but a desk never needs, each with one located message: anchors,
aliases and merge keys (alias bombs), explicit tags (`!!python/object`), duplicate keys, keys that
are not text, `.nan`/`.inf`, numbers beyond ±1e300, integers of more than 30 digits, impossible
dates, nesting deeper than MAX_DEPTH, and documents larger than MAX_BYTES.

Plain scalars follow YAML 1.2's core schema rather than PyYAML's YAML 1.1 one, so `NO`, `off`,
`y` stay strings. Numbers come back as `YamlNumber`, a str subclass that keeps the digits as
written (`0.80` stays `0.80`) and gives the numeric value on demand.

The tree is built from libyaml's event stream with an explicit stack: libyaml's own composer
recurses in C and crashes the interpreter on deeply nested input, so it is never used.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

import yaml
import yaml.events as ev

from .problems import Problem, excerpt, field_name, printable
from .yaml_hints import yaml_error_message

try:  # libyaml is several times faster; the pure-Python parser is a fallback, not a requirement
    from yaml.cyaml import CParser as _Parser  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml.loader import SafeLoader as _Parser  # type: ignore[assignment]

MAX_DEPTH = 32
MAX_BYTES = 2 * 1024 * 1024
MAX_INT_DIGITS = 30
MAX_ABS_FLOAT = 1e300

Path = tuple[str | int, ...]

_INT = re.compile(r"[-+]?[0-9]+")
_FLOAT = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?")
_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
_NULL = {"", "~", "null", "Null", "NULL"}
_TRUE = {"true", "True", "TRUE"}
_FALSE = {"false", "False", "FALSE"}
_SPECIAL_FLOAT = re.compile(r"[-+]?\.(?:nan|NaN|NAN|inf|Inf|INF)")
_NUMERIC_START = frozenset("0123456789+-.")
# What YAML 1.2 reads as text: tab, newlines and the printable characters. Anything else (NUL, the
# other C0 controls, DEL, C1 controls, lone surrogates) makes libyaml stop with an unlocated error.
_NOT_YAML = re.compile("[^\t\n\r\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


class Invalid:
    """Stands in for a scalar that was reported as unreadable, so the rest can be validated."""

    def __repr__(self) -> str:
        return "<unreadable value>"


INVALID = Invalid()


class YamlNumber(str):
    """A number as written in YAML: `str(n)` is the text, `n.value` the int or float."""

    __slots__ = ()

    @property
    def value(self) -> int | float:
        return int(self) if _INT.fullmatch(self) else float(self)


@dataclass
class Loaded:
    """A parsed YAML document: `data`, each path's 1-based line, and the problems found."""

    data: Any = None
    lines: dict[Path, int] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    fatal: bool = False  # the document could not be read to its end; `data` is None

    def covers(self, problem: Problem) -> bool:
        """Is `problem` about a value this document already reported as unreadable?"""
        for known in self.problems:
            if problem.field == known.field or problem.field.startswith((known.field + ".", known.field + "[")):
                return True
        return False

    def line_of(self, path: Path) -> int:
        """The line of `path`, or of its nearest located ancestor."""
        line = self.lines.get(path)
        if line is not None:  # nearly always: one look-up
            return line
        while path not in self.lines and path:
            path = path[:-1]
        return self.lines.get(path, 1)


class _Stop(Exception):
    """A problem after which the rest of the document cannot be trusted."""


@dataclass
class _Frame:
    container: dict[str, Any] | list[Any]
    path: Path
    key: str | None = None  # mapping frames: the key waiting for its value
    key_lines: dict[str, int] = field(default_factory=dict)


class _Builder:
    def __init__(self, source: str, first_line: int):
        self.source = source
        self.offset = first_line  # yaml marks are 0-based within the document
        self.result = Loaded()
        self.stack: list[_Frame] = []

    def problem(self, line: int, path: Path, message: str) -> None:
        self.result.problems.append(Problem(self.source, line, field_name(path), message))

    def line(self, event: ev.Event) -> int:
        return int(event.start_mark.line) + self.offset if event.start_mark else self.offset

    # -- the value's place ---------------------------------------------------------------
    def child_path(self) -> Path | None:
        """Path of the value the next event fills; None when it is a mapping key."""
        if not self.stack:
            return ()
        top = self.stack[-1]
        if isinstance(top.container, list):
            return top.path + (len(top.container),)
        return None if top.key is None else top.path + (top.key,)

    def place(self, value: Any, path: Path, line: int) -> None:
        if not self.stack:
            self.result.data = value
            self.result.lines[()] = line
            return
        top = self.stack[-1]
        if isinstance(top.container, list):
            top.container.append(value)
            self.result.lines[path] = line
        else:
            assert top.key is not None
            top.container[top.key] = value
            self.result.lines.setdefault(path, top.key_lines[top.key])
            top.key = None

    def take_key(self, event: ev.ScalarEvent, top: _Frame) -> None:
        line = self.line(event)
        key = event.value
        if key == "<<" and not event.style:
            self.problem(line, top.path, "merge keys (<<) are not allowed; write the fields out")
            raise _Stop
        if key in top.key_lines:
            self.problem(line, top.path + (key,),
                         f"duplicate key '{key}' (first given on line {top.key_lines[key]})")
            key = f"\0dup{line}"  # keep parsing; the duplicate's value is discarded below
        elif not key.strip():
            where = field_name(top.path + (key,))
            self.problem(line, top.path, f"empty key in {where or 'the document'}")
        top.key = key
        top.key_lines[key] = line
        self.result.lines[top.path + (key,)] = line

    # -- events --------------------------------------------------------------------------
    def refuse_decorations(self, event: Any, path: Path) -> bool:
        """Report a tag; True when there was one. The value it decorates becomes INVALID and the rest
        of the document is still read: one bad entry must not hide the others. An anchor stops."""
        line = self.line(event)
        if getattr(event, "anchor", None):  # anchors come with aliases (alias bombs): stop at the first
            self.problem(line, path, f"anchors (&{excerpt(event.anchor, 20)}) are not allowed; repeat the value instead")
            raise _Stop
        tag = getattr(event, "tag", None)
        if tag and tag != "!":
            shown = tag.replace("tag:yaml.org,2002:", "!!")
            self.problem(line, path, f"tags ({excerpt(shown, 60)}) are not allowed; write plain values")
            return True
        return False

    def feed(self, event: ev.Event) -> None:
        if isinstance(event, ev.ScalarEvent):
            self.feed_scalar(event)
            return
        if isinstance(event, (ev.StreamStartEvent, ev.StreamEndEvent, ev.DocumentEndEvent)):
            return
        if isinstance(event, ev.DocumentStartEvent):
            if self.result.lines:
                self.problem(self.line(event), (), "only one YAML document is allowed (found a second '---')")
                raise _Stop
            return
        if isinstance(event, ev.AliasEvent):
            path = self.child_path()
            self.problem(self.line(event), path or (),
                         f"aliases (*{excerpt(event.anchor or '', 20)}) are not allowed; repeat the value instead")
            raise _Stop
        path = self.child_path()
        if isinstance(event, (ev.MappingEndEvent, ev.SequenceEndEvent)):
            frame = self.stack.pop()
            if isinstance(frame.container, dict):
                for key in [k for k in frame.container if k.startswith("\0dup")]:
                    del frame.container[key]
            return
        if path is None:  # a mapping key
            top = self.stack[-1]
            if not isinstance(event, ev.ScalarEvent):
                self.problem(self.line(event), top.path, "keys must be plain text, not lists or mappings")
                raise _Stop
            if self.refuse_decorations(event, top.path):
                raise _Stop  # a decorated key: which value is meant cannot be told
            self.take_key(event, top)
            return
        refused = self.refuse_decorations(event, path)
        line = self.line(event)
        if isinstance(event, ev.ScalarEvent):
            self.place(INVALID if refused else self.scalar(event, path, line), path, line)
            return
        if len(self.stack) >= MAX_DEPTH:
            self.problem(line, path[:2], f"nesting deeper than {MAX_DEPTH} levels")
            raise _Stop
        container: dict[str, Any] | list[Any] = {} if isinstance(event, ev.MappingStartEvent) else []
        self.place(INVALID if refused else container, path, line)  # a refused one is read, then dropped
        self.stack.append(_Frame(container, path))

    def feed_scalar(self, event: ev.ScalarEvent) -> None:
        """`feed` for a scalar, the most frequent event (every key and most values), in line."""
        decorated = event.anchor or (event.tag and event.tag != "!")
        if self.stack:
            top = self.stack[-1]
            container = top.container
            if isinstance(container, list):
                path = top.path + (len(container),)
            elif top.key is None:  # a mapping key
                if decorated and self.refuse_decorations(event, top.path):
                    raise _Stop  # a decorated key: which value is meant cannot be told
                self.take_key(event, top)
                return
            else:
                path = top.path + (top.key,)
        else:
            path = ()
        line = self.line(event)
        if decorated and self.refuse_decorations(event, path):
            self.place(INVALID, path, line)
            return
        self.place(self.scalar(event, path, line), path, line)

    def scalar(self, event: ev.ScalarEvent, path: Path, line: int) -> Any:
        text = event.value
        if event.style:  # quoted or block: always a string (plain is '' in libyaml, None in PyYAML)
            return text
        if text in _NULL:
            return None
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        if text[0] not in _NUMERIC_START:  # numbers and dates start with a digit, a sign or a dot
            return text
        if _INT.fullmatch(text):
            if len(text.lstrip("+-")) > MAX_INT_DIGITS:
                self.problem(line, path, f"integer of {len(text.lstrip('+-'))} digits is too large "
                                         f"(at most {MAX_INT_DIGITS}); use an exponent like 1.2e40")
                return INVALID
            return YamlNumber(text)
        if _FLOAT.fullmatch(text):
            number = float(text)
            if abs(number) > MAX_ABS_FLOAT:
                self.problem(line, path, f"{text} is out of range (at most ±1e300)")
                return INVALID
            return YamlNumber(text)
        if _SPECIAL_FLOAT.fullmatch(text):
            self.problem(line, path, f"{text} is not a number a desk can state; write a finite number")
            return INVALID
        match = _DATE.fullmatch(text)
        if match:
            message = date_problem(*(int(g) for g in match.groups()))
            if message is None:
                return dt.date(*(int(g) for g in match.groups()))
            self.problem(line, path, f"{text} is not a valid date: {message}")
            return INVALID
        return text


def date_problem(year: int, month: int, day: int) -> str | None:
    """Why year-month-day is not a date, or None when it is one."""
    if not 1 <= month <= 12:
        return f"there is no month {month}"
    days = calendar.monthrange(year, month)[1] if year >= 1 else 31
    if not 1 <= day <= days:
        return f"{calendar.month_name[month]} {year} has {days} days"
    if year < 1:
        return "year 0 does not exist"
    return None


def parse_yaml(text: str, source: str, first_line: int = 1) -> Loaded:
    """Parse one YAML document. Problems are collected, never raised."""
    builder = _Builder(source, first_line)
    if len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        builder.problem(first_line, (), f"larger than {MAX_BYTES // (1024 * 1024)} MiB; split it up")
        return builder.result
    unreadable = _NOT_YAML.search(text)
    if unreadable:
        line = text.count("\n", 0, unreadable.start()) + first_line
        builder.problem(line, (), f"the character {printable(unreadable[0])} is not allowed in YAML (a control "
                                  "character, or bytes that are not text); remove it")
        builder.result.fatal = True
        return builder.result
    parser = _Parser(text)
    next_event, feed, feed_scalar, scalar_event = parser.get_event, builder.feed, builder.feed_scalar, ev.ScalarEvent
    try:
        while (event := next_event()) is not None:  # None after the stream's end
            if event.__class__ is scalar_event:  # most events: every key and most values
                feed_scalar(event)
            else:
                feed(event)
    except _Stop:
        builder.result.fatal = True
    except yaml.MarkedYAMLError as exc:
        builder.result.fatal = True
        mark = exc.problem_mark or exc.context_mark
        last_line = max(len(text.rstrip("\n").split("\n")) - 1, 0)  # libyaml may point past the end
        line = min(mark.line if mark else 0, last_line) + first_line
        problem = str(exc.problem or exc.context or "invalid YAML")
        lines = text.split("\n")
        bad_line = lines[mark.line] if mark and mark.line < len(lines) else ""
        if "\t" in bad_line[: (mark.column if mark else 0) + 1] or "\t" in problem:
            problem = "a tab character is not allowed here; indent YAML with spaces"
        else:
            problem = yaml_error_message(problem, lines, mark.line if mark else 0)
        builder.problem(line, (), problem)
    except yaml.YAMLError as exc:
        builder.result.fatal = True
        builder.problem(first_line, (), f"invalid YAML: {excerpt(str(exc).splitlines()[0] if str(exc) else '', 120)}")
    finally:
        dispose = getattr(parser, "dispose", None)
        if dispose:
            dispose()
    if builder.result.fatal:
        builder.result.data = None
    return builder.result


@dataclass
class Split:
    """A Markdown file cut into front-matter and body."""

    yaml_text: str | None  # None when the page has no front-matter
    first_line: int  # line number of the first YAML line in the file
    body_line: int  # line number where the body starts


_FENCE = re.compile(r"---[ \t]*")
_END = re.compile(r"(?:---|\.\.\.)[ \t]*")


def normalize_newlines(text: str) -> str:
    """CRLF and lone CR become LF, so that line numbers agree with what editors show."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def split_front_matter(text: str) -> Split:
    """Find the front-matter between a first line `---` and the next `---` (or `...`).

    `text` must already have a BOM removed and newlines normalised. Raises nothing: an
    unterminated block is reported by `load_front_matter`.
    """
    lines = text.split("\n")
    if not lines or not _FENCE.fullmatch(lines[0]):
        return Split(None, 0, 1)
    for number, line in enumerate(lines[1:], start=2):
        if _END.fullmatch(line):
            return Split("\n".join(lines[1:number - 1]) + "\n", 2, number + 1)
    return Split("", -1, 1)  # opened, never closed


def load_front_matter(text: str, source: str) -> tuple[Loaded | None, int]:
    """Parse a page's front-matter. Returns (None, 1) for a page without one.

    The second item is the line where the body starts. A front-matter that is not a mapping,
    is empty or is never closed is reported as a problem in the returned `Loaded`.
    """
    split = split_front_matter(text)
    if split.yaml_text is None:
        return None, 1
    if split.first_line == -1:
        result = Loaded(fatal=True)
        result.problems.append(Problem(source, 1, "", "front-matter opened on line 1 is never closed "
                                                      "by a line '---'"))
        return result, 1
    loaded = parse_yaml(split.yaml_text, source, split.first_line)
    if not loaded.fatal:
        require_mapping(loaded, source, split.first_line, "front-matter")
    return loaded, split.body_line


def require_mapping(loaded: Loaded, source: str, line: int, what: str) -> None:
    """Report a document that is empty or not a mapping."""
    if loaded.data is None:
        loaded.problems.append(Problem(source, line, "", f"{what} is empty"))
        loaded.fatal = True
    elif not isinstance(loaded.data, dict):
        loaded.fatal = True
        kind = "a list" if isinstance(loaded.data, list) else f"a single value ('{excerpt(loaded.data, 20)}')"
        loaded.problems.append(Problem(source, loaded.lines.get((), line), "",
                                       f"{what} must be a mapping of keys to values, found {kind}"))
        loaded.data = None


def decode(raw: bytes, source: str) -> tuple[str | None, Problem | None]:
    """Bytes to text: UTF-8 (a BOM is accepted and dropped), newlines normalised."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        return None, Problem(source, line, "", f"not valid UTF-8 (byte 0x{raw[exc.start]:02x} at offset {exc.start}); "
                                               "save the file as UTF-8")
    if text.startswith("\ufeff"):
        text = text[1:]
    return normalize_newlines(text), None
