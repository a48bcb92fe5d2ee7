"""Benchmark `claimdesk nightly` against `claimdesk check` on a generated desk, in one run.

A desk is generated with scripts/gen_desk.py and checked once (the first, full run builds the
store). Then, in this one process (claimdesk, sympy, DuckDB and matplotlib imported before any
clock starts, so that neither side pays for imports), --repeat times in turn:

  check    one page edited, then `job.check_and_record` (what `claimdesk check` does, minus printing)
  nightly  one page edited, then `nightly.run_nightly` (the same check, plus the report built and
           stored in the run's transaction, the charts drawn and the files written)

and the same pair once more on a new day (`--today` one day later: both are full runs). Printed:
each time, the medians, the ratio nightly / check, and how the nightly's extra time splits
(the nightly's own check_and_record, which includes recording dependencies, as `claimdesk check`
does, and building the report in the run's transaction; charts; files).

    python scripts/bench_nightly.py --pages 2000 --claims-per-page 10
    python scripts/bench_nightly.py                   # 10,000 pages, 100,000 claims (several minutes)
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
TODAY = dt.date(2026, 11, 22)


def gen_desk_module() -> Any:
    spec = importlib.util.spec_from_file_location("gen_desk", HERE / "gen_desk.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["gen_desk"] = module
    spec.loader.exec_module(module)
    return module


class Timers:
    """Seconds spent in a few functions, wrapped for the benchmark's sake."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def wrap(self, module: Any, name: str, label: str) -> None:
        original = getattr(module, name)

        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.seconds[label] = self.seconds.get(label, 0.0) + time.perf_counter() - start

        setattr(module, name, timed)

    def take(self) -> dict[str, float]:
        taken, self.seconds = self.seconds, {}
        return taken


def edit_page(desk: Path, index: int) -> None:
    pages = sorted((desk / "kb").rglob("*.md"))
    page = pages[(index * 7919) % len(pages)]
    text = page.read_text(encoding="utf-8")
    page.write_text(text.replace("\n# ", f"\n<!-- edit {index} -->\n# ", 1) if "\n# " in text
                    else text + f"\n<!-- edit {index} -->\n", encoding="utf-8")


def timed(action: Callable[[], Any]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=10000)
    parser.add_argument("--claims-per-page", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot  # noqa: F401 - imported before the clocks start, like the rest

    from claimdesk import charts, job, nightly, report
    from claimdesk.job import check_and_record
    from claimdesk.nightly import run_nightly

    timers = Timers()
    timers.wrap(job, "check_and_record", "check_and_record")  # the nightly's; this script's own calls are not wrapped
    timers.wrap(job, "record_dependencies", "dependencies")
    timers.wrap(report, "build_report", "report")
    timers.wrap(charts, "render_charts", "charts")
    timers.wrap(nightly, "write_files", "files")

    with tempfile.TemporaryDirectory() as folder:
        desk = gen_desk_module().generate_desk(Path(folder) / "desk", args.pages, args.claims_per_page)
        first = timed(lambda: check_and_record(desk, today=TODAY))
        claims = sum(1 for _ in (desk / "kb").rglob("*.md")) * args.claims_per_page
        print(f"desk: {args.pages:,} pages, about {claims:,} claims; first check (full run) {first:.2f} s", flush=True)
        timers.take()
        run_nightly(desk, today=TODAY)  # the first report: every later one compares with a reported run
        timers.take()

        rows: dict[str, list[float]] = {"check": [], "nightly": []}
        parts: list[dict[str, float]] = []
        check_parts: list[dict[str, float]] = []
        for i in range(args.repeat):
            edit_page(desk, 2 * i)
            rows["check"].append(timed(lambda: check_and_record(desk, today=TODAY)))
            check_parts.append(timers.take())
            edit_page(desk, 2 * i + 1)
            rows["nightly"].append(timed(lambda: run_nightly(desk, today=TODAY)))
            parts.append(timers.take())
            print(f"one page edited: check {rows['check'][-1]:.2f} s, nightly {rows['nightly'][-1]:.2f} s "
                  f"({', '.join(f'{k} {v:.2f}' for k, v in parts[-1].items())})", flush=True)
        new_day = TODAY + dt.timedelta(days=1)
        full_check = timed(lambda: check_and_record(desk, today=new_day))
        full_check_parts = timers.take()
        edit_page(desk, 99)
        full_nightly = timed(lambda: run_nightly(desk, today=new_day + dt.timedelta(days=1)))
        full_parts = timers.take()
        print(f"a new day (full runs): check {full_check:.2f} s, nightly {full_nightly:.2f} s "
              f"({', '.join(f'{k} {v:.2f}' for k, v in full_parts.items())})", flush=True)

    check, night = statistics.median(rows["check"]), statistics.median(rows["nightly"])
    summary = {
        "pages": args.pages, "claims_per_page": args.claims_per_page, "first_check_s": round(first, 2),
        "incremental": {"check_median_s": round(check, 3), "nightly_median_s": round(night, 3),
                        "ratio": round(night / check, 2),
                        "check_dependencies_median_s": round(statistics.median(
                            p.get("dependencies", 0.0) for p in check_parts), 3),
                        "nightly_parts_median_s": {k: round(statistics.median(p.get(k, 0.0) for p in parts), 3)
                                                   for k in ("check_and_record", "dependencies", "report", "charts", "files")}},
        "full": {"check_s": round(full_check, 3), "nightly_s": round(full_nightly, 3),
                 "ratio": round(full_nightly / full_check, 2),
                 "check_dependencies_s": round(full_check_parts.get("dependencies", 0.0), 3),
                 "nightly_parts_s": {k: round(v, 3) for k, v in full_parts.items()}},
    }
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
