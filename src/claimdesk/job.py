"""The desk's main job: read the desk, bring the store up to date, check, record the run.

`claimdesk check` and (later) the nightly report call `check_and_record`; keeping the sequence in
one place means both see the same desk, the same store and the same run.

Incremental runs. When the store holds a previous run that depended on exactly what this one
depends on (see `_base`: the same `today`, model files, sources, settings and claimdesk code, no
ingest in between, and the run's whole problem list stored), only what an edit can affect is
checked again:

- C, the changed pages: added, edited or removed since that run, and every page with format
  problems (those are read in full on every ingest anyway).
- D, the dirty claims: every claim on C (before and after), every claim of a metric a claim on C
  has or had, or that any claim with one of their ids has (their conflicts may change), the previous run's `error` claims when the list of ids
  changed (a "did you mean" hint names the closest id of the whole desk), and then every claim
  whose check names one of those, transitively.
- The checker (unchanged, check.py) runs on a sub-desk holding D, everything D's checks reach
  (values, staleness and cycles follow those) and every claim of D's metrics, each id with all its
  occurrences so that the first one wins as in a full run. Only D's results are recorded; every
  other claim's result version simply carries on into the new run (store.py, result_versions).
- Validation runs validate.py's rules scoped to C's pages, the ids on C (and any duplicated id),
  and C's metrics, with the rest of the desk's context read from the store; the problems owned by
  anything else are carried over.

The result is the same as a full run's, result for result and problem for problem
(tests/test_incremental.py edits a desk at random and compares after every edit). Whatever the
incremental run cannot vouch for makes it a full run instead.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from .check import Checker, check_desk
from .dependencies import RunContext, run_context
from .dependencies import record as record_dependencies
from .kb import Desk, PageRecord, Reference, load_desk, page_claims, page_references
from .model import Model, build_model, model_fingerprint
from .problems import DeskError, Problem, did_you_mean
from .results import CheckRun, Listed, Result, Tally
from .validate import OWNER_KINDS, MetricClaim, Scope, merged, mkdocs_hash, owned_problems, validate_desk

if TYPE_CHECKING:
    from .store import IngestStats, Store

_T = TypeVar("_T")


@dataclass
class CheckOutcome:
    desk: Desk  # in an incremental run only the pages it read: use it for settings, not for claims
    problems: list[Problem]  # format problems (errors and warnings) found by validate
    # The run, or None after an incremental run: most of its results were never in memory, and
    # they are read back from the store (the file at `store_file`) when they are asked for.
    _run: CheckRun | None
    run_id: int | None = None  # the run's id in the store; None when no store was used
    store: str | None = None  # the store's label, for messages
    phases: dict[str, float] = field(default_factory=dict)  # seconds per step, for benchmarks
    incremental: str | None = None  # "37 of 100,000 claims re-checked" when the run was incremental
    store_file: Path | None = None

    @property
    def run(self) -> CheckRun:
        """The whole run, every result (read back once from the store after an incremental run)."""
        if self._run is None:
            start = time.perf_counter()
            self._run = self._read(lambda store: store.stored_run(self._recorded()))
            self.phases["read_back"] = time.perf_counter() - start
        return self._run

    def results(self, statuses: Collection[str] | None = None) -> list[Result]:
        """The results with one of `statuses` (all when None), in the checker's order; after an
        incremental run only those are read back from the store."""
        if self._run is not None or statuses is None:
            return [r for r in self.run.results if statuses is None or r.status in statuses]
        return self._read(lambda store: store.stored_run(self._recorded(), statuses)).results

    def tally(self) -> Tally:
        """The run's summary: counts per status and checked coverage."""
        if self._run is not None:
            return self._run.tally()
        return self._read(lambda store: store.run_tally(self._recorded()))

    def listing(self, statuses: Collection[str]) -> tuple[Sequence[Listed], Tally]:
        """What a text listing shows of the results with one of `statuses` (in no particular
        order), and the tally; after an incremental run only that is read back, in one reading."""
        if self._run is not None:
            return [r for r in self._run.results if r.status in statuses], self._run.tally()
        return self._read(lambda store: (store.shown_results(self._recorded(), statuses),
                                         store.run_tally(self._recorded())))

    def scope(self, pages: Collection[str] = (), metrics: Collection[str] = (),
              tags: Collection[str] = ()) -> set[str] | None:
        """The ids of the claims (and parameters) on one of `pages`, of one of `metrics` and on a
        page with one of `tags` (each that is given); None when none is given. Raises DeskError
        for a metric or tag that no claim or page has, with the closest one."""
        if not (pages or metrics or tags):
            return None
        if self.store_file is not None:  # an incremental run read only some pages: ask the store
            rows = self._read(lambda store: store.select(
                "SELECT c.claim_id, c.path, c.metric, p.tags FROM claims c LEFT JOIN pages p USING (path) "
                "UNION ALL SELECT parameter_id, path, metric, NULL FROM parameters"))
        else:
            tags_of = {r.path: list(r.page.tags) if r.page else [] for r in self.desk.pages}
            rows = [(c.claim.id, c.path, c.claim.metric, tags_of.get(c.path)) for c in self.desk.claims()]
            rows += [(p.claim.id, p.path, p.claim.metric, None) for p in self.desk.parameters()]
        known_metrics = {metric for _, _, metric, _ in rows if metric}
        known_tags = {tag for _, _, _, page_tags in rows for tag in page_tags or ()}
        for wanted, known, what in ((metrics, known_metrics, "metric"), (tags, known_tags, "tag")):
            for name in wanted:
                if name not in known:
                    raise DeskError(f"--{what} {name}: no claim has this {what}{did_you_mean(name, known)}")
        return {claim_id for claim_id, path, metric, page_tags in rows
                if (not pages or path in pages) and (not metrics or metric in metrics)
                and (not tags or set(page_tags or ()) & set(tags))}

    def _recorded(self) -> int:
        assert self.run_id is not None
        return self.run_id

    def _read(self, reading: Callable[[Store], _T]) -> _T:
        from .store import Store

        assert self.store_file is not None
        with Store.open(self.store_file) as reader:
            return reading(reader)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]


