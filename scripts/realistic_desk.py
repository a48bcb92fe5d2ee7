"""Generate a desk as hard as the bundled one, at any size, and measure how alike the two are.

scripts/gen_desk.py writes desks whose checks share three or four shapes; a real desk's checks
are far more varied (the bundled desk: about half as many distinct shapes as checks), and each
distinct shape is work for the checker. This generator is calibrated against the bundled desk:
the share of claims with a check, how many distinct check shapes they use, the operators and
functions in them (sums, ratios, shares, growth rates with `**`, `low()`/`high()` of ranges),
references to claims on earlier pages, model checks with `given`, ranges, bounds, approximate
values, notes, multi-line texts, prose bodies and stale figures. `desk_profile` computes the same
figures for any desk from its raw front-matter, so the two can be printed side by side:

    python scripts/realistic_desk.py /tmp/desk --claims 100000      # write a desk
    python scripts/realistic_desk.py --profile kb-folder-parent ...  # profile desks side by side

Every generated check is computed here with plain floats, so a check run gives each claim the
status the generator meant: most agree, ~3% are deliberately wrong (mismatch), a few are stale.
Other scripts import `generate` and `desk_profile` (load this file by path: scripts/ is not a package).
"""

from __future__ import annotations

import argparse
import math
import random
import re
import statistics
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from gen_desk import MODEL_YAML, NODE_COST_PER_HOUR, PRICE_PER_MTOK, TOKENS_PER_SECOND, sources_text  # noqa: E402

TOPICS = ("anthropic", "openai", "nvidia", "tsmc", "microsoft", "alphabet", "amazon", "meta", "oracle",
          "coreweave", "inference", "training", "datacenter", "energy", "labour", "enterprise", "pricing",
          "semis", "cloud", "policy")
MONEY_UNITS = ("USD bn", "USD M", "USD T", "USD bn/year", "USD M/year", "Ttok/month", "M h", "count")
STANCES = ("bull", "bear", "neutral")
RECENT = ("2026", "2026-Q1", "2026-Q2", "2026-04", "2026-05", "2026-H1", "2026-06-30", "2025-H2")
OLD = ("2023", "2024-Q1", "2024-06")  # older than the default two-year freshness threshold by 2026-11
VERBS = ("reached", "stood at", "came in at", "was put at", "is estimated at", "grew to", "fell to")
NOTES = ("The source rounds; the desk keeps its rounding, and checks against the rounded figure it prints.",
         "Derived by the desk from the figures the article itemises; see the prose for the reading.",
         "The figure is annualised from the quarter the source reports, which flatters a seasonal business.")
PROSE_PARAGRAPH = ("Token demand compounds faster than supply can follow, and the argument turns on margins: "
                   "bulls read the figures above as growing pains, bears as the shape of a bubble. The desk "
                   "keeps both readings and lets the checker say which figures still hold.\n\n")

# Calibrated against the bundled desk (printed side by side by `bench.py`).
CLAIMS_PER_PAGE = 22
CHECK_SHARE = 0.31           # claims with a check
MODEL_CHECK_SHARE = 0.22     # of those, checks of a model quantity (most with `given`)
SHAPES_PER_CHECK = 0.45  # of non-model checks, a new shape (the bundled desk: 0.36 of all checks)
QUALITATIVE_SHARE = 0.24
STALE_SHARE = 0.03
WRONG_SHARE = 0.03


@dataclass
class Figure:
    """A claim another claim's check may read: its id, its figure as a float and its unit."""
    claim_id: str
    value: float
    unit: str
    kind: str  # "money" (any unit of the page's family) or "share" (a percentage)
    low: float | None = None  # a range's ends, read by low()/high()
    high: float | None = None


# -- check templates: typed expression trees with holes for claims -------------------------------
# A template is a tree of tuples: ("ref", kind) | ("rlow", kind) | ("rhigh", kind) | ("num", x) |
# (op, left, right) with op in + - * / | ("pow", base, exponent) | ("one_minus", share).
# Its shape is the text with every claim replaced by a placeholder: what the checker compiles once.

