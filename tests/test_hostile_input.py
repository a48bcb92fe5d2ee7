"""Mutated and hostile pages never raise: every run ends in located problems, not a traceback."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

import pytest

from claimdesk.check import check_desk
from claimdesk.explain import explain
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


# Values a contributor might plausibly write in a field, right or wrong: the desk must take every
# combination without a traceback, in validate, check and explain alike.
FIELD_VALUES = {
    "check": ["cost_per_mtok", "bacth * 2", "tokens_to_repay_capex", "break_even_batch / batch", "low(x) + 1",
              "mid(cost_per_mtok)", "1 / (batch - batch)", "gross_margin ** 2", "price_per_mtok ^ 2", "1e308 * 1e308",
              "(-1) ** 0.5", "high(price_per_mtok)", "", "'text'", "max(batch, 1)", "min()"],
    "given": ["{batch: 40}", "{bacth: 40}", "{batch: 0}", "{batch: -1}", "{cost_per_mtok: 3}", "{batch: 1e300}",
              "{}", "[40]", "40", "{batch: '40'}", "{price_per_mtok: 0, batch: 40}"],
    "unit": ["USD/Mtok", "USD", "%", "tok", "USD bn", "tok/s", "x", "parsecs", "", "USD/Mtok/s", "USD/h"],
    "value": ["2.19", "'~2.19'", "[1, 2]", "'>0.5'", "'<=3'", "0", "-5", "[2, 1]", "'~0'", "1e-300", "'abc'"],
    "tolerance": ["0.01", "'5%'", "'-1%'", "0", "abc"],
}


def semantic_mutation(page: str, rng: random.Random) -> str:
    """Set a few claim fields to other plausible values (keeping the YAML well formed)."""
    lines = page.split("\n")
    claim_starts = [i for i, line in enumerate(lines) if line.startswith("  - id: ")]
    for _ in range(rng.randint(1, 6)):
        if not claim_starts:
            break
        at = rng.choice(claim_starts)
        key = rng.choice(sorted(FIELD_VALUES))
        lines.insert(at + 1, f"    {key}: {rng.choice(FIELD_VALUES[key])}")
        # drop an existing line of that field in this claim, so the key stays unique
        end = next((i for i in range(at + 2, len(lines)) if not lines[i].startswith("    ")), len(lines))
        for i in range(at + 2, end):
            if lines[i].startswith(f"    {key}:"):
                while i + 1 < end and lines[i + 1].startswith("      "):  # its continuation lines
                    del lines[i + 1]
                    end -= 1
                del lines[i]
                break
        claim_starts = [i for i, line in enumerate(lines) if line.startswith("  - id: ")]
    return "\n".join(lines)


@pytest.mark.parametrize("seed", range(12))
def test_semantic_mutations_never_raise(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    pages = {}
    for source in sorted((REPO / "kb").glob("*.md")):
        pages[f"kb/{source.name}"] = semantic_mutation(source.read_text(encoding="utf-8"), rng)
    root = write_desk(tmp_path / "desk", pages)
    (root / "data" / "sources.yaml").write_text((REPO / "data" / "sources.yaml").read_text(encoding="utf-8"))
    desk = load_desk(root)
    problems = validate_desk(desk)
    assert all(p.path and isinstance(p.line, int) and p.message for p in problems)
    run = check_desk(desk, dt.date(2026, 11, 22))
    assert {r.claim_id for r in run.results} == {c.claim.id for c in desk.claims()} | \
        {p.claim.id for p in desk.parameters()}
    errors = [r for r in run.results if r.status == "error"]
    assert errors  # the mutations do reach the checker
    # explain builds its own checker (and model) per call: a sample of errors and of the rest
    for result in rng.sample(errors, min(4, len(errors))) + rng.sample(run.results, 2):
        assert explain(desk, result.claim_id, dt.date(2026, 11, 22)).result == result
