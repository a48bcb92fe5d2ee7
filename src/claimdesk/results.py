"""What a check run produces: one `Result` per claim, gathered in a `CheckRun`.

These plain records are the boundary between the checker and everything downstream (the store,
the report, the site): downstream code reads them and never re-checks.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from typing import NamedTuple

from .schema import STATUSES

SEVERITY = {status: rank for rank, status in enumerate(STATUSES)}  # 0 is the most severe


@dataclass(slots=True)  # not frozen: a frozen dataclass's __init__ costs twice as much, per claim
class Result:
    claim_id: str
    path: str  # desk-relative file the claim is written in
    line: int
    status: str  # one of schema.STATUSES
    reason: str  # why, in words: the deciding finding first
    also: tuple[str, ...] = ()  # the other findings, each "status: reason"
    stated: str | None = None  # the value as written, with its unit: "~2.19 USD/Mtok"
    recomputed: float | None = None  # in the claim's unit
    unit: str | None = None
    relative_error: float | None = None  # (recomputed - stated) / stated, for single-number values
    depends_on: tuple[str, ...] = ()  # claim and parameter ids the check used
    check: str | None = None  # the expression
    kind: str = "claim"  # "claim" (on a page) or "parameter" (an input of the shared model)
    # Findings the claim acknowledges (its `acknowledge:`), each "status: reason (acknowledged: why)";
    # they do not decide `status`.
    acknowledged: tuple[str, ...] = ()
    # A forecast (a claim with `resolves`) once its outcome is known: "held" or "failed", the
    # realised figure in the claim's unit, and what recorded it ("outcome" or the realised claim's id).
    verdict: str | None = None
    outcome: float | None = None
    resolved_by: str | None = None


class Shown(NamedTuple):
    """What a text listing shows of a result (a Result has these fields too): reading only these
    back from the store after an incremental run costs a third of reading whole results."""

    claim_id: str
    path: str
    line: int
    status: str
    reason: str
    also: tuple[str, ...]
    acknowledged: tuple[str, ...]


Listed = Result | Shown  # what results_table lists


@dataclass(frozen=True)
class Tally:
    """What a run's summary says: results per status and how much of the desk is checked."""

    today: dt.date
    model_fingerprint: str
    counts: dict[str, int]  # status -> results, every status present
    claims: int  # results of page claims
    parameters: int  # results of model parameters
    quantitative: int  # page claims with a value
    checked: int  # of those, the ones with a check
    acknowledged: int = 0  # results with at least one acknowledged finding


@dataclass
class CheckRun:
    today: dt.date
    results: list[Result] = field(default_factory=list)
    model_fingerprint: str = ""

    def counts(self) -> dict[str, int]:
        tally = Counter(r.status for r in self.results)
        return {status: tally.get(status, 0) for status in STATUSES}

    def tally(self) -> Tally:
        claims = [r for r in self.results if r.kind == "claim"]
        quantitative = [r for r in claims if r.stated is not None]
        return Tally(self.today, self.model_fingerprint, self.counts(), len(claims), len(self.results) - len(claims),
                     len(quantitative), sum(1 for r in quantitative if r.check),
                     sum(1 for r in self.results if r.acknowledged))

    def by_id(self) -> dict[str, Result]:
        return {r.claim_id: r for r in self.results}
