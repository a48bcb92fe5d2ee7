"""YAML's own errors in the words of the mistake a researcher made.

libyaml says "mapping values are not allowed in this context" or "did not find expected comment
or line break"; the author wrote a colon in a sentence, indented a key by one space too many, or
started a value with `>`. This module looks at the offending line and says what to quote or
indent. It only words messages; frontmatter.py reads the YAML.
"""

from __future__ import annotations

import re

_KEY_LINE = re.compile(r"^(?P<indent>\s*)(?P<dash>-\s+)?(?P<key>[A-Za-z_][A-Za-z0-9_]*):(?:\s+(?P<value>.*))?$")
_SPECIAL_START = {">": "a folded block", "|": "a literal block", "@": "a reserved character", "`": "a reserved character",
                  "%": "a directive", "&": "an anchor", "*": "an alias", "!": "a tag"}


def yaml_error_message(problem: str, lines: list[str], line: int) -> str:
    """The message for libyaml's `problem` at 0-based `line` of `lines`."""
    text = lines[line] if 0 <= line < len(lines) else ""
    if not text.isprintable():  # the hint quotes the line: nothing that a terminal would act on
        return f"invalid YAML: {problem}"
    hint = _value_hint(text) or _indent_hint(lines, line)
    return f"invalid YAML: {problem}" + (f"; {hint}" if hint else "")


def _value_hint(text: str) -> str | None:
    match = _KEY_LINE.match(text)
    if not match or not match["value"]:
        return None
    key, value = match["key"], match["value"].strip()
    if value[:1] in ("'", '"', "[", "{"):
        return None
    if ": " in value or value.endswith(":") or " #" in value:
        escaped = value.replace("\\", "\\\\").replace('"', '\\"')
        what = "': '" if ": " in value or value.endswith(":") else "' #' (a comment)"
        return f"the value of '{key}' contains {what}, which YAML reads as structure; quote the whole value: " \
               f"{key}: \"{escaped}\""
    if value[:1] in _SPECIAL_START:
        escaped = value.replace("\\", "\\\\").replace('"', '\\"')
        return f"a value starting with '{value[0]}' is read by YAML as {_SPECIAL_START[value[0]]}; quote it: " \
               f"{key}: \"{escaped}\""
    return None


def _indent_hint(lines: list[str], line: int) -> str | None:
    """A key indented differently from the key on the line above, within one mapping."""
    text = lines[line] if 0 <= line < len(lines) else ""
    match = _KEY_LINE.match(text)
    if not match or line == 0:
        return None
    above = next((lines[i] for i in range(line - 1, -1, -1) if lines[i].strip()), "")
    above_match = _KEY_LINE.match(above)
    if not above_match:
        return None
    here = len(match["indent"])
    there = len(above_match["indent"]) + len(above_match["dash"] or "")
    if here == there or match["dash"]:
        return None
    return f"'{match['key']}:' is indented {here} spaces but '{above_match['key']}:' above it {there}; keys of one " \
           f"claim line up: indent it with {there} spaces"
