"""Generate a synthetic desk: pages under kb/ with realistic claims, data/sources.yaml and the shared
token-cost model, for benchmarks and scale tests.

The desk is deterministic for a given seed and passes `claimdesk validate` with no errors. Its
claims use every kind of value (exact, approximate, range, bound) and many units; some are
qualitative, some re-compute a model quantity (`check: cost_per_mtok` with `given: {batch: N}`),
some re-compute themselves from other claims on the same or an earlier page, and a few are
deliberately wrong or out of date so that a check run has more than one status.

    python scripts/gen_desk.py /tmp/desk --pages 10000 --claims-per-page 10

Other scripts import `generate_desk` (load this file by path: scripts/ is not a package).
"""

from __future__ import annotations

import argparse
import random
import sys
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

TOPICS = ("anthropic", "openai", "nvidia", "tsmc", "microsoft", "alphabet", "amazon", "meta", "oracle",
          "coreweave", "inference", "training", "datacenter", "energy", "labour", "enterprise", "pricing",
          "semis", "cloud", "policy")
MEASURES = (  # (name, unit, typical magnitude)
    ("revenue", "USD bn", 40.0), ("annualized_revenue", "USD bn/year", 12.0), ("gross_margin", "%", 55.0),
    ("capex", "USD bn", 80.0), ("token_volume", "Ttok/month", 900.0), ("price_per_mtok", "USD/Mtok", 6.0),
    ("headcount", "count", 5000.0), ("gpu_hours", "M h", 30.0), ("throughput", "tok/s", 120.0),
    ("growth", "x", 7.0), ("share", "%", 30.0), ("spend", "USD M/year", 25.0), ("cost", "USD/h", 2.5),
    ("payback", "month", 18.0), ("margin_change", "pp", 4.0), ("debt", "USD bn", 60.0),
)
STANCES = ("bull", "bear", "neutral")
PERIODS = ("2024", "2025", "2025-H2", "2026-Q1", "2026-04", "2026-05", "2026", "2026-05-22", "2025-06", "2027")
VERBS = ("reached", "stood at", "came in at", "was put at", "is estimated at", "grew to", "fell to")
SOURCE_KINDS = ("article", "report", "blog", "newsletter", "podcast", "filing", "dataset", "interview")
PROSE = ("Token demand compounds faster than supply can follow, and the argument turns on margins. "
         "Bulls read the figures above as growing pains; bears as the shape of a bubble.\n\n"
         "Each figure cites its source; the checker recomputes the ones the shared model or other "
         "claims can reproduce.\n")

# The shared model: the desk's real token-cost model, so checks against it agree with the values below.
MODEL_YAML = """\
title: Shared token-cost model
summary: One 8-GPU node serving a 70B model at 4-bit.
parameters:
  - {id: node_cost_per_hour, text: An 8-GPU node costs about $30 an hour., stance: neutral, sources: [src_000], as_of: 2026, value: 30, unit: USD/h}
  - {id: gpus_per_node, text: The node holds 8 GPUs., stance: neutral, sources: [src_000], as_of: 2026, value: 8, unit: count}
  - {id: tokens_per_second, text: One stream generates 95 tokens a second., stance: neutral, sources: [src_000], as_of: 2026, value: 95, unit: tok/s}
  - {id: batch, text: The reference batch is 40 streams., stance: neutral, sources: [src_000], as_of: 2026, value: 40, unit: count}
  - {id: price_per_mtok, text: The operator earns $3 per million tokens., stance: neutral, sources: [src_000], as_of: 2026, value: 3, unit: USD/Mtok}
  - {id: training_capex, text: Training cost $100M., stance: neutral, sources: [src_000], as_of: 2026, value: 100, unit: USD M}
  - {id: target_gross_margin, text: A 60% gross margin is the labs' level., stance: bull, sources: [src_001], as_of: 2026-05, value: 60, unit: "%"}
quantities:
  - {id: tokens_per_hour, text: Tokens per hour at the given batch., expr: tokens_per_second * batch, unit: Mtok/h}
  - {id: cost_per_mtok, text: Cost of a million tokens., expr: node_cost_per_hour / tokens_per_hour, unit: USD/Mtok}
  - {id: margin_per_mtok, text: Margin on a million tokens., expr: price_per_mtok - cost_per_mtok, unit: USD/Mtok}
  - {id: gross_margin, text: Gross margin as a share of revenue., expr: margin_per_mtok / price_per_mtok, unit: "%"}
  - {id: gpu_hour_cost, text: Hourly cost per GPU., expr: node_cost_per_hour / gpus_per_node, unit: USD/h}
"""
NODE_COST_PER_HOUR, TOKENS_PER_SECOND, PRICE_PER_MTOK = 30.0, 95.0, 3.0


