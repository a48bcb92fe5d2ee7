"""Benchmark the store: cold ingest against just parsing the same front-matter, and an incremental
ingest plus a full check after one page changed, with peak memory, in one run.

A desk is generated with scripts/gen_desk.py (10,000 pages / 100,000 claims by default). Each
measurement runs in a fresh process, so that its peak memory is its own and no cache is warm:

  baseline     read every page and parse its front-matter with the fastest YAML loader available
               (PyYAML's libyaml CSafeLoader on the text between the --- fences); nothing else
  cold         `Store.ingest` into a new store file (parse, validate, write, commit)
  first check  `job.check_and_record` on the fresh store: the first run, always a full one
  incremental  one page edited, then `job.check_and_record` (ingest, validate, check, record: exactly
               what `claimdesk check` does, minus printing); repeated --repeat times, a different page
               each time

Targets (issue 4): cold ingest within 1.5x the baseline; with one page changed, ingest + check of
the whole desk (`claimdesk check`) under 1 s; peak memory under 1 GB.

    python scripts/bench_ingest.py                                # 10,000 pages (a few minutes)
    python scripts/bench_ingest.py --pages 1000 --claims-per-page 10   # quick
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
TODAY = dt.date(2026, 11, 22)


def gen_desk_module() -> Any:
    spec = importlib.util.spec_from_file_location("gen_desk", HERE / "gen_desk.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["gen_desk"] = module  # dataclasses look their module up while the file runs
    spec.loader.exec_module(module)
    return module


def cpu_seconds() -> float:
    """CPU time of this process and its finished children (the parse workers)."""
    me, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime


def peak_rss_mb() -> dict[str, float]:
    """Peak resident memory of this process and of its largest child (a parse worker), in MB."""
    scale = 1024 if sys.platform != "darwin" else 1024 * 1024  # ru_maxrss is KiB on Linux, bytes on macOS
    return {"self": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / scale,
            "children": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / scale}


# -- the phases, each run in its own process ---------------------------------------------------
def phase_baseline(desk: Path) -> dict[str, Any]:
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    start = time.perf_counter()
    pages = claims = 0
    for folder, _, files in os.walk(desk / "kb"):
        for name in files:
            if not name.endswith(".md"):
                continue
            text = Path(folder, name).read_text(encoding="utf-8")
            if not text.startswith("---\n"):
                continue
            end = text.find("\n---\n", 3)
            data = yaml.load(text[4:end + 1], Loader=loader)  # noqa: S506 - CSafeLoader is the safe loader
            pages += 1
            claims += len(data.get("claims") or [])
    return {"seconds": time.perf_counter() - start, "pages": pages, "claims": claims, "loader": loader.__name__,
            "rss_mb": peak_rss_mb()}


def phase_cold(desk: Path, store_file: Path) -> dict[str, Any]:
    from claimdesk.store import Store

    for leftover in store_file.parent.glob(store_file.name + "*"):
        leftover.unlink()
    start, cpu = time.perf_counter(), cpu_seconds()
    with Store.open(store_file, write=True) as store:
        stats = store.ingest(desk)
    seconds = time.perf_counter() - start  # with opening and closing (the final checkpoint) included
    return {"seconds": seconds, "cpu": cpu_seconds() - cpu, "pages": stats.pages, "claims": stats.claims,
            "parsed_ahead": stats.parsed_ahead, "phases": stats.phases, "store_mb": store_file.stat().st_size / 1e6,
            "rss_mb": peak_rss_mb()}


def phase_incremental(desk: Path, store_file: Path, page: str) -> dict[str, Any]:
    """One page edited, then exactly what `claimdesk check` does (job.check_and_record), minus printing.
    claimdesk's modules are imported before the clock starts (their import time is reported apart)."""
    start = time.perf_counter()
    import claimdesk.store  # noqa: F401 - job.py imports it when it opens the store
    from claimdesk.job import check_and_record
    imports = time.perf_counter() - start

    if page:
        path = desk / page
        text = path.read_text(encoding="utf-8")
        path.write_text(text.replace("\nsummary: ", "\nsummary: Edited by the benchmark. ", 1), encoding="utf-8")
    start, cpu = time.perf_counter(), cpu_seconds()
    outcome = check_and_record(desk, store_file, TODAY)
    seconds = time.perf_counter() - start
    printed = len(outcome.run.results)  # what the CLI prints; after an incremental run read back from the store (step read_back)
    return {"seconds": seconds, "cpu": cpu_seconds() - cpu, "steps": outcome.phases, "imports": imports,
            "incremental": getattr(outcome, "incremental", None), "counts": outcome.run.counts(),
            "problems": len(outcome.problems), "results": printed, "rss_mb": peak_rss_mb()}