AfterRecord = Callable[["Store", int, Model], None]


def check_and_record(path: Path | str | None = None, store_file: Path | str | None = None,
                     today: dt.date | None = None, record: bool = True, incremental: bool = True,
                     after_record: AfterRecord | None = None) -> CheckOutcome:
    """Check the desk; with `record`, ingest it into the store first and append the run after.

    The store's write lock is held from ingest to record, so the recorded run describes exactly
    the desk that was ingested. With `incremental` (the default) the run re-checks only what
    changed since the previous run when that is safe (see the module's docstring). The run is
    recorded with what its results depended on (dependencies.py); `after_record(store, run_id,
    model)` then runs in the same transaction (the nightly report is stored with its run)."""
    if not record:
        desk = load_desk(path)
        problems, run = _validate_and_check(desk, today)
        return CheckOutcome(desk, problems, run)
    from .store import open_store

    today = today or dt.date.today()
    started = dt.datetime.now(dt.UTC)
    clock = _Clock()
    with open_store(path, store_file, write=True) as store:
        clock.lap("open")
        stats = store.ingest(path, lazy=True, keep_open=True)  # an incremental run is over in a moment
        assert stats.desk is not None
        clock.lap("ingest")
        model = _model(store, stats.desk)
        base = _base(today, model, stats)
        latest = store.run_base()
        previous = latest if incremental else None
        context = run_context(stats.desk, model, today, CODE_FINGERPRINT)
        changed = set(stats.changed) | set(stats.gone) | stats.problem_pages_before | \
            {r.path for r in stats.desk.pages if r.problems}
        # The claims' recorded fields can differ only on the changed pages when the latest run saw
        # the pages as they were before this ingest and recorded its own dependencies.
        scoped = latest is not None and latest.get("pages_version") == stats.pages_version and \
            bool(store.select("SELECT 1 FROM run_context WHERE run_id = ?", [latest.get("run_id")]))
        also = _recording(store, model, context, changed if scoped else None, after_record)
        if previous is not None and previous == dict(base, run_id=previous.get("run_id")):
            outcome = _incremental(store, stats, model, today, started, base, previous["run_id"], clock, also)
        else:
            outcome = _full(store, stats, model, today, started, base, clock, also)
    clock.lap("close")
    outcome.phases = clock.laps
    return outcome


def model_form_key(desk: Desk) -> str:
    """What the store keeps a model's compiled form under: its files and this code."""
    return f"{model_fingerprint(desk)}:{CODE_FINGERPRINT}"


