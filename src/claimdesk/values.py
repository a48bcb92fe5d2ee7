"""Stated values: what a claim says its figure is, and whether another figure agrees with it.

A value is exact (`30`), approximate (`"~0.81"`), a range (`[40, 60]`) or a one-sided bound
(`">0.5"`). The written form is kept so pages and reports show the figure as the researcher wrote
it. Everything here is in the claim's own unit; conversion is units.py's job.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Literal

from .frontmatter import YamlNumber

Kind = Literal["exact", "approx", "range", "bound"]

FLOAT_NOISE = 1e-9  # relative: what "exact" means for a float
_NUMBER = r"[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?"
_APPROX = re.compile(rf"\s*[~≈]\s*(?P<num>{_NUMBER})\s*")
_BOUND = re.compile(rf"\s*(?P<op>>=|<=|>|<|≥|≤)\s*(?P<num>{_NUMBER})\s*")
_PLAIN = re.compile(rf"\s*(?P<num>{_NUMBER})\s*")
_OPS = {"≥": ">=", "≤": "<="}


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number) or abs(number) > 1e300:
        raise ValueError(f"{text} is out of range (at most ±1e300)")
    return number


def half_last_digit(text: str) -> float:
    """Half a unit in the last significant digit: '0.81' -> 0.005, '300' -> 50, '1.24e14' -> 5e11."""
    mantissa, _, exponent = text.lower().lstrip("+-").partition("e")
    if "." in mantissa:
        power = int(exponent or 0) - len(mantissa.split(".", 1)[1])
    else:
        digits = mantissa.lstrip("0")
        power = int(exponent or 0) + (len(digits) - len(digits.rstrip("0")) if digits else 0)
    if not -300 <= power <= 300:  # 10.0 ** 400 overflows: '~0e400' states a precision no figure has
        raise ValueError(f"~{text} states its precision at 1e{power}, out of range (at most ±1e300); "
                         "write the number without the large exponent")
    return 0.5 * 10.0**power


@dataclass(frozen=True)
class Stated:
    kind: Kind
    low: float | None  # exact/approx: the number; range: low; bound '>'/'>=': the bound
    high: float | None  # exact/approx: the number; range: high; bound '<'/'<=': the bound
    written: str
    op: str | None = None  # bounds only
    band: float = 0.0  # approx only: the half-width implied by the digits written

    @property
    def number(self) -> float:
        """The single number an exact or approximate value states."""
        if self.kind not in ("exact", "approx"):
            raise ValueError(f"{self.written} is a {self.kind}, not a single number")
        assert self.low is not None
        return self.low

    def midpoint(self) -> float:
        if self.kind == "bound":
            raise ValueError(f"{self.written} is a one-sided bound; it has no midpoint")
        assert self.low is not None and self.high is not None
        return (self.low + self.high) / 2

    def part(self, which: str | None) -> float:
        """The number an expression reads: the value itself (None), or its low, high or mid."""
        if which is None:
            return self.number
        if which == "mid":
            return self.midpoint()
        number = self.low if which == "low" else self.high
        if number is None:
            raise ValueError(f"{self.written} has no {which} end")
        return number

    def interval(self, tolerance: Tolerance | None = None) -> tuple[float, float]:
        """Every figure this value admits, as a closed interval (open ends are ±inf)."""
        slack = tolerance.absolute(self) if tolerance else 0.0
        if self.kind == "bound":
            assert self.op is not None
            if self.op.startswith(">"):
                assert self.low is not None
                return self.low - slack, math.inf
            assert self.high is not None
            return -math.inf, self.high + slack
        assert self.low is not None and self.high is not None
        if self.kind == "approx" and tolerance is None:
            slack = self.band
        noise = FLOAT_NOISE * max(abs(self.low), abs(self.high))
        return self.low - slack - noise, self.high + slack + noise

    def admits(self, figure: float, tolerance: Tolerance | None = None) -> bool:
        """Does `figure` (in the claim's unit) agree with this value?"""
        noise = FLOAT_NOISE * abs(figure)
        if tolerance is None and (self.kind == "exact" or self.kind == "approx"):
            # interval() below, for its most common case (one number, no tolerance), in line: the
            # checker asks this once per claim. The arithmetic is the same, step by step.
            number = self.low
            assert number is not None
            slack = self.band if self.kind == "approx" else 0.0
            own_noise = FLOAT_NOISE * abs(number)
            return number - slack - own_noise - noise <= figure <= number + slack + own_noise + noise
        low, high = self.interval(tolerance)
        if self.kind == "bound" and tolerance is None and self.op in (">", "<"):
            return figure > low if self.op == ">" else figure < high
        return low - noise <= figure <= high + noise


@dataclass(frozen=True)
class Tolerance:
    written: str
    amount: float
    relative: bool

    def absolute(self, value: Stated) -> float:
        if not self.relative:
            return self.amount
        reference = max(abs(x) for x in (value.low, value.high) if x is not None)
        return self.amount * reference


def parse_value(raw: Any) -> Stated:
    """A claim's `value` as read from YAML. Raises ValueError with a message for the author."""
    if isinstance(raw, bool) or raw is None:
        raise ValueError(f"expected a number, a [low, high] range or a string like \"~0.81\" or \">0.5\", got {raw!r}")
    if isinstance(raw, (int, float)) and not isinstance(raw, bool):
        raw = YamlNumber(repr(raw))
    if isinstance(raw, list):
        if len(raw) != 2 or not all(isinstance(x, YamlNumber) for x in raw):
            raise ValueError("a range is written [low, high] with two plain numbers, e.g. [40, 60]")
        low, high = _finite(raw[0]), _finite(raw[1])
        if low > high:
            raise ValueError(f"range [{raw[0]}, {raw[1]}] has low above high; write [{raw[1]}, {raw[0]}]")
        return Stated("range", low, high, f"{raw[0]}–{raw[1]}")
    if isinstance(raw, YamlNumber):
        number = _finite(raw)
        return Stated("exact", number, number, str(raw))
    if not isinstance(raw, str):
        raise ValueError(f"expected a number, a range or a string, got {type(raw).__name__}")
    if "," in raw and re.fullmatch(r"\s*[~<>=≈]*\s*[0-9,.]+\s*", raw):
        raise ValueError(f"'{raw}' uses a thousands separator; write {raw.replace(',', '')}")
    if match := _APPROX.fullmatch(raw):
        number = _finite(match["num"])
        return Stated("approx", number, number, f"~{match['num']}", band=half_last_digit(match["num"]))
    if match := _BOUND.fullmatch(raw):
        number = _finite(match["num"])
        op = _OPS.get(match["op"], match["op"])
        is_lower = op.startswith(">")
        return Stated("bound", number if is_lower else None, None if is_lower else number,
                      f"{op}{match['num']}", op=op)
    if match := _PLAIN.fullmatch(raw):
        number = _finite(match["num"])
        return Stated("exact", number, number, match["num"])
    hint = prose_value_hint(raw)
    if hint:
        raise ValueError(f"'{raw}' is written like prose; {hint}")
    raise ValueError(f"cannot read '{raw}' as a value: write a number (30), a range ([40, 60]), "
                     "an approximate number (\"~0.81\") or a bound (\">0.5\", \">=72\")")


# Figures as people write them in prose: "$4.3bn", "40%", "10+", "~$2", "40-60%", "USD 2.1 billion".
_SCALE_WORDS = {"k": "k", "K": "k", "thousand": "k", "m": "M", "M": "M", "mn": "M", "mm": "M", "million": "M",
                "b": "bn", "B": "bn", "bn": "bn", "billion": "bn", "t": "T", "T": "T", "tn": "T", "trillion": "T"}
_CURRENCY = r"(?:\$|USD|US\$|dollars?)"
_SCALE = "|".join(sorted(map(re.escape, _SCALE_WORDS), key=len, reverse=True))
# "$2.10/h", "$30 an hour", "$8bn a year": the time a rate is per.
_PER_WORDS = {"h": "h", "hr": "h", "hour": "h", "day": "day", "month": "month", "mo": "month", "year": "year",
              "yr": "year", "GPU-hour": "h", "GPU hour": "h"}
_PER = "|".join(sorted(map(re.escape, _PER_WORDS), key=len, reverse=True))
_PROSE_NUMBER = r"[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?"
_PROSE = re.compile(
    rf"\s*(?P<approx>~|≈|about\s+|around\s+|roughly\s+)?(?P<over>>=|<=|>|<|≥|≤|over\s+|more than\s+|at least\s+)?"
    rf"\s*(?P<cur1>{_CURRENCY})?\s*(?P<low>{_PROSE_NUMBER})"
    rf"(?:\s*(?:-|–|—|to)\s*(?P<cur2>{_CURRENCY})?\s*(?P<high>{_PROSE_NUMBER}))?"
    rf"\s*(?P<scale>{_SCALE})?\s*(?P<cur3>{_CURRENCY})?\s*(?P<percent>%|percent)?\s*(?P<plus>\+)?"
    rf"(?:\s*(?:/|per\s+|an?\s+)(?P<per>{_PER}))?\s*")


def prose_value_hint(raw: str) -> str | None:
    """The exact rewrite of a figure written as in prose, or None when `raw` is not one."""
    match = _PROSE.fullmatch(raw) if len(raw) <= 60 else None  # a figure is short; bounds the regex's work
    if not match:
        return None
    low, high = match["low"], match["high"]
    scale = _SCALE_WORDS.get(match["scale"] or "", "")
    currency = bool(match["cur1"] or match["cur2"] or match["cur3"])
    if match["scale"] and not currency and not match["percent"] and match["scale"] in ("m", "b", "t"):
        return None  # "5m" may be minutes or metres: no guess
    unit = " ".join(part for part in ("USD" if currency else "", scale) if part) or ("\"%\"" if match["percent"] else "")
    if match["per"]:
        unit = f"{unit or 'count'}/{_PER_WORDS[match['per']]}"
    if match["percent"] and unit != "\"%\"":
        unit += " %"
    unit_part = f" and unit: {unit}" if unit else " with the unit in `unit:`"
    if scale and not currency and not match["percent"]:
        unit_part = f" and the scale in the unit: unit: USD {scale} (or {scale} count, {scale}tok, ...)"
    if high:
        return f"a range is written value: [{low}, {high}]{unit_part}"
    if match["plus"] or match["over"]:
        op = (match["over"] or ">=").strip()
        op = {"over": ">", "more than": ">", "at least": ">=", "≥": ">=", "≤": "<="}.get(op, op)
        return f"a bound is written quoted: value: \"{op}{low}\"{unit_part}"
    if match["approx"]:
        return f"write value: \"~{low}\" (quoted){unit_part}"
    if not unit:
        return None
    return f"write the number and the unit apart: value: {low}{unit_part}"


def parse_tolerance(raw: Any) -> Tolerance:
    """`tolerance:` is an absolute number or a percentage string like '5%'."""
    if isinstance(raw, YamlNumber):
        amount = _finite(raw)
        if amount < 0:
            raise ValueError("tolerance cannot be negative")
        return Tolerance(str(raw), amount, relative=False)
    if isinstance(raw, str) and (match := re.fullmatch(rf"\s*({_NUMBER})\s*%\s*", raw)):
        amount = _finite(match[1])
        if amount < 0:
            raise ValueError("tolerance cannot be negative")
        return Tolerance(f"{match[1]}%", amount / 100, relative=True)
    raise ValueError(f"tolerance must be a number (absolute, in the claim's unit) or a percentage like \"5%\", got {raw!r}")


def figure_text(number: float) -> str:
    """A figure for people, written as the value field accepts it (no thousands separators): 4
    decimals below 100, 2 below 1e6, else 4 significant digits."""
    size = abs(number)
    if size >= 1e6 or size < 1e-3:
        return "0" if number == 0 else f"{number:.4g}"
    text = f"{number:.4f}" if size < 100 else f"{number:.2f}"
    return text.rstrip("0").rstrip(".")