def _money(rng: random.Random, depth: int, top: bool = False) -> tuple[Any, ...]:
    roll = rng.uniform(0.35, 1.0) if top else rng.random()  # a whole check is never a bare reference
    if depth <= 0 or roll < 0.35:
        return ("rlow", "money") if rng.random() < 0.08 else ("ref", "money")
    if roll < 0.6:
        return ("+", _money(rng, depth - 1), _money(rng, depth - 1))
    if roll < 0.75:
        return ("*", _money(rng, depth - 1), _share(rng, depth - 1))
    if roll < 0.85:
        return ("*", _money(rng, depth - 1), ("num", rng.choice((2, 4, 12, 1.5, 0.5, 3, 10))))
    if roll < 0.92:
        return ("/", _money(rng, depth - 1), ("num", rng.choice((2, 4, 12, 1000, 100))))
    return ("*", _money(rng, depth - 1), ("one_minus", _share(rng, depth - 1)))


def _share(rng: random.Random, depth: int, top: bool = False) -> tuple[Any, ...]:
    roll = rng.uniform(0.6, 1.0) if top else rng.random()
    if depth <= 0 or roll < 0.6:
        return ("ref", "share")
    if roll < 0.85:
        return ("one_minus", _share(rng, depth - 1))
    return ("*", _share(rng, depth - 1), ("num", rng.choice((0.5, 0.9, 1.1))))


def _template(rng: random.Random) -> tuple[tuple[Any, ...], str]:
    """A random check template and the kind of figure it yields ("money" or "ratio")."""
    roll = rng.random()
    if roll < 0.45:
        return _money(rng, rng.choice((1, 1, 2)), top=True), "money"
    if roll < 0.75:
        return ("/", _money(rng, rng.choice((0, 1, 1))), _money(rng, rng.choice((0, 0, 1)))), "ratio"
    if roll < 0.85:  # a growth rate: (later / earlier) ** (1/years) - 1
        years = rng.choice((2, 3, 4, 5))
        growth = ("pow", ("/", ("ref", "money"), ("ref", "money")), ("num", round(1 / years, 6)))
        return ("-", growth, ("num", 1)), "ratio"
    return _share(rng, rng.choice((1, 2)), top=True), "ratio"


def _shape(node: tuple[Any, ...]) -> str:
    return _render(node, lambda kind, fn: f"{fn}(_)" if fn else "_")


def _render(node: tuple[Any, ...], name: Any) -> str:
    tag = node[0]
    if tag == "ref":
        return name(node[1], None)
    if tag in ("rlow", "rhigh"):
        return name(node[1], "low" if tag == "rlow" else "high")
    if tag == "num":
        return repr(node[1])
    if tag == "one_minus":
        return f"(1 - {_render(node[1], name)})"
    if tag == "pow":
        return f"({_render(node[1], name)}) ** {_render(node[2], name)}"
    return f"({_render(node[1], name)} {tag} {_render(node[2], name)})"


def _bind(node: tuple[Any, ...], pools: dict[str, list[Figure]], rng: random.Random) -> tuple[str, float] | None:
    """The template with claims picked for its holes: (expression text, value), or None when the
    pools cannot fill it (or the figure is not a sensible positive number)."""
    tag = node[0]
    if tag in ("ref", "rlow", "rhigh"):
        pool = pools["range" if tag != "ref" else node[1]]
        if not pool:
            return None
        figure = rng.choice(pool)
        if tag == "ref":
            return figure.claim_id, figure.value
        fn = "low" if tag == "rlow" else "high"
        return f"{fn}({figure.claim_id})", figure.low if fn == "low" else figure.high  # type: ignore[return-value]
    if tag == "num":
        return repr(node[1]), float(node[1])
    parts = [_bind(child, pools, rng) for child in node[1:]]
    if any(part is None for part in parts):
        return None
    texts, values = zip(*parts)  # type: ignore[misc]
    if tag == "one_minus":
        return f"(1 - {texts[0]})", 1 - values[0]
    if tag == "pow":
        if values[0] <= 0:
            return None
        return f"({texts[0]}) ** {texts[1]}", values[0] ** values[1]
    left, right = values
    if tag == "/" and right == 0:
        return None
    value = {"+": left + right, "-": left - right, "*": left * right, "/": left / right if right else 0.0}[tag]
    return f"({texts[0]} {tag} {texts[1]})", value