def run_phase(*args: str) -> dict[str, Any]:
    out = subprocess.run([sys.executable, __file__, "--phase", *args], capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"phase {args[0]} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


# -- the report --------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pages", type=int, default=10_000)
    parser.add_argument("--claims-per-page", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=5, help="incremental runs, one changed page each")
    parser.add_argument("--keep", type=Path, help="generate the desk here and keep it (default: a temp folder)")
    parser.add_argument("--phase", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.phase:
        name, *rest = args.phase
        result = {"baseline": lambda: phase_baseline(Path(rest[0])),
                  "cold": lambda: phase_cold(Path(rest[0]), Path(rest[1])),
                  "incremental": lambda: phase_incremental(Path(rest[0]), Path(rest[1]), rest[2] if len(rest) > 2 else "")}[name]()
        print(json.dumps(result))
        return 0

    gen = gen_desk_module()
    with tempfile.TemporaryDirectory() as tmp:
        root = args.keep or Path(tmp) / "desk"
        start = time.perf_counter()
        gen.generate_desk(root, args.pages, args.claims_per_page, args.seed)
        print(f"generated {args.pages} pages, {args.pages * args.claims_per_page} claims in "
              f"{time.perf_counter() - start:.1f} s ({os.cpu_count()} CPUs)")
        store_file = Path(tmp) / "bench.duckdb"
        # The baseline runs before and after the cold ingest, and the faster of the two is the
        # yardstick: on a shared machine a slow moment should not flatter the ratio.
        before = run_phase("baseline", str(root))
        cold = run_phase("cold", str(root), str(store_file))
        after = run_phase("baseline", str(root))
        baseline = min(before, after, key=lambda b: b["seconds"])
        print(f"baseline   {before['seconds']:7.2f} s, again {after['seconds']:.2f} s  {baseline['loader']} on "
              f"{baseline['pages']} front-matters ({baseline['claims']} claims), peak {baseline['rss_mb']['self']:.0f} MB")
        ratio = cold["seconds"] / baseline["seconds"]
        print(f"cold       {cold['seconds']:7.2f} s  = {ratio:.2f}x baseline (target <= 1.5x); {cold['cpu']:.1f} s of CPU "
              f"({cold['parsed_ahead']} pages parsed by workers); peak {cold['rss_mb']['self']:.0f} MB, largest "
              f"worker {cold['rss_mb']['children']:.0f} MB; store {cold['store_mb']:.0f} MB")
        print(f"           steps: {_steps(cold['phases'])}")
        pages = [gen.page_path(i * max(1, args.pages // max(1, args.repeat))) for i in range(args.repeat)]
        first = run_phase("incremental", str(root), str(store_file), "")
        print(f"first check{first['seconds']:6.2f} s  check_and_record ({first['incremental'] or 'full run'}); "
              f"{first['cpu']:.2f} s of CPU; peak {first['rss_mb']['self']:.0f} MB")
        print(f"           steps: {_steps(first['steps'])}")
        runs = [run_phase("incremental", str(root), str(store_file), page) for page in pages]
        for result in runs:
            print(f"one page   {result['seconds']:7.2f} s  check_and_record ({result['incremental'] or 'full run'}); "
                  f"{result['cpu']:.2f} s of CPU; peak {result['rss_mb']['self']:.0f} MB")
            print(f"           steps: {_steps(result['steps'])}")
        best = min(runs, key=lambda r: r["seconds"])
        median = statistics.median(r["seconds"] for r in runs)
        peak = max([cold["rss_mb"]["self"], cold["rss_mb"]["children"], *(r["rss_mb"]["self"] for r in runs)])
        print(f"summary: cold {ratio:.2f}x baseline (target 1.5x); one page changed: claimdesk check's work "
              f"{best['seconds']:.2f} s at best, median {median:.2f} s of {len(runs)} (target 1 s), reading the "
              f"results back to print them {statistics.median(r['steps'].get('read_back', 0.0) for r in runs):.2f} s "
              f"more, importing claimdesk {statistics.median(r['imports'] for r in runs):.2f} s before; "
              f"peak memory {peak:.0f} MB (target 1024 MB)")
        print(f"statuses: {best['counts']}; {best['problems']} format problems")
    return 0


def _steps(phases: dict[str, float]) -> str:
    return ", ".join(f"{name} {seconds:.2f}" for name, seconds in phases.items())


if __name__ == "__main__":
    sys.exit(main())
