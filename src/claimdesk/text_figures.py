"""Figures read out of a claim's `text`, to catch a text that contradicts its own `value`.

A claim's sentence and its value are typed separately; after an edit the text may still say
"$2.10" while the value says 2.00. This module reads the money and percentage figures of a text
("$4.3bn", "$4.3 billion", "4.3 billion dollars", "74%", "74 percent") and says whether one of
them agrees with the value, within the value's own band (or tolerance) or the text's rounding.
Only money figures are compared with a money unit, percentages with `%` and percentage points
with `pp`: a text names many other numbers (years, model sizes, batch sizes) that are not the
claim's figure. A figure matches in either sign, as prose states losses as positive amounts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .schema import Claim
from .units import SCALES, UnitError, parse_unit
from .values import half_last_digit

MAX_TEXT_SCANNED = 2000  # a claim's text is at most 4000 characters; figures come early
_SCALE_WORDS = {"k": 1e3, "thousand": 1e3, "m": 1e6, "mn": 1e6, "million": 1e6, "b": 1e9, "bn": 1e9, "billion": 1e9,
                "t": 1e12, "tn": 1e12, "trillion": 1e12}
_NUMBER = r"[0-9]+(?:,[0-9]{3})*(?:\.[0-9]+)?"
_SCALE = r"(?:\s*(?P<scale>thousand|million|billion|trillion|mn|bn|tn|[kKmMbBtT])(?![A-Za-z]))?"
_MONEY = re.compile(rf"(?<![A-Za-z0-9.])(?:\$|US\$|USD\s?)(?P<number>{_NUMBER}){_SCALE}"
                    rf"|(?<![A-Za-z0-9.$])(?P<number2>{_NUMBER}){_SCALE.replace('scale', 'scale2')}\s+(?:dollars|USD)\b")
_PERCENT = re.compile(rf"(?<![A-Za-z0-9.])(?P<number>{_NUMBER})\s?(?:%|percent\b|per cent\b)")
_POINTS = re.compile(rf"(?<![A-Za-z0-9.])(?P<number>{_NUMBER})\s?(?:pp\b|percentage points?\b|points?\b)")


@dataclass(frozen=True)
class TextFigure:
    written: str
    number: float  # with its scale word applied: "$4.3bn" -> 4.3e9
    precision: float  # half its last digit, scaled likewise


def money_figures(text: str) -> list[TextFigure]:
    out = []
    for match in _MONEY.finditer(text[:MAX_TEXT_SCANNED]):
        digits = (match["number"] or match["number2"]).replace(",", "")
        scale = _SCALE_WORDS.get((match["scale"] or match["scale2"] or "").lower(), 1.0)
        out.append(TextFigure(match[0].strip(), float(digits) * scale, half_last_digit(digits) * scale))
    return out


def percent_figures(text: str, pattern: re.Pattern[str] = _PERCENT) -> list[TextFigure]:
    return [TextFigure(m[0].strip(), float(m["number"].replace(",", "")), half_last_digit(m["number"].replace(",", "")))
            for m in pattern.finditer(text[:MAX_TEXT_SCANNED])]


def text_contradiction(claim: Claim) -> str | None:
    """A warning when the claim's text states figures of the value's kind and none agrees with the
    value; None otherwise."""
    if claim.value is None or claim.unit is None:
        return None
    try:
        unit = parse_unit(claim.unit)
    except UnitError:
        return None
    if claim.unit.strip() in ("%", "percent"):
        figures, scale = percent_figures(claim.text), 1.0
    elif claim.unit.strip() == "pp":
        figures, scale = percent_figures(claim.text, _POINTS), 1.0
    elif unit.dims[0] == 1:
        figures, scale = money_figures(claim.text), _numerator_scale(claim.unit)
    else:
        return None
    if not figures:
        return None
    low, high = claim.value.interval(claim.tolerance)
    for figure in figures:
        for number, precision in ((figure.number / scale, figure.precision / scale),
                                  (figure.number, figure.precision)):
            slack = precision + 1e-9 * abs(number)
            # prose states a loss or a fall as a positive figure ("loses $7.96", "minus 200%")
            if any(low - slack <= signed <= high + slack for signed in (number, -number)):
                return None
    shown = ", ".join(f"'{f.written}'" for f in figures[:3])
    return (f"the text states {shown} but value is {claim.value.written} {claim.unit}; "
            "correct whichever is out of date")


def _numerator_scale(unit_text: str) -> float:
    """The scale written before the first '/': 'USD bn/year' -> 1e9, 'USD/Mtok' -> 1, 'bnUSD' -> 1e9."""
    scale = 1.0
    for word in unit_text.split("/")[0].replace("*", " ").split():
        if word in SCALES:
            scale *= SCALES[word]
        elif word.endswith("USD") and word[:-3] in SCALES:
            scale *= SCALES[word[:-3]]
    return scale