def cost_per_mtok(batch: int) -> float:
    return NODE_COST_PER_HOUR / (TOKENS_PER_SECOND * batch * 3600) * 1e6


@dataclass
class _Written:
    claim_id: str
    value: float  # exact values only: other claims may add them up
    unit: str


def _number(rng: random.Random, magnitude: float) -> float:
    return round(magnitude * rng.uniform(0.2, 3.0), rng.choice((0, 1, 2)))


def _metric_figure(metric: str, magnitude: float) -> float:
    """The figure every source agrees on for a metric (the same on every run: no salted hash)."""
    return round(magnitude * (0.2 + (zlib.crc32(metric.encode()) % 1000) / 1000 * 2.8), 2)


def _group(page: int) -> int:
    """Metrics are shared by the claims of nearby pages only: a few claims per metric, as on a real desk."""
    return page // 200


def _fmt(number: float) -> str:
    text = f"{number:.6g}"
    return text if "e" not in text else f"{number:.6e}"


def _yaml_text(text: str) -> str:
    """Plain when YAML reads it back as the same string, double-quoted otherwise."""
    if ": " in text or " #" in text or text[:1] in "!&*[]{}|>'\"%@`-?,#":
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return text


def _claim(rng: random.Random, page: int, index: int, sources: int, earlier: list[_Written],
           on_page: list[_Written]) -> list[str]:
    """One claim as YAML lines (indented for the claims list)."""
    topic = TOPICS[(page + index) % len(TOPICS)]
    measure, unit, magnitude = MEASURES[rng.randrange(len(MEASURES))]
    claim_id = f"{topic}_{measure}_p{page:05d}_c{index:02d}"
    cited = sorted({f"src_{rng.randrange(sources):03d}" for _ in range(rng.choice((1, 1, 1, 2, 3)))})
    as_of = rng.choice(PERIODS)
    wrong = rng.random() < 0.03  # a deliberate mistake, so a run has mismatches
    lines = [f"  - id: {claim_id}"]
    roll = rng.random()
    extra: list[str] = []
    value: str | None = None
    exact: float | None = None
    metric: str | None = None  # only where the unit is the measure's own, so a metric keeps one dimension
    if roll < 0.12:  # qualitative
        text = f"{topic.capitalize()} says the {measure.replace('_', ' ')} trend will not reverse soon."
    elif roll < 0.24:  # re-computes a model quantity at a batch size
        batch = rng.choice((1, 2, 4, 8, 16, 32, 40, 64, 128))
        quantity = rng.choice(("cost_per_mtok", "margin_per_mtok"))
        figure = cost_per_mtok(batch) if quantity == "cost_per_mtok" else PRICE_PER_MTOK - cost_per_mtok(batch)
        figure *= 1.3 if wrong else 1.0
        unit, measure = "USD/Mtok", quantity
        value = f'"~{figure:.2f}"'
        metric = f"token_model.batch{batch}.{quantity}.g{_group(page)}"
        text = f"At batch {batch} the node's {quantity.replace('_', ' ')} is about ${figure:.2f}."
        extra += [f"    check: {quantity}", f"    given: {{batch: {batch}}}"]
        as_of = "2026"
    elif roll < 0.34 and len(on_page + earlier) >= 2:  # the sum of two claims in the same unit
        pool = on_page if len(on_page) >= 2 and rng.random() < 0.7 else earlier[-50:] + on_page
        first = rng.choice(pool)
        second = rng.choice([w for w in pool if w.unit == first.unit and w is not first] or [first])
        total = first.value + second.value
        total *= 1.25 if wrong else 1.0
        unit = first.unit
        value = _fmt(round(total, 6))
        exact = float(value)
        text = f"Together the two figures come to {value} {unit}."
        extra.append(f"    check: {first.claim_id} + {second.claim_id}")
        tolerance = rng.choice((None, "0.01", '"1%"'))
        if tolerance:
            extra.append(f"    tolerance: {tolerance}")
    else:
        # 40% measure a shared metric: their sources mostly agree (a wrong one conflicts)
        metric = f"{topic}.{measure}.g{_group(page)}" if rng.random() < 0.4 else None
        number = _metric_figure(metric, magnitude) * (1.5 if wrong else 1.0) if metric else _number(rng, magnitude)
        kind = rng.choices(("exact", "approx", "range", "bound"), (45, 30, 15, 10))[0]
        if kind == "exact":
            value, exact = _fmt(number), number
        elif kind == "approx":
            value = f'"~{_fmt(number)}"'
        elif kind == "range":
            low = round(number * 0.9, 2) if metric else number
            value = f"[{_fmt(low)}, {_fmt(round(number * rng.uniform(1.1, 2.0), 2))}]"
        else:
            op = rng.choice((">", ">=", "<", "<="))
            bound = round(number * (0.8 if op.startswith(">") else 1.2), 2) if metric else number
            value = f'"{op}{_fmt(bound)}"'
        shown = value.strip('"[]').replace(", ", " to ")
        text = f"{topic.capitalize()}'s {measure.replace('_', ' ')} {rng.choice(VERBS)} {shown} {unit}."
    if len(text) > 60 and rng.random() < 0.5:
        lines += ["    text: >-", f"      {text}", "      The figure is the source's own."]
    else:
        lines.append(f"    text: {_yaml_text(text)}")
    lines += [f"    stance: {rng.choice(STANCES)}", f"    sources: [{', '.join(cited)}]", f"    as_of: {as_of}"]
    if value is not None:
        lines += [f"    value: {value}", f'    unit: "{unit}"' if unit == "%" else f"    unit: {unit}"]
        if metric:
            lines.append(f"    metric: {metric}")
    lines += extra
    if rng.random() < 0.1:
        lines.append(f"    attributed_to: {rng.choice(('Goldman Sachs', 'SemiAnalysis', 'Morgan Stanley'))}")
    if rng.random() < 0.05:
        lines.append(f"    review_by: 2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}")
    if rng.random() < 0.03:
        lines.append(f"    resolves: 2027-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}")
    stale = rng.random()
    if stale < 0.05:
        lines.append("    stale_after: never")
    elif stale < 0.1:
        lines.append(f"    stale_after: {{count: {rng.randint(1, 24)}, period: {rng.choice(('month', 'year'))}}}")
    if rng.random() < 0.1:
        lines.append("    note: The desk reads an undated figure as the source's publication year.")
    if exact is not None:
        on_page.append(_Written(claim_id, exact, unit))
    return lines