def _model(store: Store, desk: Desk) -> Model:
    """The desk's model (from the model files only: all of them are read), compiled from the form
    the store keeps for these files and this code when there is one, so that sympy is not imported."""
    key = model_form_key(desk)
    kept = store.model_form(key)
    model = build_model(desk, kept)
    if model.form is not None and model.form != kept:
        store.keep_model_form(key, model.form)
    return model


def _recording(store: Store, model: Model, context: RunContext, pages: set[str] | None,
               after_record: AfterRecord | None) -> Callable[[int], None]:
    """What is recorded with a run, in its transaction: its dependencies, then the caller's."""
    def also(run_id: int) -> None:
        record_dependencies(store, run_id, context, pages)
        if after_record is not None:
            after_record(store, run_id, model)
    return also


def _base(today: dt.date, model: Model, stats: IngestStats) -> dict[str, Any]:
    """What a run's results depend on besides the pages; a run can build on a previous one only
    when all of it is the same."""
    assert stats.desk is not None
    return {"today": today.isoformat(), "model": model.fingerprint, "data": stats.data_hash,
            "settings": stats.desk.settings_hash, "code": CODE_FINGERPRINT, "pages_version": stats.pages_version,
            "nav": mkdocs_hash(stats.desk.root)}


def _full(store: Store, stats: IngestStats, model: Model, today: dt.date, started: dt.datetime,
          base: dict[str, Any], clock: _Clock, also: Callable[[int], None] | None = None) -> CheckOutcome:
    from .git_version import desk_version

    desk = stats.desk
    assert desk is not None
    if stats.unread:
        pages = sorted(desk.pages + store.cached_pages(stats.unread), key=lambda r: r.path)
        desk = dataclasses.replace(desk, pages=pages)
        clock.lap("rebuild")
    store.let_readers_in()  # validating and checking a whole desk takes a while: readers may use the file
    owned = owned_problems(desk, model)
    problems = merged(owned)
    clock.lap("validate")
    run = check_desk(desk, today, model)
    clock.lap("check")
    version = desk_version(desk.root)
    clock.lap("desk_version")
    # The pages version the next run compares with is the one this ingest left.
    run_id = store.record_run(run, version, started=started, problems=owned,
                              base=dict(base, pages_version=stats.pages_version_after), also=also)
    clock.lap("record")
    return CheckOutcome(desk, problems, run, run_id, store.label)


