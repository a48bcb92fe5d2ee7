"""Near-duplicate claims: the same claim twice, or the same claim with another figure.

Two texts are compared in two parts:

- their **words**, with every figure, unit, date and hedge ("about", "roughly") taken out, scored
  with rapidfuzz: `process.cdist` with the scorer `wording_score` below on texts prepared by
  `words` (rapidfuzz's `utils.default_process`: lower case, anything not a letter or digit made a
  space, trimmed; then the figures and a few function words dropped);
- their **figures**: every number with its multiplier and unit ("$13bn" and "about $13 billion"
  are both 13e9; "five times" and "5x" both 5x), and their dates (years, months, quarters).

`wording_score` is the mean of `fuzz.token_sort_ratio` (word order ignored) and `fuzz.ratio`
(word order counts), so that "A's margin is higher than B's" and "B's margin is higher than A's"
are not taken for one claim. `token_set_ratio` is not used: it gives 100 to any sentence whose
words are a subset of another's ("OpenAI's revenue reached $13bn" inside "... and its losses were
larger still").

A pair scoring at least THRESHOLD is then:
- `duplicate` when the figures agree (within 1%) and the dates do not differ;
- `conflict` (a conflict candidate: the same claim with another figure) when both state figures
  and they differ, and the dates do not;
- nothing when one negates what the other states ("not", "no", "never"), they move in opposite
  directions ("rose"/"fell", "gross"/"net"), the dates differ (the same figure for another
  period), or they name different things: each a capitalised name the other lacks ("Google holds"
  / "Amazon holds"), or one a name inside the sentence that the other lacks ("... backlog tied to
  OpenAI", a narrower claim).

The labelled pairs in tests/duplicates/pairs.yaml measure it; kb/guide/commands.md gives the
precision and recall at THRESHOLD, and a test holds them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from rapidfuzz import fuzz, process, utils

THRESHOLD = 72.0
MAX_TEXT = 4000  # characters of a text that are compared: bounds the work of one comparison
FIGURE_TOLERANCE = 0.01

_MULTIPLIERS = {"trillion": 1e12, "tn": 1e12, "t": 1e12, "billion": 1e9, "bn": 1e9, "b": 1e9, "million": 1e6,
                "mn": 1e6, "m": 1e6, "thousand": 1e3, "k": 1e3}
_WORD_NUMBERS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
                 "ten": 10, "eleven": 11, "twelve": 12, "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50,
                 "hundred": 100, "twice": 2, "half": 0.5, "double": 2, "triple": 3}
_MONTHS = ("january|february|march|april|may|june|july|august|september|october|november|december|"
           "jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec")
_DATE = re.compile(rf"\b(?:(?:{_MONTHS})\.?\s+)?(?:19|20)\d\d(?:-\d\d(?:-\d\d)?)?\b|\b[qh][1-4]\b|"
                   rf"\b(?:{_MONTHS})\b(?=\s+(?:19|20)\d\d)", re.IGNORECASE)
_NUMBER = re.compile(
    r"(?P<currency>[$€£]|\busd\s*|\beur\s*)?"
    r"(?P<number>(?<![\w.])\d+(?:,\d{3})*(?:\.\d+)?|\b(?:" + "|".join(_WORD_NUMBERS) + r")\b)"
    r"(?:\s*(?P<multiplier>trillion|billion|million|thousand|tn|bn|mn|[tbmk])\b)?"
    r"(?:\s*(?P<unit>%|percent(?:age points?)?\b|pp\b|x\b|times\b|fold\b))?",
    re.IGNORECASE)
# Words that carry no claim: function words and the hedges that go with figures.
_FILLER = frozenset("a an the of to in on at for by is are was were be been being its it that this these those "
                    "and or as with from s about around roughly approximately some nearly almost circa "
                    "per each every year years a an just over under".split())
_WORD = re.compile(r"[^\W\d_]+")
_NEGATIONS = frozenset("not no never none nor without cannot t".split())
_OPPOSITES = [("rose", "fell"), ("rise", "fall"), ("rises", "falls"), ("up", "down"), ("higher", "lower"),
              ("more", "less"), ("increase", "decrease"), ("increased", "decreased"), ("grew", "shrank"),
              ("above", "below"), ("positive", "negative"), ("profit", "loss"), ("profits", "losses"),
              ("gross", "net"), ("input", "output"), ("cut", "expanded"), ("cuts", "expands"), ("gain", "loss"),
              ("buy", "sell")]


@dataclass(frozen=True)
class Parsed:
    """A text taken apart: its words, its figures (value, unit kind) and its dates."""

    text: str
    words: str
    figures: tuple[tuple[float, str], ...]
    dates: frozenset[str]
    negated: bool
    directions: frozenset[str]
    names: frozenset[str]  # capitalised words (lower-cased), the first word of the text included
    inner_names: frozenset[str]  # capitalised words that do not start the text
    lowered: frozenset[str]  # every word, lower-cased


@dataclass(frozen=True)
class Match:
    """One near-duplicate of a text: which, how close, and what it is."""

    index: int  # into the candidates given
    score: float  # wording_score, 0-100
    kind: str  # "duplicate" or "conflict"
    why: str  # in words: "same wording and figures", "same wording, figures 13e9 vs 12e9"


def parse(text: str) -> Parsed:
    text = text[:MAX_TEXT]
    dates = frozenset(_date_key(m.group()) for m in _DATE.finditer(text))
    without_dates = _DATE.sub(" ", text)
    figures: list[tuple[float, str]] = []

    def figure(match: re.Match[str]) -> str:
        raw = match.group("number").lower()
        value = float(_WORD_NUMBERS[raw]) if raw in _WORD_NUMBERS else float(raw.replace(",", ""))
        multiplier = (match.group("multiplier") or "").lower()
        unit = (match.group("unit") or "").lower()
        if raw in _WORD_NUMBERS and not (multiplier or unit or match.group("currency")):
            if raw not in ("twice", "double", "triple", "half"):
                figures.append((value, ""))
                return " "
        value *= _MULTIPLIERS.get(multiplier, 1.0)
        kind = "%" if unit.startswith(("%", "percent", "pp")) else "x" if unit in ("x", "times", "fold") or \
            raw in ("twice", "double", "triple") else ""
        figures.append((value, kind))
        return " "

    words = _NUMBER.sub(figure, without_dates)
    tokens = [t for t in utils.default_process(words).split() if t not in _FILLER]
    token_set = set(tokens)
    raw_words = _WORD.findall(text)
    names = [(i, w.lower()) for i, w in enumerate(raw_words) if w[0].isupper() and w.lower() not in _FILLER]
    return Parsed(text, " ".join(t for t in tokens if t not in _NEGATIONS), tuple(sorted(figures)), dates,
                  bool(token_set & _NEGATIONS), frozenset(token_set & {w for pair in _OPPOSITES for w in pair}),
                  frozenset(w for _, w in names), frozenset(w for i, w in names if i),
                  frozenset(w.lower() for w in raw_words))


def _date_key(text: str) -> str:
    digits = re.findall(r"\d+", text)
    return digits[0] if digits and len(digits[0]) == 4 else text.lower()


def wording_score(first: str, second: str, *, processor: object = None, score_cutoff: float | None = None) -> float:
    """The mean of token_sort_ratio and ratio (see the module docstring); a rapidfuzz scorer."""
    score = (fuzz.token_sort_ratio(first, second) + fuzz.ratio(first, second)) / 2
    return score if score_cutoff is None or score >= score_cutoff else 0.0


def scores(texts: Sequence[str], candidates: Sequence[str]) -> list[list[float]]:
    """The wording score of every text against every candidate (rows: texts)."""
    matrix = process.cdist([parse(t).words for t in texts], [parse(c).words for c in candidates],
                           scorer=wording_score, workers=1)
    return [[float(v) for v in row] for row in matrix]


def classify(first: Parsed, second: Parsed, score: float, threshold: float = THRESHOLD) -> tuple[str, str] | None:
    """("duplicate" | "conflict", why) for a pair with this wording score, or None."""
    if score < threshold:
        return None
    if first.negated != second.negated:
        return None
    if _opposed(first.directions, second.directions):
        return None
    if first.dates and second.dates and first.dates != second.dates:
        return None
    if _other_subject(first, second):
        return None
    if not first.figures or not second.figures or _same_figures(first.figures, second.figures):
        return "duplicate", f"wording {score:.0f}/100, figures {'agree' if first.figures else 'absent'}"
    return "conflict", f"wording {score:.0f}/100, figures {_shown(first.figures)} vs {_shown(second.figures)}"


def _other_subject(first: Parsed, second: Parsed) -> bool:
    """Do the texts name different things: each a name the other lacks (Google / Amazon), or one a
    name inside the sentence that the other lacks (a qualifier: "... tied to OpenAI")?"""
    only_first = first.names - second.lowered
    only_second = second.names - first.lowered
    if only_first and only_second:
        return True
    return bool(first.inner_names - second.lowered) or bool(second.inner_names - first.lowered)


def _opposed(first: frozenset[str], second: frozenset[str]) -> bool:
    for a, b in _OPPOSITES:
        if (a in first and b in second and b not in first and a not in second) or \
                (b in first and a in second and a not in first and b not in second):
            return True
    return False


def _same_figures(first: tuple[tuple[float, str], ...], second: tuple[tuple[float, str], ...]) -> bool:
    if len(first) != len(second):
        return False
    for (a, kind_a), (b, kind_b) in zip(first, second):
        if kind_a and kind_b and kind_a != kind_b:
            return False
        if abs(a - b) > FIGURE_TOLERANCE * max(abs(a), abs(b)):
            return False
    return True


def _shown(figures: tuple[tuple[float, str], ...]) -> str:
    return ", ".join(f"{value:g}{kind}" for value, kind in figures)


def near_duplicates(text: str, candidates: Sequence[str], threshold: float = THRESHOLD,
                    limit: int = 5) -> list[Match]:
    """The candidates that duplicate `text` or conflict with it, closest first."""
    if not candidates:
        return []
    parsed = parse(text)
    others = [parse(c) for c in candidates]
    row = process.cdist([parsed.words], [o.words for o in others], scorer=wording_score, workers=1)[0]
    found = []
    for index, score in enumerate(row):
        verdict = classify(parsed, others[index], float(score), threshold)
        if verdict:
            found.append(Match(index, float(score), *verdict))
    found.sort(key=lambda m: (-m.score, m.index))
    return found[:limit]