def _strip_outer(text: str) -> str:
    if text.startswith("(") and text.endswith(")"):
        depth = 0
        for i, char in enumerate(text):
            depth += (char == "(") - (char == ")")
            if depth == 0 and i < len(text) - 1:
                return text
        return text[1:-1]
    return text


def _metric_figure(metric: str, kind: str) -> float:
    """The figure every source agrees on for a metric (the same on every run: no salted hash)."""
    spread = zlib.crc32(metric.encode()) % 1000 / 1000
    return round(5 + 90 * spread, 1) if kind == "share" else round(1 + 899 * spread, 1)


# -- writing -------------------------------------------------------------------------------------

def _fmt(number: float, digits: int = 4) -> str:
    text = f"{number:.{digits}g}"
    return text if "e" not in text else f"{number:.{digits - 1}e}"


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _scale_word(unit: str) -> str:
    return {"USD bn": "billion dollars", "USD M": "million dollars", "USD T": "trillion dollars"}.get(unit, unit)


class _Writer:
    def __init__(self, rng: random.Random, shapes: int | str | None, sources: int) -> None:
        self.rng = rng
        self.sources = sources
        self.new_shape_share = 1.0 if shapes == "all" else SHAPES_PER_CHECK
        self.templates: list[tuple[tuple[Any, ...], str]] = []
        self.seen: set[str] = set()
        if isinstance(shapes, int):  # a fixed pool of exactly this many distinct shapes
            while len(self.templates) < shapes:
                self._new_template()
            self.new_shape_share = 0.0
        self.earlier: list[Figure] = []  # exact figures of earlier pages that checks may reach back to

    def page(self, number: int, claims: int) -> str:
        rng = self.rng
        topic = TOPICS[number % len(TOPICS)]
        unit = MONEY_UNITS[number % len(MONEY_UNITS)]
        on_page: list[Figure] = []
        lines = ["---", f"title: {topic.capitalize()} notes {number}",
                 "summary: >-", f"  Figures on {topic} gathered by the desk: what the sources say, and which of",
                 "  their numbers the desk's model and arithmetic reproduce.",
                 f"tags: [{topic}, {rng.choice(('margins', 'capex', 'revenue', 'pricing'))}]", "claims:"]
        for index in range(claims):
            if index and index % 7 == 0:
                lines.append(f"  # --- part {index // 7 + 1}")
            lines += self.claim(number, index, topic, unit, on_page)
        self.earlier.extend(on_page)
        del self.earlier[:-200]
        lines += ["---", "", f"# {topic.capitalize()} notes {number}", ""]
        lines += [PROSE_PARAGRAPH] * rng.randint(8, 22)
        return "\n".join(lines)

    def claim(self, page: int, index: int, topic: str, unit: str, on_page: list[Figure]) -> list[str]:
        rng = self.rng
        claim_id = f"{topic}_p{page:06d}_c{index:02d}"
        cited = sorted({f"src_{rng.randrange(self.sources):03d}" for _ in range(rng.choice((1, 1, 2, 2, 3)))})
        wrong = rng.random() < WRONG_SHARE
        as_of = rng.choice(OLD) if rng.random() < STALE_SHARE else rng.choice(RECENT)
        extra: list[str] = []
        value_lines: list[str] = []
        text: str
        roll = rng.random()
        pools = self._pools(on_page, unit)
        if roll < QUALITATIVE_SHARE:
            text = (f"{topic.capitalize()}'s sources argue the trend in {rng.choice(('margins', 'capex', 'prices'))} "
                    f"will not reverse before the next funding round closes.")
        elif roll < QUALITATIVE_SHARE + CHECK_SHARE * MODEL_CHECK_SHARE:
            batch = rng.choice((1, 2, 4, 8, 16, 24, 32, 40, 64, 128))
            quantity = rng.choice(("cost_per_mtok", "margin_per_mtok", "cost_per_mtok"))
            cost = NODE_COST_PER_HOUR / (TOKENS_PER_SECOND * batch * 3600) * 1e6
            figure = (cost if quantity == "cost_per_mtok" else PRICE_PER_MTOK - cost) * (1.3 if wrong else 1.0)
            value_lines = [f'    value: "~{figure:.2f}"', "    unit: USD/Mtok"]
            if rng.random() < 0.2:
                value_lines.append(f"    metric: token_model.{quantity}.batch{batch}.g{page // 100}")
            extra = [f"    check: {quantity}", f"    given: {{batch: {batch}}}"]
            text = f"At batch {batch} the node's {quantity.replace('_', ' ')} comes to about ${figure:.2f}."
            as_of = "2026"
        elif roll < QUALITATIVE_SHARE + CHECK_SHARE and (checked := self._checked(pools)) is not None:
            expression, figure, kind = checked
            figure *= 1.25 if wrong else 1.0
            shown_unit = unit if kind == "money" else "%"
            shown = figure if kind == "money" else figure * 100
            if rng.random() < 0.4:  # stated to more digits, with a tolerance
                value_lines = [f"    value: {_fmt(shown, 5)}", f"    unit: {_quoted(shown_unit)}",
                               f"    tolerance: {_quoted(rng.choice(('1%', '2%', '5%')))}"]
            else:
                value_lines = [f'    value: "~{_fmt(shown, 3)}"', f"    unit: {_quoted(shown_unit)}"]
            if len(expression) > 70:
                extra = ["    check: >-", f"      {expression}"]
            else:
                extra = [f"    check: {expression}"]
            text = (f"Taken together, the figures the sources itemise put {topic}'s exposure at about "
                    f"{_fmt(shown, 3)} {'percent' if kind != 'money' else _scale_word(shown_unit)}.")
        else:
            kind = "share" if rng.random() < 0.3 else "money"
            metric = None
            if rng.random() < 0.35:  # a figure other pages state too: they agree, unless one is wrong
                metric = f"{topic}.{kind}.u{MONEY_UNITS.index(unit) if kind == 'money' else 'pct'}.g{page // 60}"
                figure = _metric_figure(metric, kind) * (1.4 if wrong else 1.0)
            elif kind == "share":
                figure = round(rng.uniform(5, 95), 1)
            else:
                figure = round(rng.uniform(1, 900), rng.choice((0, 1, 2)))
            shown_unit = "%" if kind == "share" else unit
            written = rng.choices(("exact", "approx", "range", "bound"), (50, 28, 12, 10))[0]
            low = high = None
            if written == "exact":
                value = _fmt(figure, 6)
                on_page.append(Figure(claim_id, float(value) / (100 if kind == "share" else 1), unit, kind))
            elif written == "approx":
                value = _quoted(f"~{_fmt(figure, 3)}")
            elif written == "range":
                low, high = figure, round(figure * rng.uniform(1.1, 1.8), 1)
                if kind == "share":
                    low, high = min(low, 90.0), min(max(high, low + 1), 99.0)
                value = f"[{_fmt(low, 6)}, {_fmt(high, 6)}]"
                scale = 100 if kind == "share" else 1
                on_page.append(Figure(claim_id, low / scale, unit, "range" if kind == "money" else "share-range",
                                      float(_fmt(low, 6)) / scale, float(_fmt(high, 6)) / scale))
            else:
                op = rng.choice((">", ">=", "<", "<="))
                bound = figure * (0.9 if op.startswith(">") else 1.1) if metric else figure  # true of the figure
                value = _quoted(f"{op}{_fmt(bound, 3)}")
            value_lines = [f"    value: {value}", f"    unit: {_quoted(shown_unit)}"]
            if metric:
                value_lines.append(f"    metric: {metric}")
            shown_text = value.strip('"[]~').replace(", ", " to ")
            text = (f"{topic.capitalize()}'s reported figure {rng.choice(VERBS)} {shown_text} "
                    f"{'percent' if kind == 'share' else _scale_word(shown_unit)}, according to the source.")
        lines = [f"  - id: {claim_id}"]
        if len(text) > 80:
            lines += ["    text: >-", f"      {text}"]
        else:
            lines.append(f"    text: {_quoted(text) if ': ' in text else text}")
        lines += [f"    stance: {rng.choice(STANCES)}", f"    sources: [{', '.join(cited)}]"]
        if rng.random() < 0.15:
            lines.append(f"    attributed_to: {rng.choice(('Goldman Sachs', 'SemiAnalysis', 'The Information'))}")
        lines.append(f"    as_of: {as_of}")
        lines += value_lines + extra
        if rng.random() < 0.02:
            lines.append("    stale_after: never")
        if rng.random() < 0.35:
            lines += ["    note: >-", f"      {rng.choice(NOTES)}"]
        return lines

    def _pools(self, on_page: list[Figure], unit: str) -> dict[str, list[Figure]]:
        """The claims a check on this page may read: the page's own, and now and then (or when the
        page has none of a kind yet) recent ones of earlier pages in the same unit."""
        reach_back = self.rng.random() < 0.15
        pools: dict[str, list[Figure]] = {}
        for kind in ("money", "share", "range"):
            here = [f for f in on_page if f.kind == kind]
            if reach_back or len(here) < 2:
                here = here + [f for f in self.earlier[-80:] if f.kind == kind and (kind == "share" or f.unit == unit)]
            pools[kind] = here
        return pools

    def _new_template(self) -> tuple[tuple[Any, ...], str]:
        """A template whose shape no earlier check has (random trees of small depth repeat often)."""
        for attempt in range(200):
            template, kind = _template(self.rng)
            if attempt > 20:  # deepen: the small shapes are used up
                template = ("+", template, ("*", ("ref", "money"), ("num", attempt))) if kind == "money" else \
                    ("*", template, ("num", 1 + attempt / 1000))
            shape = _shape(template)
            if shape not in self.seen:
                break
        self.seen.add(shape)
        self.templates.append((template, kind))
        return template, kind

    def _checked(self, pools: dict[str, list[Figure]]) -> tuple[str, float, str] | None:
        for _ in range(6):
            if not self.templates or self.rng.random() < self.new_shape_share:
                template, kind = self._new_template()
            else:
                template, kind = self.rng.choice(self.templates)
            bound = _bind(template, pools, self.rng)
            if bound is None:
                continue
            text, value = bound
            if not math.isfinite(value) or value <= 1e-6 or value > 1e9 or (kind == "ratio" and value > 50):
                continue
            return _strip_outer(text), value, kind
        return None


