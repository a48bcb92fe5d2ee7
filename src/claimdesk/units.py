"""Units: parse the desk's unit strings and convert between them.

A unit is a scale factor to the base units (USD, tok, s) and a dimension: the exponents of
currency, tokens and time. That is all the checker needs to turn USD/h and tok/s into USD/Mtok
and to refuse adding dollars to tokens, and it is exact and fast, so no symbolic units library
is used. The grammar is documented in kb/guide/claim-format.md; keep the two in step.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache

Dims = tuple[int, int, int]  # exponents of (currency, tokens, time)
DIMENSION_NAMES = ("currency", "tokens", "time")
DIMENSIONLESS: Dims = (0, 0, 0)
MAX_UNIT_LENGTH = 64
MIN_FACTOR, MAX_FACTOR = 1e-300, 1e300  # a unit's scale to base units; beyond, conversions overflow
MAX_DIMENSION_POWER = 12

_YEAR = 365.25 * 86400.0

# name -> (factor to base units, dimension)
BASE_UNITS: dict[str, tuple[float, Dims]] = {
    "USD": (1.0, (1, 0, 0)),
    "tok": (1.0, (0, 1, 0)),
    "s": (1.0, (0, 0, 1)),
    "min": (60.0, (0, 0, 1)),
    "h": (3600.0, (0, 0, 1)),
    "day": (86400.0, (0, 0, 1)),
    "week": (7 * 86400.0, (0, 0, 1)),
    "month": (_YEAR / 12, (0, 0, 1)),
    "year": (_YEAR, (0, 0, 1)),
    "%": (0.01, DIMENSIONLESS),
    "pp": (0.01, DIMENSIONLESS),
    "x": (1.0, DIMENSIONLESS),
    "count": (1.0, DIMENSIONLESS),
    "1": (1.0, DIMENSIONLESS),
}
ALIASES = {
    "$": "USD", "token": "tok", "tokens": "tok", "sec": "s", "second": "s", "seconds": "s",
    "minute": "min", "minutes": "min", "hr": "h", "hour": "h", "hours": "h", "days": "day",
    "weeks": "week", "months": "month", "mo": "month", "years": "year", "yr": "year",
    "percent": "%",
}
SCALES: dict[str, float] = {"k": 1e3, "M": 1e6, "bn": 1e9, "T": 1e12, "P": 1e15, "E": 1e18, "Z": 1e21}

_WORD = re.compile(r"(?P<name>[^\s^*/]+)(?:\^(?P<exp>-?[0-9]))?")


class UnitError(ValueError):
    """A unit string that is not in the desk's unit grammar."""


@dataclass(frozen=True)
class Unit:
    text: str
    factor: float  # multiply a value in this unit by factor to get base units
    dims: Dims

    @property
    def dimension(self) -> str:
        return describe_dims(self.dims)

    def to_base(self, value: float) -> float:
        return value * self.factor

    def from_base(self, value: float) -> float:
        return value / self.factor

    def __str__(self) -> str:
        return self.text


def describe_dims(dims: Dims) -> str:
    """(1, -1, 0) -> 'currency/tokens'; (0, 0, 0) -> 'dimensionless'."""
    top = [name if e == 1 else f"{name}^{e}" for name, e in zip(DIMENSION_NAMES, dims) if e > 0]
    bottom = [name if e == -1 else f"{name}^{-e}" for name, e in zip(DIMENSION_NAMES, dims) if e < 0]
    if not top and not bottom:
        return "dimensionless"
    return ("*".join(top) or "1") + "".join(f"/{b}" for b in bottom)


def base_unit_text(dims: Dims) -> str:
    """The base unit of a dimension, written in the desk's unit grammar: (1, -1, 0) -> 'USD/tok'."""
    names = ("USD", "tok", "s")
    top = [n if e == 1 else f"{n}^{e}" for n, e in zip(names, dims) if e > 0]
    bottom = [n if e == -1 else f"{n}^{-e}" for n, e in zip(names, dims) if e < 0]
    return ("*".join(top) or "1") + "".join(f"/{b}" for b in bottom) if top or bottom else "1"


def _word(word: str, unit_text: str) -> tuple[float, Dims]:
    match = _WORD.fullmatch(word)
    if not match:
        raise UnitError(f"cannot read '{word}' in unit '{unit_text}'")
    name, exp = match["name"], int(match["exp"] or 1)
    factor, dims = _lookup(name, unit_text)
    return factor**exp, (dims[0] * exp, dims[1] * exp, dims[2] * exp)


def _lookup(name: str, unit_text: str, suggest: bool = True) -> tuple[float, Dims]:
    name = ALIASES.get(name, name)
    if name in BASE_UNITS:
        return BASE_UNITS[name]
    if name in SCALES:
        return SCALES[name], DIMENSIONLESS
    for scale, factor in SCALES.items():  # a scale glued to a base unit: Mtok, bnUSD
        rest = ALIASES.get(name[len(scale):], name[len(scale):])
        if name.startswith(scale) and rest in BASE_UNITS:
            base_factor, dims = BASE_UNITS[rest]
            return factor * base_factor, dims
    if not suggest:
        raise UnitError(name)
    rewrite = suggest_unit(unit_text)
    if rewrite is not None:
        hint = f"; write '{rewrite}'"
        dropped = [w for w in re.split(r"[\s*/-]+", unit_text) if w.lower() in _NOT_UNITS]
        if dropped:
            hint += f" ('{dropped[0]}' is not a unit: say what the figure is per in `text`)"
    else:
        known = list(BASE_UNITS) + list(ALIASES) + list(SCALES) + [s + "tok" for s in SCALES]
        hint = _close_word(name, known)
    raise UnitError(f"unknown unit '{name}' in '{unit_text}'{hint}; {GRAMMAR}")


