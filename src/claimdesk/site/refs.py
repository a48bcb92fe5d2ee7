"""Inline claim references in a page's prose: `[[claim:ID]]`.

The reference renders as the claim's stated value, a status mark and a link to the claim. The
syntax was chosen so that it cannot be mistaken for anything else a page holds: Markdown links
are `[text](url)` or `[text][ref]` (never two brackets followed by `claim:`), LaTeX does not
write `[[claim:`, and `{{ }}` templating uses braces. References inside fenced code blocks,
indented code blocks and inline code spans are left as written, so the guide can show the syntax.

This module only finds references and reports unknown ids; html.py renders them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from ..kb import Desk, PageRecord, read_file
from ..problems import Problem, did_you_mean

MARK = "[[claim:"
REFERENCE = re.compile(r"\[\[claim:([^\]\n]{0,100})\]\]")
_FENCE = re.compile(r"^ {0,3}(?:[-*+] |\d{1,9}[.)] )*\s*(`{3,}|~{3,})")
_LIST_ITEM = re.compile(r"^\s*(?:[-*+]|\d{1,9}[.)])\s")
_BACKTICKS = re.compile(r"`+")


@dataclass(frozen=True)
class Found:
    line: int  # 1-based, within the text given
    start: int  # offsets within the whole text
    end: int
    claim_id: str


def _code_spans(line: str) -> list[tuple[int, int]]:
    """(start, end) of the inline code spans of one line: a run of N backticks to the next run of N."""
    spans: list[tuple[int, int]] = []
    runs = list(_BACKTICKS.finditer(line))
    i = 0
    while i < len(runs):
        opening = runs[i]
        closing = next((j for j in range(i + 1, len(runs)) if len(runs[j].group()) == len(opening.group())), None)
        if closing is None:
            i += 1
            continue
        spans.append((opening.start(), runs[closing].end()))
        i = closing + 1
    return spans


def _outside_fences(text: str) -> Iterator[tuple[int, int, str]]:
    """(line number, offset of the line, line) for every line outside fenced code blocks; the
    fence lines themselves are left out too."""
    fence: str | None = None
    offset = 0
    for number, line in enumerate(text.splitlines(keepends=True), start=1):
        start_of_line, offset = offset, offset + len(line)
        stripped = line.strip()
        if fence is not None:
            if stripped.startswith(fence) and set(stripped) <= {fence[0]}:
                fence = None
            continue
        opened = _FENCE.match(line)
        if opened:
            fence = opened.group(1)
            continue
        yield number, start_of_line, line


def find_references(text: str) -> Iterator[Found]:
    """Every `[[claim:...]]` outside code, in order."""
    if MARK not in text:
        return
    previous_blank = True
    in_list = False
    in_indented_code = False
    for number, start_of_line, line in _outside_fences(text):
        stripped = line.strip()
        if not stripped:
            previous_blank = True
            continue
        indented = line.startswith(("    ", "\t"))
        if indented and (in_indented_code or (previous_blank and not in_list)):
            in_indented_code = True
            previous_blank = False
            continue
        in_indented_code = False
        if not indented:
            in_list = bool(_LIST_ITEM.match(line)) or (in_list and not previous_blank)
        previous_blank = False
        if MARK not in line:
            continue
        spans = _code_spans(line)
        for match in REFERENCE.finditer(line):
            if any(a <= match.start() < b for a, b in spans):
                continue
            yield Found(number, start_of_line + match.start(), start_of_line + match.end(), match.group(1).strip())


def replace_references(text: str, render: Callable[[str], str]) -> str:
    """The text with each reference outside code replaced by `render(claim_id)`."""
    pieces: list[str] = []
    last = 0
    for found in find_references(text):
        pieces += [text[last:found.start], render(found.claim_id)]
        last = found.end
    if not pieces:
        return text
    pieces.append(text[last:])
    return "".join(pieces)


def body_of(raw: str, body_line: int) -> str:
    """The Markdown after the front-matter (body_line is 1-based)."""
    return "".join(raw.splitlines(keepends=True)[body_line - 1:])


def reference_problems(root: Path, pages: Iterable[tuple[str, int]], known: Callable[[], Iterable[str]]) -> list[Problem]:
    """An error for every reference to an id that is neither a page claim nor a model parameter.

    `pages` are (desk-relative path, body line); the files are read again because the desk keeps
    only their front-matter. Only files that hold the reference mark are scanned. `known` gives
    the ids; it is asked only when a reference is found (an incremental check reads them from the
    store)."""
    known_ids: set[str] | None = None
    problems: list[Problem] = []
    choices: list[str] | None = None
    for path, body_line in pages:
        raw, _ = read_file(root / path, path)  # a regular file within the size bound, never a pipe
        if raw is None:
            continue  # reading the page already reported it
        if MARK.encode() not in raw:
            continue
        text = raw.decode("utf-8", errors="replace")
        for found in find_references(body_of(text, body_line)):
            if known_ids is None:
                known_ids = set(known())
            if found.claim_id in known_ids:
                continue
            if choices is None:
                choices = sorted(known_ids)
            line = body_line + found.line - 1
            shown = "".join(c if c.isprintable() else "?" for c in found.claim_id)
            problems.append(Problem(path, line, "body", f"[[claim:{shown}]] names no claim or model "
                                    f"parameter{did_you_mean(shown, choices)}; write [[claim:ID]] with "
                                    f"the id of a claim on any page"))
    return problems


def desk_reference_problems(desk: Desk, pages: Iterable[PageRecord]) -> list[Problem]:
    """validate.py's rule for inline references: every reference on `pages` names a claim or parameter."""
    return reference_problems(desk.root, [(record.path, record.body_line) for record in pages],
                              lambda: [located.claim.id for located in desk.claims() + desk.parameters()])


def marker_line(text: str, marker: str) -> tuple[int, int] | None:
    """(start, end) of the first line that is exactly `marker`, outside fenced code, or None."""
    for _, start, line in _outside_fences(text):
        if line.strip() == marker and not line.startswith(("    ", "\t")):
            return start, start + len(line)
    return None
