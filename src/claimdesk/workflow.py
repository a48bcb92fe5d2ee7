"""The researcher's edits, proposed and proven before anything is written.

`propose_claim` (claimdesk add), `propose_update` (claimdesk update), `propose_source`
(claimdesk source add) and `propose_page` (claimdesk new) each return a `Proposal`: the new bytes
of every file it changes (computed by edit.py's splices), a unified diff, and what the change does
to the desk. For claims that is found exactly as `claimdesk validate` and `claimdesk check` find
it: the desk is read, the edited page replaces the page in memory, and validate.py's and
check.py's own functions run on that desk (before and after, so that the statuses the change
alters elsewhere are shown). `Proposal.write()` commits the files atomically (edit.commit), each
refusing when its file changed on disk since it was read. Nothing here prints or prompts; the CLI
(cli_edit.py) does.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import difflib
import re
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import duplicates, edit
from .check import check_desk
from .frontmatter import Loaded, parse_yaml
from .kb import SOURCES_FILE, Desk, Located, find_root, load_desk, load_page
from .model import build_model
from .problems import DeskError, Problem
from .results import CheckRun, Result
from .schema import ID_PATTERN, Source
from .schema import validate as validate_model
from .validate import validate_desk

_ID = re.compile(ID_PATTERN)
TRACKING = re.compile(r"^(utm_.*|fbclid|gclid|dclid|mc_cid|mc_eid|ref|ref_src|igshid|si|_hsenc|_hsmi|mkt_tok)$", re.I)
TITLE_WARNING = 90.0  # a title this close (rapidfuzz ratio after default processing) to another source's is named


@dataclass
class FileChange:
    path: Path
    rel: str
    before: bytes | None  # None: a new file
    after: bytes

    def diff(self) -> str:
        old = [] if self.before is None else _lines(self.before)
        return "".join(difflib.unified_diff(old, _lines(self.after), "/dev/null" if self.before is None
                                            else f"a/{self.rel}", f"b/{self.rel}"))


@dataclass
class Near:
    """An existing claim (or source) close to the proposed one."""

    key: str  # claim id or source id
    path: str
    line: int
    score: float
    kind: str  # duplicate, conflict (a conflict candidate), similar title, same url
    why: str
    text: str


@dataclass
class Effect:
    """A claim whose status the change alters."""

    claim_id: str
    path: str
    before: str | None  # None: the claim is new
    after: str | None  # None: the claim is gone
    reason: str
    dependent: bool  # its check uses the edited claim


@dataclass
class Proposal:
    changes: list[FileChange]
    key: str  # the new claim's (source's, page's) id or path
    problems: list[Problem] = field(default_factory=list)  # format problems the change brings (validate's)
    result: Result | None = None  # the checker's result for the new or changed claim
    near: list[Near] = field(default_factory=list)
    effects: list[Effect] = field(default_factory=list)
    already: str | None = None  # set when the desk already holds exactly this: where
    notes: list[str] = field(default_factory=list)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    def diff(self) -> str:
        return "".join(change.diff() for change in self.changes)

    def write(self) -> None:
        for change in self.changes:
            edit.commit(change.path, change.rel, change.before, change.after)


def _lines(raw: bytes) -> list[str]:
    # Shown with "\n" whatever the file's line endings: the diff is for reading, the file keeps its own.
    text = raw.decode("utf-8", "replace").removeprefix("\ufeff")
    lines = [line.rstrip("\r\n") + "\n" for line in text.splitlines(keepends=True)]
    if lines and not text.endswith(("\n", "\r")):
        lines[-1] += "\\ No newline at end of file\n"
    return lines


# -- values typed as a page would read them --------------------------------------------------------
def yaml_input(text: str, what: str) -> Any:
    """A value typed on the command line, read exactly as the same text written in a page would be
    (`13` a number, `~13` text, `[2, 4]` a range, `2026-05` a period)."""
    loaded = parse_yaml(f"v: {text}\n", f"--{what}")
    if loaded.problems or not isinstance(loaded.data, dict) or set(loaded.data) != {"v"}:
        detail = "; ".join(p.message for p in loaded.problems) or "not a single value"
        raise DeskError(f"--{what} {text!r}: {detail}")
    return loaded.data["v"]


def suggest_id(text: str, taken: set[str], prefix: str = "") -> str:
    """lower_snake_case from the text's first meaningful words, unique among `taken`."""
    words = [w.replace(".", "_") for w in re.findall(r"[a-z0-9]+(?:\.[0-9]+)?", text.lower().replace("'s", ""))
             if w not in _STOP]
    base = "_".join(words[:6])[:50].strip("_") or "claim"
    if prefix:
        base = f"{prefix}_{base}"[:50].strip("_")
    if not base[0].isalpha():
        base = "c_" + base
    candidate, n = base, 2
    while candidate in taken:
        candidate, n = f"{base}_{n}", n + 1
    return candidate


