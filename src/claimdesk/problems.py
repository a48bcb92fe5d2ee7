"""Located problems: what is wrong, where (file, line, field), and how bad.

Every mistake a contributor can make is reported as a `Problem`; nothing in claimdesk shows a
traceback for bad input. `DeskError` carries problems out of a function that cannot go on.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

Severity = Literal["error", "warning"]


@dataclass(frozen=True, order=True)
class Problem:
    path: str  # desk-relative, with forward slashes
    line: int  # 1-based; 0 when the problem is about the file as a whole
    field: str  # "claims[2].value", or "" when no field applies
    message: str
    severity: Severity = "error"

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        label = "" if self.severity == "error" else "warning: "
        field = f" {self.field}:" if self.field else ""
        return printable(f"{where}:{field} {label}{self.message}")


class DeskError(Exception):
    """Raised when input is so broken that the operation cannot go on."""

    def __init__(self, problems: Iterable[Problem] | Problem | str):
        if isinstance(problems, str):
            problems = [Problem("", 0, "", problems)]
        elif isinstance(problems, Problem):
            problems = [problems]
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


def field_name(path: tuple[str | int, ...]) -> str:
    """('claims', 2, 'value') -> 'claims[2].value'."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def did_you_mean(word: str, choices: Iterable[str], cutoff: float = 60) -> str:
    """' (did you mean 'x'?)' for the closest choice, or '' when none is close.

    Comparing a word with every id of a big desk costs ~30 ms, and a desk can hold thousands of
    unknown names; so beyond SMALL_CHOICES choices only the SUGGESTION_POOL choices sharing most
    three-letter pieces with the word are compared (see `_pool`). The answer depends only on the
    word and the choices, never on what was asked before, so a full and an incremental check agree."""
    from rapidfuzz import fuzz, process, utils

    options = choices if isinstance(choices, list) else list(choices)
    if len(options) > SMALL_CHOICES:
        options = _pool(word[:MAX_SUGGESTION_WORD], _indexed(options))
    word = word[:MAX_SUGGESTION_WORD]
    # Plain edit distance first (short words like units), then WRatio for long ids with a missing part.
    best = process.extractOne(word, options, scorer=fuzz.ratio, score_cutoff=70) or \
        process.extractOne(word, options, scorer=fuzz.WRatio, processor=utils.default_process, score_cutoff=cutoff)
    return f" (did you mean '{printable(best[0])}'?)" if best else ""


SMALL_CHOICES = 500  # up to this many choices, every one is compared
SUGGESTION_POOL = 40  # beyond, only this many: those sharing most three-letter pieces with the word
MAX_SUGGESTION_WORD = 200  # characters of the word compared


def _grams(text: str) -> set[str]:
    text = f" {text.lower()} "
    return {text[i:i + 3] for i in range(len(text) - 2)}


_INDEXES: list[tuple[list[str], dict[str, list[int]]]] = []  # the last few choice lists and their indexes


def _indexed(options: list[str]) -> tuple[list[str], dict[str, list[int]]]:
    """The choices with their index, built once per distinct list (compared by value: callers
    often build the same list afresh)."""
    for known, index in _INDEXES:
        if known is options or known == options:
            return known, index
    entry = (list(options), _gram_index(options))
    _INDEXES.insert(0, entry)
    del _INDEXES[8:]
    return entry


def _gram_index(options: list[str]) -> dict[str, list[int]]:
    """Three-letter piece -> the choices holding it; pieces common to more than one choice in 20
    say nothing about closeness and would make every look-up walk the whole desk, so they are left out."""
    index: dict[str, list[int]] = {}
    for i, option in enumerate(options):
        for gram in _grams(option):
            index.setdefault(gram, []).append(i)
    common = max(50, len(options) // 20)
    return {gram: holders for gram, holders in index.items() if len(holders) <= common}


def _pool(word: str, indexed: tuple[list[str], dict[str, list[int]]]) -> list[str]:
    options, index = indexed
    shared: Counter[int] = Counter()
    for gram in sorted(_grams(word)):
        shared.update(index.get(gram, ()))
    return [options[i] for i, _ in sorted(shared.items(), key=lambda item: (-item[1], item[0]))[:SUGGESTION_POOL]]


# C0 and C1 control characters (escape sequences start with ESC or CSI), DEL, and the Unicode
# marks that reorder or hide text (bidi overrides and isolates, zero-width characters): anything
# that lets a value rewrite the terminal or hide part of a message.
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028\u2029\u202a-\u202e\u2060-\u2069\ufeff]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match[0])
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str, keep: str = "") -> str:
    """`text` with every control character written as an escape (ESC -> \\x1b); `keep` lists those
    left alone (the terminal boundary keeps newlines and tabs)."""
    if keep:
        return _UNPRINTABLE.sub(lambda m: m[0] if m[0] in keep else _escape(m), text)
    return _UNPRINTABLE.sub(_escape, text)


def excerpt(text: str, limit: int = 40) -> str:
    """A short, escaped excerpt of a value for a message: never more of a file than `limit` characters."""
    text = printable(str(text))
    return text if len(text) <= limit else text[:limit] + "..."
