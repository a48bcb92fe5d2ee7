"""Benchmark the checker: claims checked per second, against the naive way, in one run.

Two desks are generated: a mixed one (scripts/gen_desk.py: every kind of value, model checks,
checks over other claims, qualitative claims) and a model-only one where every claim recomputes a
model quantity with its own `given:`. For each, the desk is loaded (not timed in the rate), then
`Checker.run()` is timed. The baseline is the naive way on the same claims: per claim, sympify the
check text with the model's quantities written out, subs the numbers, evalf — timed on a sample and
reported as a rate. The baseline text is generated here, never a contributor's.

    python scripts/bench_check.py                 # 100,000 claims (about 3 minutes)
    python scripts/bench_check.py --claims 20000  # quicker
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import random
import sys
import tempfile
import time
from pathlib import Path

import sympy

from claimdesk.check import Checker
from claimdesk.kb import load_desk
from claimdesk.model import build_model
from claimdesk.results import Result
from claimdesk.values import figure_text

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # scripts/ is not a package; its generator is imported by path
import gen_desk  # noqa: E402

TODAY = dt.date(2026, 11, 22)


def model_only_desk(root: Path, claims: int, per_page: int = 50) -> Path:
    """A desk whose every claim is `check: <quantity>` with `given: {batch: N}`."""
    gen = gen_desk
    gen.generate_desk(root, 1, 1)  # sources and the model
    for path in (root / "kb").rglob("*.md"):
        path.unlink()
    rng = random.Random(1)
    quantities = [("cost_per_mtok", "USD/Mtok"), ("margin_per_mtok", "USD/Mtok"), ("gross_margin", "%"),
                  ("tokens_per_hour", "Mtok/h"), ("gpu_hour_cost", "USD/h")]
    written = 0
    page = 0
    while written < claims:
        lines = ["---", f"title: Model page {page}", "claims:"]
        for _ in range(min(per_page, claims - written)):
            name, unit = rng.choice(quantities)
            batch = rng.randint(30, 64)
            lines += [f"  - id: m{written}", "    text: A model figure.", "    stance: neutral",
                      "    sources: [src_000]", "    as_of: 2026-05", f'    value: "~{rng.uniform(1, 50):.2f}"',
                      f"    unit: \"{unit}\"", f"    check: {name}", f"    given: {{batch: {batch}}}"]
            written += 1
        (root / "kb" / f"model-{page:05d}.md").write_text("\n".join(lines + ["---", "# Model page", ""]))
        page += 1
    return root


def naive_rate(desk, sample: int) -> tuple[float, int]:
    """Claims per second the naive way: sympify + subs + evalf per claim, on a sample."""
    model = build_model(desk)
    definitions = {name: str(info.expr) for name, info in model.quantities.items()}
    claims = [c.claim for c in desk.claims() if c.claim.check][:sample]
    stated = {c.claim.id: c.claim for c in desk.claims()}
    start = time.perf_counter()
    done = 0
    for claim in claims:
        text = claim.check or ""
        for name, definition in definitions.items():  # write the model's quantities out
            text = text.replace(name, f"({definition})") if name in text else text
        for part in ("low", "high", "mid"):
            text = text.replace(f"{part}(", "(")
        try:
            expression = sympy.sympify(text)
            values = dict(model.base_values(claim.given))
            for symbol in expression.free_symbols:
                if symbol.name in stated and stated[symbol.name].value is not None:
                    other = stated[symbol.name]
                    values[symbol.name] = other.value.low  # type: ignore[union-attr]
            expression.subs(values).evalf()
        except Exception:  # noqa: BLE001 - the baseline only needs timing, not verdicts
            pass
        done += 1
    elapsed = time.perf_counter() - start
    return done / elapsed, done


def _timed(action) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def core_rate(checker: Checker, desk) -> float:
    """Checked claims per second for the numeric part alone: the compiled check (already cached
    by the run), the claim's parameter values, one evaluation, the verdict against the value."""
    claims = [c.claim for c in desk.claims() if c.claim.check]
    start = time.perf_counter()
    for claim in claims:
        try:
            figure = checker.recompute(claim)
        except Exception:  # noqa: BLE001 - errors are part of the run's work, not of this rate
            continue
        claim.value.admits(figure, claim.tolerance)  # type: ignore[union-attr]
    return len(claims) / (time.perf_counter() - start)