_STOP = frozenset("a an the of to in on at for by is are was were be been its it that this and or as with from "
                  "about around roughly some".split())


# -- claims ---------------------------------------------------------------------------------------
def propose_claim(desk_path: Path | str | None, page: str | Path, fields: dict[str, Any],
                  today: dt.date | None = None, after_id: str | None = None, subject: str | None = None) -> Proposal:
    """The proposal for adding a claim holding `fields` (in that order; `id` suggested from the
    text when missing) to `page`, after the claim `after_id` (default: the last). `subject`: the
    claim whose dependents the effects mark (default: the new claim)."""
    root = find_root(desk_path)
    rel = edit.page_path(root, page)
    target = edit.read_page(root, rel)
    desk = load_desk(root)
    fields = dict(fields)
    suggested = not fields.get("id")
    for index, existing in enumerate(target.claims()):
        # The same add run twice: the same fields (the id too, unless it is to be suggested).
        if isinstance(existing, dict) and edit.canonical(_without_id(existing, suggested)) == \
                edit.canonical(_without_id(fields, suggested)):
            line = target.loaded.line_of(("claims", index))
            return Proposal([], str(existing.get("id")), already=f"{rel}:{line}")
    if suggested:
        fields = {"id": suggest_id(str(fields.get("text", "")), _ids(desk)), **fields}
    after = None
    if after_id is not None:
        after = next(i for i, c in enumerate(target.claims()) if isinstance(c, dict) and c.get("id") == after_id)
    new = edit.insert_claim(target, fields, after)
    index = len(target.claims()) if after is None else after + 1
    proposal = _judged(desk, target, new, str(fields["id"]), index, today, subject)
    others = [located for located in desk.claims() if located.claim.id != after_id]
    proposal.near = near_claims(str(fields.get("text", "")), others)
    return proposal


def propose_update(desk_path: Path | str | None, claim_id: str, value: Any, as_of: Any,
                   source: str | None = None, text: str | None = None, new_id: str | None = None,
                   replace: bool = False, today: dt.date | None = None) -> Proposal:
    """A newer figure for a claim: a new dated claim next to it on the same metric (default), or the
    figure replaced in place (`replace`). Either way the effects list every claim whose status
    changes, dependents marked."""
    root = find_root(desk_path)
    desk = load_desk(root)
    located = _find(desk, claim_id)
    target = edit.read_page(root, located.path)
    index = int(located.field[len("claims["):-1])
    raw = dict(target.claims()[index])
    sources = list(raw.get("sources") or [])
    if replace:
        changes: dict[str, Any] = {"value": value, "as_of": as_of}
        if source and source not in sources:
            changes["sources"] = [*sources, source]
        if text:
            changes["text"] = text
        new = edit.replace_fields(target, index, changes)
        return _judged(desk, target, new, claim_id, index, today, subject=claim_id)
    if not raw.get("metric"):
        raise DeskError(Problem(located.path, located.line, f"{located.field}.metric",
                                f"'{claim_id}' has no metric: a newer figure is added as a claim on the same metric, "
                                "so give the claim a `metric:` first (or use --replace)"))
    fields = {**raw, "value": value, "as_of": as_of}
    if source:
        fields["sources"] = [source]
    if text:
        fields["text"] = text
    fields["id"] = new_id or suggest_id(f"{claim_id} {as_of}", _ids(desk))
    fields = {"id": fields.pop("id"), **fields}
    return propose_claim(root, located.path, fields, today, after_id=claim_id, subject=claim_id)


def _without_id(fields: dict[str, Any], drop: bool) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if not (drop and k == "id")}


def _judged(desk: Desk, target: edit.Page, new: bytes, key: str, index: int, today: dt.date | None,
            subject: str | None = None) -> Proposal:
    """Validate and check the desk with the page's new bytes, in memory, as validate and check do.
    The problems shown: every problem of the edited claim (claims[index] on the page), and the
    desk's other problems that the edit brings (new on the page, or naming the claim's id)."""
    record = load_page(target.rel, new)
    pages = [record if p.path == target.rel else p for p in desk.pages]
    after = dataclasses.replace(desk, pages=pages)
    model_before, model_after = build_model(desk), build_model(after)
    before_problems = set(_problem_keys(validate_desk(desk, model_before)))
    own = f"claims[{index}]"
    problems = [p for p in validate_desk(after, model_after)
                if (p.path == target.rel and (p.field == own or p.field.startswith((own + ".", own + "["))))
                or (_key(p) not in before_problems and (p.path == target.rel or key in p.message))]
    run_before, run_after = check_desk(desk, today, model_before), check_desk(after, today, model_after)
    proposal = Proposal([edit_change(target, new)], key, problems)
    proposal.result = run_after.by_id().get(key)
    proposal.effects = effects(run_before, run_after, subject or key, skip=key)
    return proposal