def generate(root: Path, claims: int, seed: int = 0, shapes: int | str | None = None) -> Path:
    """Write a desk of about `claims` claims under `root`. `shapes`: None for the calibrated
    diversity of check shapes, a number for a fixed pool of that many, "all" for a new shape in
    every check."""
    rng = random.Random(seed)
    pages = max(1, round(claims / CLAIMS_PER_PAGE))
    sources = max(3, min(900, pages // 4 + 3))
    root = Path(root)
    (root / "data" / "models").mkdir(parents=True, exist_ok=True)
    (root / "data" / "sources.yaml").write_text(sources_text(sources), encoding="utf-8")
    (root / "data" / "models" / "token_cost.yaml").write_text(MODEL_YAML, encoding="utf-8")
    writer = _Writer(rng, shapes, sources)
    left = claims
    for page in range(pages):
        per_page = left // (pages - page)
        folder = root / "kb" / TOPICS[page % len(TOPICS)]
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"notes-{page:06d}.md").write_text(writer.page(page, per_page), encoding="utf-8")
        left -= per_page
    return root


# -- profile: the same figures for any desk ----------------------------------------------------------

_NAME = re.compile(r"\b[a-z_][a-z0-9_]*\b")
_NUMBER = re.compile(r"\b\d+(\.\d+)?(e[+-]?\d+)?\b")


def check_shape(check: str) -> str:
    """A check with every name that is not a function replaced by `_` and spaces folded: the part
    of a check the checker can compile once and reuse."""
    text = " ".join(check.split())
    return _NAME.sub(lambda m: m.group(0) if m.group(0) in ("low", "high", "min", "max", "sqrt", "log", "exp")
                     else "_", text)


def desk_profile(root: Path) -> dict[str, float]:
    """Figures that say how hard a desk is, from its raw front-matter (PyYAML's safe loader)."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    pages = sorted((root / "kb").rglob("*.md"))
    claims: list[dict[str, Any]] = []
    fm_bytes = body_bytes = with_claims = 0
    for page in pages:
        text = page.read_text(encoding="utf-8")
        if not text.startswith("---"):
            continue
        end = text.find("\n---", 3)
        front = text[3:end]
        data = yaml.load(front, Loader=loader) or {}
        page_claims = [c for c in data.get("claims") or [] if isinstance(c, dict)]
        if not page_claims:
            continue
        with_claims += 1
        fm_bytes += len(front.encode())
        body_bytes += len(text[end + 4:].encode())
        claims.extend(page_claims)
    concept = max(1, with_claims)
    n = max(1, len(claims))
    checks = [str(c["check"]) for c in claims if c.get("check")]
    shapes = {check_shape(c) for c in checks}
    values = [c.get("value") for c in claims if "value" in c]
    ops = [sum(check.count(op) for op in "+-*/") for check in checks]
    names = [len(set(_NAME.findall(check)) - {"low", "high"}) for check in checks]
    return {
        "pages with claims": float(with_claims),
        "claims": float(len(claims)),
        "claims per page": len(claims) / concept,
        "front-matter bytes per claim": fm_bytes / n,
        "body bytes per page": body_bytes / concept,
        "text length (median chars)": float(statistics.median(len(str(c.get("text", ""))) for c in claims)) if claims else 0.0,
        "share with note": sum(1 for c in claims if c.get("note")) / n,
        "share quantitative": len(values) / n,
        "share with check": len(checks) / n,
        "distinct shapes per check": len(shapes) / max(1, len(checks)),
        "operators per check": statistics.mean(ops) if ops else 0.0,
        "names per check": statistics.mean(names) if names else 0.0,
        "share of checks with given": sum(1 for c in claims if c.get("check") and c.get("given")) / max(1, len(checks)),
        "share of checks with ** or low/high": sum(1 for c in checks if "**" in c or "low(" in c or "high(" in c)
        / max(1, len(checks)),
        "share ranges": sum(1 for v in values if isinstance(v, list)) / max(1, len(values)),
        "share bounds": sum(1 for v in values if isinstance(v, str) and v[:1] in "<>") / max(1, len(values)),
        "share approximate": sum(1 for v in values if isinstance(v, str) and v.startswith("~")) / max(1, len(values)),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("root", type=Path, nargs="?", help="folder to write the desk into (created)")
    parser.add_argument("--claims", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--shapes", default=None,
                        help="distinct check shapes: a number (a fixed pool), 'all' (every check its own), "
                             "default: calibrated against the bundled desk")
    parser.add_argument("--profile", type=Path, nargs="*", help="print the profile of these desks and stop")
    args = parser.parse_args(argv)
    if args.profile:
        profiles = [desk_profile(p) for p in args.profile]
        for key in profiles[0]:
            print(f"{key:40}" + "".join(f"{p[key]:>14.3f}" for p in profiles))
        return 0
    if args.root is None:
        parser.error("give a folder to write the desk into, or --profile DESK ...")
    shapes = args.shapes if args.shapes in (None, "all") else int(args.shapes)
    generate(args.root, args.claims, args.seed, shapes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