def _incremental(store: Store, stats: IngestStats, model: Model, today: dt.date, started: dt.datetime,
                 base: dict[str, Any], previous_run_id: int, clock: _Clock,
                 also: Callable[[int], None] | None = None) -> CheckOutcome:
    from .git_version import desk_version

    desk = stats.desk
    assert desk is not None
    read = {record.path: record for record in desk.pages}
    changed = set(stats.changed) | set(stats.gone) | stats.problem_pages_before | \
        {r.path for r in desk.pages if r.problems}
    present = [read[path] for path in sorted(changed) if path in read]
    old: dict[str, list[tuple[str, str | None]]] = {}  # path -> [(id, metric)] before
    for path, _, claim_id, metric in stats.previous:
        old.setdefault(path, []).append((claim_id, metric))
    new = {r.path: [(c.id, c.metric) for _, c in r.claims] for r in present}
    seeds = {claim_id for entries in (*old.values(), *new.values()) for claim_id, _ in entries}
    metrics = {metric for entries in (*old.values(), *new.values()) for _, metric in entries if metric}
    # The order of the desk's ids decides "did you mean" and which of two equal ids counts: when it
    # changed, every claim with an error is checked again.
    ids_moved = any([i for i, _ in old.get(path, [])] != [i for i, _ in new.get(path, [])] for path in changed)
    # A check naming a claim with format errors says where that claim is: when a page that has (or
    # had) such claims changed, every claim with an error is checked again too.
    flawed_edit = any(path in stats.problem_pages_before or (path in read and read[path].problems)
                      for path in (*stats.changed, *stats.gone))

    dirty = {claim_id for (claim_id,) in store.select(f"""
        WITH RECURSIVE {_EDGES},
        -- every occurrence counts: a new duplicate can shadow a claim and take it out of its metric
        metrics AS (SELECT path AS metric FROM seed_metrics
                    UNION SELECT metric FROM claims WHERE claim_id IN (SELECT path FROM seed_ids)
                    UNION SELECT metric FROM parameters WHERE parameter_id IN (SELECT path FROM seed_ids)),
        seeds AS (SELECT path AS id FROM seed_ids
                  UNION SELECT claim_id FROM claims WHERE metric IN (SELECT metric FROM metrics)
                  UNION SELECT parameter_id FROM parameters WHERE metric IN (SELECT metric FROM metrics)
                  UNION SELECT claim_id FROM results WHERE run_id = ? AND status = 'error' AND ?),
        dirty(id) AS (SELECT id FROM seeds UNION SELECT e.id FROM edges e JOIN dirty d ON e.name = d.id)
        SELECT id FROM dirty""", [previous_run_id, ids_moved or flawed_edit], seed_ids=seeds, seed_metrics=metrics)}
    loaded = {claim_id for (claim_id,) in store.select(f"""
        WITH RECURSIVE {_EDGES},
        metrics AS (SELECT metric FROM claims WHERE claim_id IN (SELECT path FROM dirty_ids)
                    UNION SELECT metric FROM parameters WHERE parameter_id IN (SELECT path FROM dirty_ids)),
        roots AS (SELECT path AS id FROM dirty_ids
                  UNION SELECT claim_id FROM claims WHERE metric IN (SELECT metric FROM metrics)),
        reach(id) AS (SELECT id FROM roots UNION SELECT e.name FROM edges e JOIN reach r ON e.id = r.id)
        SELECT id FROM reach""", dirty_ids=dirty)}
    pages = [path for (path,) in store.select(
        "SELECT DISTINCT path FROM claims WHERE claim_id IN (SELECT path FROM loaded) ORDER BY path",
        loaded=loaded)]
    clock.lap("plan")

    # The sub-desk: those pages with only the loaded claims (every occurrence of each).
    unread = [path for path in pages if path not in read]
    rebuilt = {r.path: r for r in store.cached_pages(unread)}
    sub_pages = [_only(read[path] if path in read else rebuilt[path], loaded) for path in pages]
    sub_desk = dataclasses.replace(desk, pages=sub_pages)
    clock.lap("rebuild")

    ids_before = {claim_id for entries in old.values() for claim_id, _ in entries}
    problems = _validate_scope(store, desk, model, present, changed, metrics, ids_before)
    clock.lap("validate")

    known_names = cache(lambda: _desk_ids(store, desk))

    def flawed_claims() -> list[Reference]:
        # Claims with format errors are on pages with problems, which every run reads (`desk` holds them).
        valid = set(known_names())
        return [r for r in desk.references() if r.claim_id not in valid]

    run = Checker(sub_desk, today, model, known_names=known_names, flawed_claims=flawed_claims).run()
    results = [r for r in run.results if r.claim_id in dirty]
    clock.lap("check")

    version = desk_version(desk.root)
    clock.lap("desk_version")
    replaced = {"page": changed, "references": problems.referencing, "id": problems.ids, "metric": metrics}
    run_id, claims, every_problem = store.record_incremental(
        previous_run_id, results, dirty, today, model.fingerprint, version, started, problems.owned, replaced,
        dict(base, pages_version=stats.pages_version_after), also)
    clock.lap("record")
    outcome = CheckOutcome(desk, every_problem, None, run_id, store.label, store_file=store.path)
    outcome.incremental = f"{len(results)} of {claims} claims re-checked"  # counts as the input writes them
    return outcome


# Check references as edges (claim or parameter id -> a name its check mentions).
_EDGES = """edges AS (SELECT claim_id AS id, unnest(check_names) AS name FROM claims WHERE check_names IS NOT NULL
                      UNION ALL
                      SELECT parameter_id, unnest(check_names) FROM parameters WHERE check_names IS NOT NULL)"""


@dataclass
class _Validated:
    owned: list[tuple[str, str, Problem]]
    ids: set[str]
    referencing: set[str]  # the pages whose inline references were looked at (and any that are gone)


