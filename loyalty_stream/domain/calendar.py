"""Calendar arithmetic in store time: period buckets and limit intervals as integer indexes.

Consecutive periods have consecutive indexes, so a streak is a run of consecutive integers.
"""

from __future__ import annotations

import math
from datetime import date, datetime
from typing import Final, Literal

PeriodType = Literal["overall", "day", "week", "month", "year", "last_day"]
IntervalType = Literal["calendarHours", "calendarDays", "calendarWeeks", "calendarMonths", "calendarYears"]

PERIOD_TYPES: Final[tuple[PeriodType, ...]] = (
    "overall",
    "year",
    "month",
    "week",
    "day",
    "last_day",
)
INTERVAL_TYPES: Final[tuple[IntervalType, ...]] = (
    "calendarHours",
    "calendarDays",
    "calendarWeeks",
    "calendarMonths",
    "calendarYears",
)

# Nominal lengths, rounded up, used only to size how much history to keep.
_PERIOD_DAYS: Final[dict[PeriodType, int]] = {
    "day": 1,
    "last_day": 1,
    "week": 7,
    "month": 31,
    "year": 366,
}
_INTERVAL_HOURS: Final[dict[IntervalType, int]] = {
    "calendarHours": 1,
    "calendarDays": 24,
    "calendarWeeks": 168,
    "calendarMonths": 744,
    "calendarYears": 8784,
}


def period_index(period: PeriodType, day: date) -> int:
    """Index of the bucket holding a local calendar day (ISO weeks start on Monday)."""
    if period in ("day", "last_day"):
        return day.toordinal()
    if period == "week":
        # Ordinal 1 (0001-01-01) is a Monday, so this counts whole ISO weeks.
        return (day.toordinal() - 1) // 7
    if period == "month":
        return day.year * 12 + day.month - 1
    if period == "year":
        return day.year
    return 0


def interval_unit(interval: IntervalType, local: datetime) -> int:
    """Index of the calendar unit (hour, day, ISO week, month, year) of a local wall time.

    Hours are wall-clock hours: the hour repeated when clocks go back is one hour here.
    """
    day = local.date()
    if interval == "calendarHours":
        return day.toordinal() * 24 + local.hour
    if interval == "calendarDays":
        return day.toordinal()
    if interval == "calendarWeeks":
        return (day.toordinal() - 1) // 7
    if interval == "calendarMonths":
        return day.year * 12 + day.month - 1
    return day.year


def interval_key(interval: IntervalType, value: int, local: datetime) -> int:
    """Which `value`-unit calendar interval a wall time falls in (aligned at unit index 0)."""
    return interval_unit(interval, local) // value


def window_days(period: PeriodType, periods: int) -> int | None:
    """Nominal days covered by `periods` buckets; None for `overall` (one unbounded bucket)."""
    if period == "overall":
        return None
    return _PERIOD_DAYS[period] * periods


def interval_span(interval: IntervalType, value: int, days: int | None) -> int | None:
    """How many intervals cover `days` of history (with one to spare); None = unbounded."""
    if days is None:
        return None
    return math.ceil(days * 24 / (_INTERVAL_HOURS[interval] * value)) + 1
