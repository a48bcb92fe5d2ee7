"""Benchmark: what the claimdesk plugin adds to `mkdocs build`, on a generated desk.

A desk of N pages is generated (scripts/gen_desk.py) and checked once (`claimdesk check`, so the
store holds a run). Then, alternating in one run so that both sides see the same machine load:

- without: `mkdocs build` with the search plugin only (the prose pages, as before the plugin);
- with:    `mkdocs build` with the claimdesk plugin reading the store (`check: false`), which adds
           every page's claim block, the inline references and the generated pages.

It reports each round's ratio, the median of each side, the ratio of the medians and the median
of the rounds' ratios (the target is at most 1.10), then the time of
a `mkdocs serve` rebuild after one page is edited: a whole build with `check: true`, which first
brings the store up to date by the incremental check. Timings on a loaded machine are noisy; only
the ratio, measured in the same run, means anything.

    python scripts/bench_site.py --pages 1000 --rounds 3
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
CONFIG = """site_name: bench
docs_dir: kb
theme:
  name: material
  font: false
plugins:
  - search
{extra}"""


def gen_desk_module() -> Any:
    spec = importlib.util.spec_from_file_location("gen_desk", HERE / "gen_desk.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["gen_desk"] = module
    spec.loader.exec_module(module)
    return module


def build(desk: Path, config: str, site: Path) -> float:
    start = time.perf_counter()
    result = subprocess.run([str(BIN / "mkdocs"), "build", "--quiet", "-f", config, "--site-dir", str(site)], cwd=desk,
                            capture_output=True, text=True, env=dict(os.environ, NO_MKDOCS_2_WARNING="1"))
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"mkdocs build -f {config} failed:\n{result.stderr}")
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=1000)
    parser.add_argument("--claims-per-page", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="claimdesk-bench-site-") as tmp:
        desk = gen_desk_module().generate_desk(Path(tmp) / "desk", args.pages, args.claims_per_page)
        (desk / "without.yml").write_text(CONFIG.format(extra=""), encoding="utf-8")
        (desk / "with.yml").write_text(CONFIG.format(extra="  - claimdesk:\n      check: false\n"), encoding="utf-8")
        (desk / "serve.yml").write_text(CONFIG.format(extra="  - claimdesk:\n      check: true\n"), encoding="utf-8")
        checked = subprocess.run([str(BIN / "claimdesk"), "check"], cwd=desk, capture_output=True, text=True)
        if checked.returncode not in (0, 1):
            raise SystemExit(checked.stderr)
        print(f"desk: {args.pages} pages x {args.claims_per_page} claims; {checked.stdout.strip().splitlines()[-1]}")
        build(desk, "with.yml", Path(tmp) / "warm")  # warm the file cache and the store once
        times: dict[str, list[float]] = {"without": [], "with": []}
        for round_number in range(args.rounds):
            for side in ("without", "with"):
                times[side].append(build(desk, f"{side}.yml", Path(tmp) / side))
            print(f"round {round_number + 1}: without {times['without'][-1]:.2f} s, with {times['with'][-1]:.2f} s, "
                  f"ratio {times['with'][-1] / times['without'][-1]:.3f}")
        without, with_plugin = statistics.median(times["without"]), statistics.median(times["with"])
        paired = statistics.median(w / wo for w, wo in zip(times["with"], times["without"]))
        print(f"median: without the plugin {without:.2f} s, with it {with_plugin:.2f} s; ratio of medians "
              f"{with_plugin / without:.3f}, median of the rounds' ratios {paired:.3f} (target <= 1.10)")
        page = sorted((desk / "kb").rglob("*.md"))[len(list((desk / "kb").rglob("*.md"))) // 2]
        page.write_text(page.read_text(encoding="utf-8").replace("\n# ", "\n# Edited: ", 1), encoding="utf-8")
        rebuild = build(desk, "serve.yml", Path(tmp) / "serve")
        print(f"rebuild after editing {page.relative_to(desk)} (check: true, as under mkdocs serve): {rebuild:.2f} s, "
              f"{rebuild / without:.3f} x the build without the plugin")
    return 0


if __name__ == "__main__":
    sys.exit(main())