def _validate_scope(store: Store, desk: Desk, model: Model, present: list[PageRecord], changed: set[str],
                    metrics: set[str], ids_before: set[str]) -> _Validated:
    """validate.py's rules for the changed pages, their ids and their metrics, with the rest of
    the desk read from the store. `ids_before`: the ids the changed pages held before the edit."""
    refs = [ref for record in present for ref in page_references(record) if ref.claim_id]
    ids = {ref.claim_id for ref in refs if ref.claim_id} | {owner for (owner,) in store.select(
        "SELECT DISTINCT owner FROM problems WHERE owner_kind = 'id'")}  # an id duplicated before may be no longer
    elsewhere = store.select("SELECT path, position, id_line, claim_id FROM claims WHERE claim_id IN "
                             "(SELECT path FROM ids) AND path NOT IN (SELECT path FROM changed)",
                             ids=ids, changed=changed)
    occurrences = sorted(
        [(ref.path, int(ref.field[len("claims["):-1]), ref) for ref in refs if ref.claim_id in ids] +
        [(path, position, Reference(path, f"claims[{position}]", claim_id, id_line, []))
         for path, position, id_line, claim_id in elsewhere], key=lambda item: (item[0], item[1]))
    of_metrics = [(path, position, MetricClaim(metric, unit, path, line, f"claims[{position}]"))
                  for path, position, line, metric, unit in store.select(
                      "SELECT path, position, line, metric, unit FROM claims WHERE metric IN (SELECT path FROM metrics) "
                      "AND unit IS NOT NULL AND path NOT IN (SELECT path FROM changed)", metrics=metrics,
                      changed=changed)]
    of_metrics += [(c.path, int(c.field[len("claims["):-1]), MetricClaim(c.claim.metric, c.claim.unit, c.path, c.line,
                                                                         c.field))
                   for record in present for c in page_claims(record)
                   if c.claim.metric in metrics and c.claim.unit]
    cited = {source for (source,) in store.select(
        "SELECT DISTINCT source_id FROM claim_sources WHERE path NOT IN (SELECT path FROM changed)", changed=changed)}
    # Inline references ([[claim:ID]]) to look at: the changed pages', those of the pages that named
    # an unknown id at the last run (the edit may have added it) and, when an id the changed pages
    # held is gone, every page's (a reference to it elsewhere is broken now). The store's claims
    # are the desk's after ingest.
    known_ids = cache(lambda: {claim_id for (claim_id,) in store.select("SELECT claim_id FROM claims")} |
                      {located.claim.id for located in desk.parameters()})
    broken = {path for (path,) in store.select("SELECT DISTINCT owner FROM problems WHERE owner_kind = 'references'")}
    everywhere = bool(ids_before) and bool(ids_before - {claim_id for (claim_id,) in store.select(
        "SELECT claim_id FROM claims WHERE claim_id IN (SELECT path FROM ids)", ids=ids_before)})
    referencing = [(path, body_line) for path, body_line in store.select("SELECT path, body_line FROM pages ORDER BY path")
                   if everywhere or path in changed or path in broken]
    scope = Scope(present, ids, [ref for _, _, ref in occurrences], metrics,
                  [claim for _, _, claim in sorted(of_metrics, key=lambda item: (item[0], item[1]))], cited,
                  referencing, known_ids)
    owned = owned_problems(desk, model, scope)
    assert all(kind in OWNER_KINDS for kind, _, _ in owned)
    return _Validated(owned, ids, {path for path, _ in referencing} | changed | broken)


def _only(record: PageRecord, ids: set[str]) -> PageRecord:
    return dataclasses.replace(record, claims=[(i, claim) for i, claim in record.claims if claim.id in ids])


def _desk_ids(store: Store, desk: Desk) -> list[str]:
    """Every parameter and claim id of the whole desk in the checker's order, each once."""
    ids = dict.fromkeys(p.claim.id for p in desk.parameters())
    ids.update(dict.fromkeys(claim_id for (claim_id,) in store.select(
        "SELECT claim_id FROM claims ORDER BY path, position")))
    return list(ids)


def _validate_and_check(desk: Desk, today: dt.date | None) -> tuple[list[Problem], CheckRun]:
    model = build_model(desk)  # once: validation reports its problems, the checker computes with it
    return validate_desk(desk, model), check_desk(desk, today, model)


def _code_fingerprint() -> str:
    """Changes with any of claimdesk's modules: a run checked by other code is not built upon."""
    digest = hashlib.blake2b(digest_size=8)
    for source in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(source.name.encode() + source.read_bytes())
    return digest.hexdigest()


CODE_FINGERPRINT = _code_fingerprint()


class _Clock:
    def __init__(self) -> None:
        self.last = time.perf_counter()
        self.laps: dict[str, float] = {}

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name] = self.laps.get(name, 0.0) + now - self.last
        self.last = now