def edit_change(target: edit.Page, new: bytes) -> FileChange:
    return FileChange(target.path, target.rel, target.text.raw, new)


def _problem_keys(problems: list[Problem]) -> list[tuple[str, str, str]]:
    return [_key(p) for p in problems]


def _key(problem: Problem) -> tuple[str, str, str]:
    # Without the line: an insertion moves the lines of the problems below it.
    return problem.path, re.sub(r"claims\[\d+\]", "claims[]", problem.field), re.sub(r":\d+\b", "", problem.message)


def effects(before: CheckRun, after: CheckRun, subject: str, skip: str | None = None) -> list[Effect]:
    """Every claim whose status differs between the runs, and every claim whose check uses `subject`."""
    old, new = before.by_id(), after.by_id()
    out = []
    for claim_id, result in new.items():
        if claim_id == skip:
            continue
        previous = old.get(claim_id)
        dependent = subject in result.depends_on
        if dependent or previous is None or previous.status != result.status:
            out.append(Effect(claim_id, result.path, previous.status if previous else None, result.status,
                              result.reason, dependent))
    for claim_id, result in old.items():
        if claim_id not in new:
            out.append(Effect(claim_id, result.path, result.status, None, "", False))
    return out


def near_claims(text: str, claims: list[Located], limit: int = 5) -> list[Near]:
    """The claims whose text duplicates `text` or is a conflict candidate for it (duplicates.py)."""
    found = duplicates.near_duplicates(text, [c.claim.text for c in claims], limit=limit)
    return [Near(claims[m.index].claim.id, claims[m.index].path, claims[m.index].line, m.score, m.kind, m.why,
                 claims[m.index].claim.text) for m in found]


def _find(desk: Desk, claim_id: str) -> Located:
    for located in desk.claims():
        if located.claim.id == claim_id:
            return located
    from .problems import did_you_mean

    if any(p.claim.id == claim_id for p in desk.parameters()):
        raise DeskError(f"'{claim_id}' is a model parameter (data/models/); edit its file by hand")
    raise DeskError(f"no claim '{claim_id}' in the desk{did_you_mean(claim_id, _ids(desk))}")


def _ids(desk: Desk) -> set[str]:
    return {c.claim.id for c in desk.claims()} | {p.claim.id for p in desk.parameters()} | \
        {r.claim_id for r in desk.references() if r.claim_id}


# -- sources --------------------------------------------------------------------------------------
def normalise_url(url: str) -> str:
    """The URL as compared for duplicates: scheme and `www.` dropped, host lower-cased, trailing
    slash, fragment and tracking parameters (utm_*, fbclid, gclid, ref, ...) removed, the other
    query parameters sorted."""
    parts = urllib.parse.urlsplit(url.strip())
    host = (parts.hostname or "").lower().removeprefix("www.")
    if parts.port and parts.port not in (80, 443):
        host += f":{parts.port}"
    query = sorted((k, v) for k, v in urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
                   if not TRACKING.match(k))
    path = parts.path.rstrip("/")
    return host + path + ("?" + urllib.parse.urlencode(query) if query else "")


