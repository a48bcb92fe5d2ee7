"""Soak the incremental check: many random edit sequences, each run compared with a full one.

Two kinds of sequences, each starting from a fresh desk and store:
  generated  tests/test_incremental.py's edits (values, metrics, claims added and removed, duplicate
             ids, broken references, cycles, renamed/deleted/broken pages, ...) on a 60-page
             generated desk, 14 edits per seed
  bundled    the hostile-input fuzzer's plausible-but-wrong field values (tests/test_hostile_input.py)
             written into the bundled desk's pages, 8 edits per seed
After every edit `claimdesk check`'s run must be incremental and equal, result for result and
problem for problem, to a full run on a new store. The test suite runs a few seeds; this runs many.

    python scripts/soak_incremental.py --seeds 10 22
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # the tests' editors and comparisons are reused, not copied

from tests import test_incremental as incremental  # noqa: E402
from tests.test_hostile_input import FIELD_VALUES, semantic_mutation  # noqa: E402

from claimdesk.job import check_and_record  # noqa: E402

TODAY = dt.date(2026, 11, 22)
# Freshness and metric values on top of the fuzzer's, so that stale findings and conflicts move too.
EXTRA_FIELDS = {
    "as_of": ["2026-05", "2024-01", "2025-Q1", "2026", "2023-06-30"],
    "stale_after": ["{count: 1, period: month}", "never", "{count: 30, period: year}"],
    "review_by": ["2026-01-01", "2027-01-01"],
    "resolves": ["2026-01-01", "2027-01-01"],
    "metric": ["anthropic.annualized_revenue", "token_model.cost_per_mtok", "x.y"],
}


def soak_generated(seed: int, tmp: Path) -> None:
    root = incremental._gen_desk().generate_desk(tmp / "desk", 60, 5, seed=seed)
    for path in root.rglob("*"):
        os.utime(path, (incremental.OLD, incremental.OLD))
    incremental.test_incremental_runs_equal_full_runs(root, tmp, seed)


def soak_bundled(seed: int, tmp: Path) -> None:
    rng = random.Random(seed)
    root = tmp / "desk"
    shutil.copytree(REPO / "kb", root / "kb")
    shutil.copytree(REPO / "data", root / "data", ignore=shutil.ignore_patterns("*.duckdb*"))
    stamp = time.time() - 3600  # well before the runs: the stat rule sees every edit
    for path in root.rglob("*"):
        os.utime(path, (stamp, stamp))
    store = tmp / "followed.duckdb"
    check_and_record(root, store, TODAY)
    for step in range(8):
        page = rng.choice(sorted((root / "kb").glob("*.md")))
        page.write_text(semantic_mutation(page.read_text(encoding="utf-8"), rng), encoding="utf-8")
        stamp += 1
        os.utime(page, (stamp, stamp))
        outcome = check_and_record(root, store, TODAY)
        assert outcome.incremental is not None, f"step {step}: not incremental"
        fresh = tmp / f"fresh-{step}.duckdb"
        full = check_and_record(root, fresh, TODAY, incremental=False)
        incremental.assert_same(outcome, store, full, fresh, f"step {step}: {page.name}")
        fresh.unlink()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs=2, default=(10, 16), metavar=("FIRST", "LAST"),
                        help="seeds FIRST..LAST-1 of each kind")
    args = parser.parse_args(argv)
    FIELD_VALUES.update({key: FIELD_VALUES.get(key, []) + values for key, values in EXTRA_FIELDS.items()})
    failed = 0
    for kind, soak in (("generated", soak_generated), ("bundled", soak_bundled)):
        for seed in range(*args.seeds):
            with tempfile.TemporaryDirectory() as tmp:
                try:
                    soak(seed, Path(tmp))
                    print(f"{kind} seed {seed}: every run equal to a full run", flush=True)
                except AssertionError as exc:
                    failed += 1
                    print(f"{kind} seed {seed}: DIFFERS: {str(exc)[:400]}", flush=True)
    print(f"{failed} sequences differed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
