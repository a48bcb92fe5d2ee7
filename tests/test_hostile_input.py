"""Mutated and hostile pages never raise: every run ends in located problems, not a traceback."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

import pytest

from claimdesk.check import check_desk
from claimdesk.kb import load_desk
from claimdesk.validate import validate_desk

from .conftest import REPO, write_desk

SNIPPETS = ["\t", "\r", "\x00", "\ufeff", "---", "...", "&a ", "*a", "!!python/object ", "<<: ", "? ", "[", "]",
            "{", "}", ": ", "- ", "'", '"', "#", "|", ">", "~", "1e999", ".nan", "NO", "2024-02-30", "%", "@",
            "`", "\\", "é", "💥", "\n  - ", "value: ", "check: ", "__import__('os')", "9**9**9", "(" * 50]


def mutate(text: str, rng: random.Random) -> str:
    for _ in range(rng.randint(1, 4)):
        at = rng.randrange(len(text) + 1)
        action = rng.random()
        if action < 0.4:
            text = text[:at] + rng.choice(SNIPPETS) + text[at:]
        elif action < 0.7:
            text = text[:at] + text[at + rng.randint(1, 20):]
        else:
            text = text[:at] + text[at:][::-1][:rng.randint(0, 30)][::-1] + text[at:]
    return text


@pytest.mark.parametrize("seed", range(40))
def test_mutated_pages_give_problems_not_tracebacks(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    source = (REPO / "kb" / "economics-of-a-token.md").read_text(encoding="utf-8")
    pages = {f"kb/m{i}.md": mutate(source.replace("id: ", f"id: m{i}_"), rng) for i in range(5)}
    root = write_desk(tmp_path / "desk", pages)
    for rel in pages:
        (root / rel).write_bytes(pages[rel].encode("utf-8", "surrogatepass"))
    desk = load_desk(root)
    problems = validate_desk(desk)
    assert all(p.path and isinstance(p.line, int) and p.message for p in problems)
    check_desk(desk, dt.date(2026, 11, 22))  # whatever was valid is checked without raising


def test_random_bytes(tmp_path: Path) -> None:
    rng = random.Random(7)
    pages: dict[str, str | bytes] = {f"kb/r{i}.md": bytes(rng.randrange(256) for _ in range(400)) for i in range(10)}
    pages["kb/r_front.md"] = b"---\n" + bytes(rng.randrange(256) for _ in range(400)) + b"\n---\n"
    desk = load_desk(write_desk(tmp_path / "desk", pages))
    problems = validate_desk(desk)
    assert {p.path for p in problems} >= {f"kb/r{i}.md" for i in range(10)} - {"kb/base.md"}