def page_text(page: int, claims_per_page: int, sources: int, earlier: list[_Written],
              rng: random.Random) -> str:
    """One page's Markdown, front-matter first."""
    topic = TOPICS[page % len(TOPICS)]
    on_page: list[_Written] = []
    lines = ["---", f"title: {topic.capitalize()} notes {page}",
             f"summary: Figures on {topic} gathered by the desk, batch {page // 100}.",
             f"tags: [{topic}, generated]", "claims:"]
    for index in range(claims_per_page):
        lines += _claim(rng, page, index, sources, earlier, on_page)
    earlier.extend(on_page)
    del earlier[:-200]  # cross-page references reach back a little way only
    lines += ["---", "", f"# {topic.capitalize()} notes {page}", "", PROSE]
    return "\n".join(lines)


def sources_text(count: int) -> str:
    out = ["# Generated sources."]
    for i in range(count):
        out += [f"src_{i:03d}:", f"  title: Generated source number {i}", f"  publisher: Publisher {i % 17}",
                f"  published: 2026-{i % 12 + 1:02d}", f"  kind: {SOURCE_KINDS[i % len(SOURCE_KINDS)]}"]
    return "\n".join(out) + "\n"


def page_path(page: int) -> str:
    """Desk-relative path of generated page number `page` (20 topic folders)."""
    topic = TOPICS[page % len(TOPICS)]
    return f"kb/{topic}/{topic}-notes-{page:05d}.md"


def generate_desk(root: Path, pages: int, claims_per_page: int, seed: int = 0) -> Path:
    """Write a desk of `pages` pages with `claims_per_page` claims each under `root`; returns root."""
    rng = random.Random(seed)
    root = Path(root)
    sources = max(2, min(500, pages // 10 + 2))
    (root / "data" / "models").mkdir(parents=True, exist_ok=True)
    (root / "data" / "sources.yaml").write_text(sources_text(sources), encoding="utf-8")
    (root / "data" / "models" / "token_cost.yaml").write_text(MODEL_YAML, encoding="utf-8")
    earlier: list[_Written] = []
    for topic in TOPICS:
        (root / "kb" / topic).mkdir(parents=True, exist_ok=True)
    for page in range(pages):
        text = page_text(page, claims_per_page, sources, earlier, rng)
        (root / page_path(page)).write_text(text, encoding="utf-8")
    return root


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("root", type=Path, help="folder to write the desk into (created)")
    parser.add_argument("--pages", type=int, default=1000)
    parser.add_argument("--claims-per-page", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    generate_desk(args.root, args.pages, args.claims_per_page, args.seed)
    print(f"wrote {args.pages} pages, {args.pages * args.claims_per_page} claims to {args.root} "
          f"in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
