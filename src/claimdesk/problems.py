"""Located problems: what is wrong, where (file, line, field), and how bad.

Every mistake a contributor can make is reported as a `Problem`; nothing in claimdesk shows a
traceback for bad input. `DeskError` carries problems out of a function that cannot go on.
"""

from __future__ import annotations

import re
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
    """' (did you mean 'x'?)' for the closest choice, or '' when none is close."""
    from rapidfuzz import fuzz, process, utils

    options = list(choices)
    # Plain edit distance first (short words like units), then WRatio for long ids with a missing part.
    best = process.extractOne(word, options, scorer=fuzz.ratio, score_cutoff=70) or \
        process.extractOne(word, options, scorer=fuzz.WRatio, processor=utils.default_process, score_cutoff=cutoff)
    return f" (did you mean '{best[0]}'?)" if best else ""


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
