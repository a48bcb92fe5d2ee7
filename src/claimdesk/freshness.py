"""Dates, periods and freshness thresholds.

`as_of` names a period (a day, month, quarter, half or year); freshness is a threshold written
as data (`{count: 12, period: month}`), and whether a claim is stale is computed from the two and
today's date in one place, here. Nothing else in claimdesk does date arithmetic.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass
from typing import Any, Literal

from .frontmatter import YamlNumber, date_problem

PeriodName = Literal["day", "week", "month", "year"]
_MONTH = re.compile(r"([0-9]{4})-([0-9]{2})")
_QUARTER = re.compile(r"([0-9]{4})-[Qq]([1-4])")
_HALF = re.compile(r"([0-9]{4})-[Hh]([12])")
_YEAR = re.compile(r"[0-9]{4}")
_DAY = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")


@dataclass(frozen=True, order=True)
class Period:
    start: dt.date
    end: dt.date  # inclusive
    written: str

    def __str__(self) -> str:
        return self.written


def _month_end(year: int, month: int) -> dt.date:
    return dt.date(year, month, calendar.monthrange(year, month)[1])


def parse_period(raw: Any) -> Period:
    """2026-05-29, 2026-05, 2026-Q1, 2025-H2 or 2026. Raises ValueError with a message."""
    if isinstance(raw, dt.date):
        return Period(raw, raw, raw.isoformat())
    text = str(raw).strip() if isinstance(raw, (str, YamlNumber)) else None
    if text is None:
        raise ValueError(f"expected a date or period (2026-05-29, 2026-05, 2026-Q1, 2025-H2, 2026), got {raw!r}")
    if match := _DAY.fullmatch(text):
        year, month, day = (int(g) for g in match.groups())
        problem = date_problem(year, month, day)
        if problem:
            raise ValueError(f"{text} is not a valid date: {problem}")
        day_date = dt.date(year, month, day)
        return Period(day_date, day_date, text)
    if match := _MONTH.fullmatch(text):
        year, month = int(match[1]), int(match[2])
        if not 1 <= month <= 12 or year < 1:
            raise ValueError(f"{text} is not a valid month")
        return Period(dt.date(year, month, 1), _month_end(year, month), text)
    if match := _QUARTER.fullmatch(text):
        year, quarter = int(match[1]), int(match[2])
        return Period(dt.date(year, 3 * quarter - 2, 1), _month_end(year, 3 * quarter), f"{year}-Q{quarter}")
    if match := _HALF.fullmatch(text):
        year, half = int(match[1]), int(match[2])
        return Period(dt.date(year, 6 * half - 5, 1), _month_end(year, 6 * half), f"{year}-H{half}")
    if _YEAR.fullmatch(text) and int(text) >= 1:
        return Period(dt.date(int(text), 1, 1), dt.date(int(text), 12, 31), text)
    raise ValueError(f"cannot read '{text}' as a date or period: write 2026-05-29, 2026-05, 2026-Q1, 2025-H2 or 2026")


def parse_day(raw: Any) -> dt.date:
    """A single day, YYYY-MM-DD."""
    if isinstance(raw, dt.date):
        return raw
    if isinstance(raw, str) and (match := _DAY.fullmatch(raw.strip())):
        problem = date_problem(*(int(g) for g in match.groups()))
        if problem:
            raise ValueError(f"{raw} is not a valid date: {problem}")
        return dt.date(*(int(g) for g in match.groups()))
    raise ValueError(f"expected a date written YYYY-MM-DD, got {raw!r}")


def add_period(day: dt.date, count: int, period: PeriodName) -> dt.date:
    """`day` moved forward by count periods; month ends are clamped (Jan 31 + 1 month = Feb 28)."""
    try:
        if period == "day":
            return day + dt.timedelta(days=count)
        if period == "week":
            return day + dt.timedelta(weeks=count)
    except OverflowError:  # beyond year 9999 (or 1e9 weeks): never within a date, so never stale
        return dt.date.max
    months = count * (12 if period == "year" else 1)
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    if year > 9999:
        return dt.date.max
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


@dataclass(frozen=True)
class Threshold:
    """How long a figure stays fresh: `count` periods after the end of its as_of period."""

    count: int
    period: PeriodName

    def __str__(self) -> str:
        return f"{self.count} {self.period}{'' if self.count == 1 else 's'}"

    def expires(self, as_of: Period) -> dt.date:
        """The first day on which a figure for `as_of` is stale."""
        last_fresh = add_period(as_of.end, self.count, self.period)
        return last_fresh if last_fresh == dt.date.max else last_fresh + dt.timedelta(days=1)


DEFAULT_STALE_AFTER = Threshold(12, "month")
