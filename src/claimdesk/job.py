"""The desk's main job: read the desk, bring the store up to date, check, record the run.

`claimdesk check` and (later) the nightly report call `check_and_record`; keeping the sequence in
one place means both see the same desk, the same store and the same run.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
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
    phases: dict[str, float] = field(default_factory=dict)  # seconds per step, for benchmarks

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
    clock = _Clock()
    with open_store(path, store_file, write=True) as store:
        clock.lap("open")
        stats = store.ingest(path)
        assert stats.desk is not None
        desk = stats.desk
        clock.lap("ingest")
        problems, run = _validate_and_check(desk, today, clock)
        version = desk_version(desk.root)
        clock.lap("desk_version")
        run_id = store.record_run(run, version, started=started)
        clock.lap("record")
    clock.lap("close")
    return CheckOutcome(desk, problems, run, run_id, store.label, clock.laps)


def _validate_and_check(desk: Desk, today: dt.date | None,
                        clock: _Clock | None = None) -> tuple[list[Problem], CheckRun]:
    model = build_model(desk)  # once: validation reports its problems, the checker computes with it
    problems = validate_desk(desk, model)
    if clock:
        clock.lap("validate")
    run = check_desk(desk, today, model)
    if clock:
        clock.lap("check")
    return problems, run


class _Clock:
    def __init__(self) -> None:
        self.last = time.perf_counter()
        self.laps: dict[str, float] = {}

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name] = self.laps.get(name, 0.0) + now - self.last
        self.last = now