def propose_source(desk_path: Path | str | None, entry: dict[str, Any], key: str | None = None) -> Proposal:
    """Append a source to data/sources.yaml. Refuses a URL that normalises to an existing one;
    names (in `near`) a source with a near-identical title."""
    from rapidfuzz import fuzz, utils

    root = find_root(desk_path)
    desk = load_desk(root, paths=[])
    url = entry.get("url")
    if url:
        wanted = normalise_url(str(url))
        for other_id, other in desk.sources.items():
            if other.url and normalise_url(other.url) == wanted:
                raise DeskError(Problem(SOURCES_FILE, desk.source_lines[other_id], other_id,
                                        f"already lists this URL ({other.url}); cite '{other_id}' instead"))
    key = key or suggest_id(" ".join(str(entry.get(k) or "") for k in ("publisher", "title"))
                            if entry.get("publisher") else str(entry.get("title", "")), set(desk.source_lines))
    if key in desk.source_lines:
        raise DeskError(Problem(SOURCES_FILE, desk.source_lines[key], key, "a source with this id already exists"))
    if not _ID.fullmatch(key):
        raise DeskError(f"source id '{key}' is not lower_snake_case (a letter, then letters, digits or _)")
    source, problems = validate_model(Source, entry, Loaded(), SOURCES_FILE, (key,))
    if source is None:
        raise DeskError([Problem(SOURCES_FILE, 0, p.field, p.message) for p in problems])
    path = root / SOURCES_FILE
    edit.writable(path, SOURCES_FILE)
    raw = path.read_bytes()
    proposal = Proposal([FileChange(path, SOURCES_FILE, raw, edit.append_entry(raw, SOURCES_FILE, key, entry))], key)
    title = utils.default_process(str(entry.get("title", "")))
    for other_id, other in desk.sources.items():
        score = fuzz.ratio(title, utils.default_process(other.title))
        if score >= TITLE_WARNING:
            proposal.near.append(Near(other_id, SOURCES_FILE, desk.source_lines[other_id], score, "similar title",
                                      f"title {score:.0f}/100", other.title))
    return proposal


# -- pages ----------------------------------------------------------------------------------------
PAGE_TEMPLATE = """---
title: {title}
tags: []
claims: []
---

# {heading}

"""


def slug(title: str) -> str:
    words = re.findall(r"[a-z0-9]+", title.lower())
    return "-".join(words)[:60].strip("-") or "page"


def propose_page(desk_path: Path | str | None, title: str, name: str | None = None) -> Proposal:
    """A new page kb/<slug>.md from the template, and (when mkdocs.yml lists its nav) its nav entry."""
    root = find_root(desk_path)
    if not title.strip() or "\n" in title or len(title) > 200:
        raise DeskError("the title must be one line of at most 200 characters")
    rel = f"kb/{slug(name or title)}.md"
    if name and not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,59}", name):
        raise DeskError(f"--name '{name}' must be lower-case letters, digits and '-' (at most 60)")
    path = root / rel
    if path.exists() or path.is_symlink():
        raise DeskError(Problem(rel, 0, "", "already exists; add claims to it with `claimdesk add`"))
    heading = re.sub(r"[\x00-\x1f\x7f]", "", title).strip()
    content = PAGE_TEMPLATE.format(title=edit.yaml_value(heading), heading=heading.replace("#", "\\#")).encode("utf-8")
    record = load_page(rel, content)
    if record.problems or record.page is None:
        raise DeskError(record.problems or "the template did not read back")
    changes = [FileChange(path, rel, None, content)]
    nav = edit.add_nav_entry(root, heading, rel.removeprefix("kb/"))
    notes = []
    if nav is not None:
        changes.append(FileChange(root / "mkdocs.yml", "mkdocs.yml", nav[0], nav[1]))
    else:
        notes.append("mkdocs.yml has no explicit nav: MkDocs lists the page by itself")
    return Proposal(changes, rel, notes=notes)


def typed_fields(options: dict[str, Any], extra: list[str]) -> dict[str, Any]:
    """A claim's fields from command-line text: text fields as written, values read as a page would
    read them, `given` and `--field KEY=VALUE` pairs. Keeps the format's order."""
    fields: dict[str, Any] = {}
    for name in ("id", "text", "stance"):
        if options.get(name):
            fields[name] = str(options[name])
    if options.get("sources"):
        fields["sources"] = [s.strip() for item in options["sources"] for s in item.split(",") if s.strip()]
    if options.get("as_of"):
        fields["as_of"] = yaml_input(options["as_of"], "as-of")
    if options.get("value"):
        fields["value"] = yaml_input(options["value"], "value")
    for name in ("unit", "metric", "check"):
        if options.get(name):
            fields[name] = str(options[name])
    if options.get("given"):
        given: dict[str, Any] = {}
        for pair in options["given"]:
            key, _, number = pair.partition("=")
            given[key.strip()] = yaml_input(number.strip(), "given")
        fields["given"] = given
    for pair in extra:
        key, sep, text = pair.partition("=")
        if not sep or not key.strip():
            raise DeskError(f"--field {pair!r}: write KEY=VALUE, e.g. --field review_by=2026-12-31")
        fields[key.strip()] = yaml_input(text.strip(), f"field {key.strip()}")
    return fields



def claim_text(desk_path: Path | str | None, claim_id: str) -> str:
    """The text of a page claim (DeskError when there is none)."""
    return _find(load_desk(desk_path), claim_id).claim.text
