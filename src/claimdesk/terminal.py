"""What reaches the terminal: every line claimdesk prints passes through here.

A desk's text (a value, a stance, a key, a source's title, a check, a page's name) is written by
contributors, and an escape sequence in it (cursor up, erase line, conceal) would let a message
erase itself or a table show what is not there, in a terminal or in a CI log that renders colours.
Escaping each value where it is formatted would need every printer, now and later, to remember;
so the `claimdesk` command wraps stdout and stderr once, and every control character that is not
a newline or a tab is written as an escape (`\\x1b`). claimdesk's own output uses no colours or
cursor movement, so nothing legitimate is lost. Newlines inside a single value are escaped where
the value is formatted (`problems.printable`), since at this level they cannot be told from the
lines around them.
"""

from __future__ import annotations

import sys
from typing import Any, TextIO

from .problems import printable


class EscapingStream:
    """A text stream that escapes control characters (but newlines and tabs) before writing."""

    def __init__(self, stream: TextIO):
        self._stream = stream

    def write(self, text: str) -> int:
        self._stream.write(printable(text, keep="\n\t"))
        return len(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:
        if name == "buffer":  # writing bytes around the escaping is not offered
            raise AttributeError(name)
        return getattr(self._stream, name)


def guard_output() -> None:
    """Wrap sys.stdout and sys.stderr (once) so that nothing printed can drive the terminal."""
    if not isinstance(sys.stdout, EscapingStream):
        sys.stdout = EscapingStream(sys.stdout)  # type: ignore[assignment]
    if not isinstance(sys.stderr, EscapingStream):
        sys.stderr = EscapingStream(sys.stderr)  # type: ignore[assignment]