GRAMMAR = ("a unit is base units and scales joined by spaces, * and / (USD bn, USD/Mtok, tok/s, %, count); "
           "see the unit table in kb/guide/claim-format.md")
# Words people write for units, in the desk's grammar.
_WORDS = {"dollar": "USD", "dollars": "USD", "usd": "USD", "us$": "USD", "$": "USD",
          "billion": "bn", "billions": "bn", "b": "bn", "bln": "bn", "million": "M", "millions": "M", "mn": "M",
          "mm": "M", "thousand": "k", "thousands": "k", "trillion": "T", "trillions": "T", "tn": "T",
          "hour": "h", "hours": "h", "hr": "h", "hrs": "h", "per": "/", "a": "/", "each": "",
          "percentage": "%", "pct": "%", "gpu": "", "gpus": "", "node": "", "nodes": ""}


_NOT_UNITS = ("gpu", "gpus", "node", "nodes", "each")


def suggest_unit(text: str) -> str | None:
    """A whole unit in the grammar for one written like prose ('dollars' -> 'USD', 'USD billion' ->
    'USD bn', 'USD per hour' -> 'USD/h', '$bn' -> 'USD bn', 'USD/GPU-hour' -> 'USD/h'), or None."""
    spaced = re.sub(r"([*/])", r" \1 ", text.replace("-", " "))
    spaced = re.sub(r"^\$(?=[A-Za-z])|(?<=\s)\$(?=[A-Za-z])", "$ ", spaced)  # $bn -> $ bn
    words = []
    for word in spaced.split():
        lowered = word.lower()
        if word in ("*", "/"):
            words.append(word)
        elif word in BASE_UNITS or word in ALIASES or word in SCALES:
            words.append(ALIASES.get(word, word))
        elif lowered in _WORDS:
            words.append(_WORDS[lowered])
        else:
            try:
                _lookup(word, text, suggest=False)
            except UnitError:
                return None
            words.append(word)
    rewritten = " ".join(w for w in words if w).replace(" / ", "/").replace(" * ", "*").strip("/* ")
    rewritten = re.sub(r"/+", "/", rewritten)
    rewritten = re.sub(r"\b(k|M|bn|T|P|E|Z) tok\b", r"\1tok", rewritten)  # a million tokens: Mtok
    rewritten = re.sub(r"^(k|M|bn|T|P|E|Z) USD\b", r"USD \1", rewritten)  # "bn USD" reads better as "USD bn"
    if not rewritten or rewritten == text:
        return None
    try:
        parse_unit(rewritten)
    except UnitError:
        return None
    return rewritten


def _close_word(name: str, known: list[str]) -> str:
    """' (did you mean 'x'?)' only for a close spelling of a unit word (edit distance), so that
    'dollars' is never offered 's'."""
    from rapidfuzz import fuzz, process

    best = process.extractOne(name, known, scorer=fuzz.ratio, score_cutoff=75)
    return f" (did you mean '{best[0]}'?)" if best and len(best[0]) > 1 else ""


@lru_cache(maxsize=4096)
def parse_unit(text: str) -> Unit:
    """Parse a unit string such as 'USD/Mtok', 'USD bn', 'tok/s', '%'. Raises UnitError."""
    if not isinstance(text, str) or not text.strip():
        raise UnitError("a unit is required (e.g. USD, USD bn, tok/s, %, x, count)")
    if len(text) > MAX_UNIT_LENGTH:
        raise UnitError(f"unit is longer than {MAX_UNIT_LENGTH} characters")
    factor, dims = 1.0, [0, 0, 0]
    parts = re.split(r"([*/])", text)
    sign = 1
    for part in parts:
        if part in ("*", "/"):
            sign = -1 if part == "/" else 1
            continue
        words = part.split()
        if not words:
            raise UnitError(f"'{text}' has an operator with nothing beside it")
        for word in words:
            word_factor, word_dims = _word(word, text)
            factor *= word_factor**sign
            for i in range(3):
                dims[i] += word_dims[i] * sign
    if not (MIN_FACTOR <= factor <= MAX_FACTOR):  # also inf and 0: they would divide by zero in conversions
        scale = f"by {factor:.3g}" if math.isfinite(factor) and factor else "beyond 1e±300"
        raise UnitError(f"unit '{text}' scales {scale}, out of range (1e-300 to 1e300); "
                        "write fewer scaled parts (Ztok^9 Ztok^9 is 1e378 tokens^18)")
    if any(abs(e) > MAX_DIMENSION_POWER for e in dims):
        raise UnitError(f"unit '{text}' raises a dimension to the power {max(dims, key=abs)}; "
                        f"at most {MAX_DIMENSION_POWER}")
    return Unit(text, factor, (dims[0], dims[1], dims[2]))


def convert(value: float, source: Unit, target: Unit) -> float:
    """Convert a value between units of the same dimension. Raises UnitError otherwise."""
    if source.dims != target.dims:
        raise UnitError(f"cannot convert {source} ({source.dimension}) to {target} ({target.dimension})")
    return value * source.factor / target.factor
