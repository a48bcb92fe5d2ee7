"""The desk's main job: read the desk, bring the store up to date, check, record the run.

`claimdesk check` and (later) the nightly report call `check_and_record`; keeping the sequence in
one place means both see the same desk, the same store and the same run.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from .check import check_desk
from .kb import Desk, load_desk
from .model import build_model
from .problems import Problem
from .results import CheckRun
from .validate import validate_desk


@dataclass
class CheckOutcome:
    desk: Desk
    problems: list[Problem]  # format problems (errors and warnings) found by validate
    run: CheckRun
    run_id: int | None = None  # the run's id in the store; None when no store was used
    store: str | None = None  # the store's label, for messages

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]


def check_and_record(path: Path | str | None = None, store_file: Path | str | None = None,
                     today: dt.date | None = None, record: bool = True) -> CheckOutcome:
    """Check the desk; with `record`, ingest it into the store first and append the run after.

    The store's write lock is held from ingest to record, so the recorded run describes exactly
    the desk that was ingested."""
    if not record:
        desk = load_desk(path)
        problems, run = _validate_and_check(desk, today)
        return CheckOutcome(desk, problems, run)
    from .store import desk_version, open_store

    started = dt.datetime.now(dt.UTC)
    with open_store(path, store_file, write=True) as store:
        stats = store.ingest(path)
        assert stats.desk is not None
        desk = stats.desk
        problems, run = _validate_and_check(desk, today)
        run_id = store.record_run(run, desk_version(desk.root), started=started)
        return CheckOutcome(desk, problems, run, run_id, store.label)


def _validate_and_check(desk: Desk, today: dt.date | None) -> tuple[list[Problem], CheckRun]:
    model = build_model(desk)  # once: validation reports its problems, the checker computes with it
    return validate_desk(desk, model), check_desk(desk, today, model)
