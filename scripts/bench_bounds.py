"""Time the hostile desks that used to hang, against another copy of claimdesk's source.

    python scripts/bench_bounds.py [--baseline /path/to/other/src] [--timeout 120]

Each case builds a desk in a temporary folder and runs the real command in a process of its own,
first with the baseline source (when given), then with this checkout's, in the same run, and
prints seconds and peak memory for each (a run past --timeout is shown as such). Timings on a
loaded machine are noisy: compare the two columns of one run, not figures across runs.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(HERE / "tests"))

from conftest import write_desk  # noqa: E402

TODAY = ["--today", "2026-11-22"]


def claim(i: int, extra: str, value: str = "10", as_of: str = "2026-05") -> str:
    return (f"  - id: c{i}\n    text: Claim {i}.\n    stance: neutral\n    sources: [src_a]\n    as_of: {as_of}\n"
            f"    value: {value}\n    unit: USD bn\n{extra}")


def page(claims: list[str]) -> str:
    return "---\ntitle: Big\nclaims:\n" + "".join(claims) + "---\n"


MODEL = """title: M
parameters:
  - {id: a, text: a, stance: neutral, sources: [src_a], as_of: 2026-05, value: 2, unit: x}
  - {id: b, text: b, stance: neutral, sources: [src_a], as_of: 2026-05, value: 3, unit: x}
quantities:
  - {id: q0, text: q, unit: x, expr: a + b}
"""


def cases(folder: Path) -> dict[str, list[str]]:
    desks = {
        "conflict sweep: 8,000 claims of one metric and date": {
            "kb/big.md": page([claim(i, "    metric: m.one\n", value=str(10 + i % 7)) for i in range(8000)])},
        "6,000 checks naming unknown names": {
            "kb/big.md": page([claim(i, f"    check: unknown_name_{i} * 2\n") for i in range(6000)])},
        "a chain of 10,000 stale checks": {
            "kb/big.md": page([claim(0, "", as_of="2020-01")]
                              + [claim(i, f"    check: c{i - 1}\n", as_of="2020-01") for i in range(1, 10000)])},
        "12 exponentially nesting model quantities (claimdesk model)": {
            "data/models/token_cost.yaml": None,  # type: ignore[dict-item]
            "data/models/m.yaml": MODEL + "".join(f"  - {{id: q{i}, text: q, unit: x, expr: q{i - 1} * (q{i - 1} + 1)}}\n"
                                                  for i in range(1, 12))},
    }
    commands = {}
    for number, (name, files) in enumerate(desks.items()):
        root = write_desk(folder / f"desk{number}", files)
        command = "model" if "model" in name else "check"
        commands[name] = [command, str(root)] + (["--no-store", *TODAY] if command == "check" else [])
    query_desk = write_desk(folder / "query", {})
    commands["query of 3,000,000 rows (CSV)"] = ["query", "SELECT * FROM range(3000000)", "--format", "csv",
                                                 "--desk", str(query_desk)]
    return commands


INNER = "import sys; sys.path.insert(0, sys.argv.pop(1)); from claimdesk.cli import main; main()"
WRAPPER = """import resource, subprocess, sys, time
start = time.perf_counter()
done = subprocess.run([sys.executable, "-c", sys.argv[1], *sys.argv[3:]], stdout=subprocess.DEVNULL,
                      stderr=subprocess.DEVNULL, timeout=float(sys.argv[2]))
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024
print(f"{time.perf_counter() - start:.1f} s, {peak} MB, exit {done.returncode}")
"""


def run(source: Path, args: list[str], timeout: float) -> str:
    """The command with `source` first on the path, in a process of its own: seconds, peak memory, exit code."""
    try:
        done = subprocess.run([sys.executable, "-c", WRAPPER, INNER, str(timeout), str(source), *args],
                              capture_output=True, text=True, timeout=timeout + 30)
    except subprocess.TimeoutExpired:
        return f"> {timeout:.0f} s (stopped)"
    if "TimeoutExpired" in done.stderr:
        return f"> {timeout:.0f} s (stopped)"
    return done.stdout.strip() or f"failed: {done.stderr.strip()[-300:]}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--baseline", type=Path, help="another claimdesk source folder (holding claimdesk/)")
    parser.add_argument("--timeout", type=float, default=120.0)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        commands = cases(Path(folder))
        # The query needs a store: build it with this checkout.
        query = commands["query of 3,000,000 rows (CSV)"]
        subprocess.run([sys.executable, "-c", "from claimdesk.cli import main; main()", "ingest", query[-1]],
                       capture_output=True, check=True)
        for name, args in commands.items():
            started = time.perf_counter()
            before = run(options.baseline, args, options.timeout) if options.baseline else "-"
            after = run(HERE / "src", args, options.timeout)
            print(f"{name}\n  baseline: {before}\n  this:     {after}   ({time.perf_counter() - started:.0f} s)",
                  flush=True)


if __name__ == "__main__":
    main()
