"""What the site shows, gathered once per build: the desk, the store's latest recorded run, the model.

The site never re-checks a claim: statuses are the latest recorded run's. With `check=True` the
store is first brought up to date by the same incremental path as `claimdesk check` (job.py), so
a page saved during `mkdocs serve` shows its new badges; with `check=False` the store is only read.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

from ..check import Checker
from ..explain import Explanation, explain_with
from ..expr import ExprError
from ..kb import Desk, Located, PageRecord, find_root
from ..model import Model, build_model
from ..problems import DeskError, Problem
from ..results import Result, Tally
from ..store import Store, read_desk, store_path
from .refs import desk_reference_problems
from .reports import StoredReport, read_reports

KB = "kb/"


@dataclass
class SiteClaim:
    located: Located
    result: Result | None  # None when the latest run does not hold this claim (edited since, read-only build)
    page: str  # desk-relative path of the page or model file
    kind: str  # "claim" or "parameter"

    @property
    def id(self) -> str:
        return self.located.claim.id


@dataclass
class RunInfo:
    run_id: int
    started: dt.datetime
    today: dt.date
    desk_version: str | None
    tally: Tally


@dataclass
class SiteData:
    root: Path
    desk: Desk
    model: Model
    run: RunInfo
    problems: list[Problem]
    claims: dict[str, SiteClaim]  # by id, first occurrence, parameters first (the checker's order)
    pages: dict[str, PageRecord]  # by desk-relative path
    checked: bool  # True when this build brought the store up to date
    reports: list[StoredReport] = field(default_factory=list)  # the nightly reports kept in the store, newest first
    _checker: Checker | None = field(default=None, repr=False)
    _explained: dict[str, Explanation | None] = field(default_factory=dict, repr=False)
    _by_page: dict[str, list[SiteClaim]] | None = field(default=None, repr=False)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    def page_claims(self, path: str) -> list[SiteClaim]:
        """The claims written on one page, in page order (a duplicated id shows where it is first)."""
        if self._by_page is None:
            self._by_page = {}
            for item in self.claims.values():
                if item.kind == "claim":
                    self._by_page.setdefault(item.page, []).append(item)
        return self._by_page.get(path, [])

    def explanation(self, claim_id: str) -> Explanation | None:
        """The steps `claimdesk explain` shows, with the recorded verdict; None for an unchecked claim."""
        if claim_id not in self._explained:
            item = self.claims.get(claim_id)
            if item is None or item.result is None or not item.located.claim.check:
                self._explained[claim_id] = None
            else:
                if self._checker is None:
                    self._checker = Checker(self.desk, self.run.today, self.model)
                try:
                    self._explained[claim_id] = explain_with(self._checker, claim_id, item.result)
                except (ExprError, ValueError, KeyError):  # the recorded verdict says why; the page still builds
                    self._explained[claim_id] = None
        return self._explained[claim_id]


def load_site(desk: Path | str | None = None, store_file: Path | str | None = None, *, check: bool = True,
              today: dt.date | None = None) -> SiteData:
    """The desk and its latest recorded run. Raises DeskError (naming the command to run) when
    there is no store or no run to read."""
    root = find_root(desk)
    problems: list[Problem] | None = None
    if check:
        from ..job import check_and_record

        problems = check_and_record(root, store_file, today=today).problems
    path = store_path(root, override=store_file)
    if not path.exists():
        raise DeskError(f"there is no store at {path}: run `claimdesk check` first (it checks the desk and records "
                        f"the run the site shows), or let the site check (the plugin's `check: true`)")
    with Store.open(path, root=root) as store:
        stored = store.latest_run()
        if stored is None:
            raise DeskError(f"the store {store.label} holds no check run yet: run `claimdesk check` first")
        tally = store.run_tally(stored.run_id)
        reports = read_reports(store)
        kept_form = store.kept_model_form()  # the compiled model the last check kept: no sympy
        read_only = problems is None
        if problems is None:  # read only: the format problems the latest run recorded
            problems = [Problem(path, line, field_name, message, severity) for path, line, field_name, message, severity
                        in store.select("SELECT path, line, field, message, severity FROM problems "
                                        "ORDER BY path, line, field, message")]
    loaded = read_desk(root, store_file)
    from ..job import model_form_key  # here: job imports the checker's whole pipeline

    model = build_model(loaded, kept_form[1] if kept_form and kept_form[0] == model_form_key(loaded) else None)
    if read_only:
        # The pages may have changed since the recorded run (a check brings its problems up to date,
        # inline references across pages included): a reference that a change broke is found here.
        problems = sorted(set(problems) | set(desk_reference_problems(loaded, loaded.pages)),
                          key=lambda p: (p.path, p.line, p.field, p.message))
    results = stored.run.by_id()
    claims: dict[str, SiteClaim] = {}
    for located in loaded.parameters():
        claims.setdefault(located.claim.id, SiteClaim(located, results.get(located.claim.id), located.path,
                                                      "parameter"))
    for located in loaded.claims():
        claims.setdefault(located.claim.id, SiteClaim(located, _result_for(results, located), located.path, "claim"))
    run = RunInfo(stored.run_id, stored.started, stored.run.today, stored.desk_version, tally)
    return SiteData(root, loaded, model, run, problems, claims, {r.path: r for r in loaded.pages}, check, reports)


def _result_for(results: dict[str, Result], located: Located) -> Result | None:
    result = results.get(located.claim.id)
    return result if result is not None and result.path == located.path else None