def floor_rate(run, desk) -> float:
    """Claims per second of the least any whole run must do: one Result per claim with its reason
    in words (a figure formatted into a sentence), nothing checked. A yardstick for the rest."""
    figures = {r.claim_id: r.recomputed or 1.0 for r in run.results}
    claims = desk.parameters() + desk.claims()
    gc.disable()  # as Checker.run does
    start = time.perf_counter()
    results = []
    for located in claims:
        claim = located.claim
        figure = figures.get(claim.id, 1.0)
        written = claim.value.written if claim.value is not None else ""
        reason = f"recomputed {figure_text(figure)} {claim.unit} agrees with the stated {written} {claim.unit}"
        results.append(Result(claim.id, located.path, located.line, "ok", reason, (), f"{written} {claim.unit}",
                              figure, claim.unit, None, (), claim.check, "claim"))
    elapsed = time.perf_counter() - start
    gc.enable()
    return len(results) / elapsed


def measure(label: str, root: Path, sample: int, repeat: int) -> dict[str, float]:
    start = time.perf_counter()
    desk = load_desk(root)
    loaded = time.perf_counter() - start
    claims = desk.claims()
    checked = sum(1 for c in claims if c.claim.check)
    start = time.perf_counter()
    checker = Checker(desk, TODAY)  # builds the model: sympy expansion and solving, once per desk
    built = time.perf_counter() - start
    start = time.perf_counter()
    run = checker.run()
    elapsed = time.perf_counter() - start  # the first run: compiles every distinct check
    warm = min(_timed(checker.run) for _ in range(repeat)) if repeat else elapsed
    rate = len(run.results) / elapsed
    checked_rate = checked / elapsed
    core = core_rate(checker, desk)
    floor = floor_rate(run, desk)
    naive, sampled = naive_rate(desk, sample)
    print(f"{label}: {len(run.results)} claims ({checked} with a check), loaded in {loaded:.1f} s, "
          f"model built in {built:.2f} s")
    print(f"  claimdesk: {elapsed:.2f} s -> {rate:,.0f} claims/s, {checked_rate:,.0f} checked claims/s "
          f"({len(checker._shapes)} compiled shapes)")
    print(f"  again with everything compiled, best of {repeat}: {warm:.2f} s -> {len(run.results) / warm:,.0f} claims/s")
    print(f"  of which the numeric core (recompute + verdict, no reasons, no freshness/conflicts): "
          f"{core:,.0f} checked claims/s")
    print(f"  floor (only a result and its reason per claim, nothing checked): {floor:,.0f} claims/s; "
          f"the first run costs {floor / rate:.1f}x that")
    print(f"  naive sympify+subs+evalf: {naive:,.0f} checked claims/s (sample of {sampled})")
    print(f"  ratio: {checked_rate / naive:,.0f}x the naive way")
    print(f"  statuses: {run.counts()}")
    return {"rate": checked_rate, "naive": naive, "core": core, "floor": floor}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--claims", type=int, default=100_000)
    parser.add_argument("--sample", type=int, default=300, help="claims timed the naive way")
    parser.add_argument("--repeat", type=int, default=3, help="warm runs after the first; the best is shown")
    args = parser.parse_args(argv)
    gen = gen_desk
    with tempfile.TemporaryDirectory() as tmp:
        mixed = gen.generate_desk(Path(tmp) / "mixed", args.claims // 10, 10)
        measure("mixed desk", mixed, args.sample, args.repeat)
        model_desk = model_only_desk(Path(tmp) / "model", args.claims)
        result = measure("model-only desk", model_desk, args.sample, args.repeat)
    print(f"model-based claims/s on one core, whole run: {result['rate']:,.0f} (target 100,000); "
          f"vs naive: {result['rate'] / result['naive']:,.0f}x (target 100x); numeric core alone: "
          f"{result['core']:,.0f}/s = {result['core'] / result['naive']:,.0f}x; floor {result['floor']:,.0f}/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
