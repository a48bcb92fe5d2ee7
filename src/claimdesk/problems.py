"""Located problems: what is wrong, where (file, line, field), and how bad.

Every mistake a contributor can make is reported as a `Problem`; nothing in claimdesk shows a
traceback for bad input. `DeskError` carries problems out of a function that cannot go on.
"""

from __future__ import annotations

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
        return f"{where}:{field} {label}{self.message}"


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
