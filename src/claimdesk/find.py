"""Finding claims and showing one: fuzzy search over the desk, and a claim with everything around it.

`find` scores every claim (its text, id and metric, `_` read as a space) and every source (its
title and id) against a query: the mean of rapidfuzz's `token_set_ratio` (100 when every word of
the query is in the field: here a subset is what is wanted) and `WRatio` (how close the whole
field is), both after `utils.default_process` (lower case, punctuation made spaces); a claim or
source scores its best field, and those scoring 50 or more are returned, best first. `show` gathers one claim's fields as written, its sources, its status
(the checker run in memory, as `claimdesk check --no-store` would), its history across the runs
recorded in the store, what its check uses and what uses it: claims, model quantities (for a
model parameter) and pages that name it in their prose. Both only read.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .check import check_desk
from .kb import Desk, load_desk
from .model import build_model
from .problems import DeskError, did_you_mean
from .results import Result

MAX_QUERY = 200


@dataclass
class Hit:
    score: float
    kind: str  # claim or source
    key: str
    path: str
    line: int
    status: str | None  # claims only
    text: str


def find(desk_path: Path | str | None, query: str, limit: int = 10, today: dt.date | None = None) -> list[Hit]:
    """The claims and sources that best match `query`, best first (score 0-100)."""
    from rapidfuzz import fuzz, process, utils

    query = query[:MAX_QUERY]
    if not utils.default_process(query):
        raise DeskError("the query has no letters or digits to search for")
    desk = load_desk(desk_path)
    run = check_desk(desk, today).by_id()
    entries: list[tuple[str, str, str, int, str | None, str, list[str]]] = []
    for located in desk.claims():
        claim = located.claim
        result = run.get(claim.id)
        entries.append(("claim", claim.id, located.path, located.line, result.status if result else None,
                        claim.text, [claim.text, claim.id.replace("_", " "), (claim.metric or "").replace("_", " ")]))
    for key, source in desk.sources.items():
        entries.append(("source", key, "data/sources.yaml", desk.source_lines.get(key, 0), None, source.title,
                        [source.title, key.replace("_", " ")]))
    fields = [f for entry in entries for f in entry[6]]
    owners = [i for i, entry in enumerate(entries) for _ in entry[6]]
    best: dict[int, float] = {}
    if not fields:
        return []
    covered = process.cdist([query], fields, scorer=fuzz.token_set_ratio, processor=utils.default_process)[0]
    similar = process.cdist([query], fields, scorer=fuzz.WRatio, processor=utils.default_process)[0]
    for position, (coverage, closeness) in enumerate(zip(covered, similar)):
        score = (float(coverage) + float(closeness)) / 2
        if score >= 50:
            owner = owners[position]
            best[owner] = max(best.get(owner, 0.0), score)
    ranked = sorted(best.items(), key=lambda item: (-item[1], item[0]))[:limit]
    return [Hit(score, *entries[i][:6]) for i, score in ranked]


@dataclass
class Shown:
    claim_id: str
    path: str
    line: int
    kind: str  # claim or parameter
    fields: dict[str, Any]  # as written
    sources: list[tuple[str, str]]  # (id, title or "unknown source")
    result: Result | None
    history: list[Any] = field(default_factory=list)  # store.HistoryEntry
    history_note: str = ""
    uses: list[tuple[str, str]] = field(default_factory=list)  # (id, status) of what its check uses
    used_by: list[tuple[str, str, str]] = field(default_factory=list)  # (id, path, status)
    quantities: list[str] = field(default_factory=list)  # model quantities using it (parameters)
    cited_in: list[tuple[str, int]] = field(default_factory=list)  # (page, line) naming it in prose


def show(desk_path: Path | str | None, claim_id: str, today: dt.date | None = None,
         store_file: Path | str | None = None) -> Shown:
    desk = load_desk(desk_path)
    located = next((c for c in desk.parameters() + desk.claims() if c.claim.id == claim_id), None)
    if located is None:
        names = [c.claim.id for c in desk.claims()] + [p.claim.id for p in desk.parameters()]
        raise DeskError(f"no claim '{claim_id}' in the desk{did_you_mean(claim_id, names)}")
    model = build_model(desk)
    run = check_desk(desk, today, model)
    results = run.by_id()
    written = _as_written(desk, located.path, located.field)
    shown = Shown(claim_id, located.path, located.line, "parameter" if located.field.startswith("parameters")
                  else "claim", written, [(s, desk.sources[s].title if s in desk.sources else "unknown source")
                                          for s in located.claim.sources], results.get(claim_id))
    if shown.result:
        shown.uses = [(name, results[name].status if name in results else "") for name in shown.result.depends_on]
    shown.used_by = [(r.claim_id, r.path, r.status) for r in run.results if claim_id in r.depends_on]
    shown.quantities = [name for name, info in model.quantities.items() if claim_id in info.uses]
    shown.cited_in = _prose_mentions(desk, claim_id)
    shown.history, shown.history_note = _history(desk.root, claim_id, store_file)
    return shown


def _as_written(desk: Desk, path: str, where: str) -> dict[str, Any]:
    kind, index = where.split("[")[0], int(where.split("[")[1].rstrip("]"))
    loaded = next((p.loaded for p in desk.pages if p.path == path), None)
    if loaded is None:
        loaded = next((m.loaded for m in desk.models if m.path == path), None)
    data = loaded.data if loaded is not None and isinstance(loaded.data, dict) else {}
    items = data.get(kind) or []
    return dict(items[index]) if index < len(items) and isinstance(items[index], dict) else {}


def _prose_mentions(desk: Desk, claim_id: str) -> list[tuple[str, int]]:
    """Lines of page bodies that name the claim id: as a word when the id holds an underscore
    (`oracle_pipeline` is no English word), only as `code` when it does not (`batch` is one)."""
    word = rf"(?<![A-Za-z0-9_]){re.escape(claim_id)}(?![A-Za-z0-9_])"
    pattern = re.compile(word if "_" in claim_id else rf"`{re.escape(claim_id)}`")
    found = []
    for record in desk.pages:
        try:
            text = (desk.root / record.path).read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError):
            continue
        for number, line in enumerate(text.splitlines(), start=1):
            if number >= record.body_line and pattern.search(line):
                found.append((record.path, number))
    return found


def _history(root: Path, claim_id: str, store_file: Path | str | None) -> tuple[list[Any], str]:
    from .store import open_store, store_path

    if store_file is None and not store_path(root).exists():
        return [], "no store yet: run `claimdesk check` to record runs"
    try:
        with open_store(root, store_file) as store:
            return store.history(claim_id), ""
    except DeskError as exc:
        return [], str(exc.problems[0].message if exc.problems else exc)
