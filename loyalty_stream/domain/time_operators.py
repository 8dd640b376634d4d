"""Date and time operators, on event.eventDate or an ISO date in the body, read in store time."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, time
from typing import Any, Final
from zoneinfo import ZoneInfo

from .condition_data import DataError, Test, as_list, pair, text
from .events import parse_event_date
from .numbers import numeric

_DAYS: Final = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


_MONTHS: Final = tuple(
    [
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
    ]
)


def _instant(raw: Any) -> Callable[[ZoneInfo], datetime]:
    """A date-time datum as a UTC instant; without an offset it is store-local, so it is read
    per zone. Instants compare in UTC: same-zone comparison ignores `fold` in the repeated hour."""
    datum = text(raw)
    try:  # reject bad dates when the achievement is saved
        parse_event_date(datum, ZoneInfo("UTC"))
    except ValueError as exc:
        raise DataError(f"{datum!r} is not an ISO-8601 date-time") from exc
    cache: dict[str, datetime] = {}

    def at(tz: ZoneInfo) -> datetime:
        found = cache.get(tz.key)
        if found is None:
            found = cache[tz.key] = parse_event_date(datum, tz).astimezone(UTC)
        return found

    return at


def as_datetime(value: Any, tz: ZoneInfo) -> datetime | None:
    """An attribute value as a store-local datetime, or None when it is not one."""
    if isinstance(value, datetime):
        return value.astimezone(tz) if value.tzinfo else value.replace(tzinfo=tz)
    if isinstance(value, str):
        try:
            return parse_event_date(value, tz).astimezone(tz)
        except ValueError:
            return None
    return None


def _date_test(check: Callable[[datetime, ZoneInfo], bool]) -> Test:
    def test(value: Any, tz: ZoneInfo) -> bool:
        moment = as_datetime(value, tz)
        return moment is not None and check(moment, tz)

    return test


def _calendar_numbers(data: Any, names: Sequence[str], top: int) -> frozenset[int]:
    """Numbers 1..top (ISO: Monday = 1), numeric strings, or English names / 3-letter forms."""
    chosen: set[int] = set()
    for item in as_list(data):
        number = numeric(item) if not isinstance(item, bool) else None
        if number is None and isinstance(item, str):
            word = item.strip().lower()
            number = next((i + 1 for i, n in enumerate(names) if word in (n, n[:3])), None)
        if not isinstance(number, int) or not 1 <= number <= top:
            raise DataError(f"{item!r} is not a value from 1 to {top}")
        chosen.add(number)
    return frozenset(chosen)


def _clock(raw: Any) -> time:
    try:
        return time.fromisoformat(text(raw))
    except ValueError as exc:
        raise DataError(f"{raw!r} is not a time of day HH:MM[:SS]") from exc


def _time_between(data: Any) -> Test:
    low, high = pair(data)
    start, end = _clock(low), _clock(high)

    def inside(moment: datetime, tz: ZoneInfo) -> bool:
        now = moment.time().replace(tzinfo=None)
        if start <= end:
            return start <= now <= end
        return now >= start or now <= end  # a window across midnight

    return _date_test(inside)


def _after(data: Any) -> Test:
    at = _instant(data)
    return _date_test(lambda m, tz: m.astimezone(UTC) > at(tz))


def _before(data: Any) -> Test:
    at = _instant(data)
    return _date_test(lambda m, tz: m.astimezone(UTC) < at(tz))


def _day_of_week(data: Any) -> Test:
    days = _calendar_numbers(data, _DAYS, 7)
    return _date_test(lambda m, tz: m.isoweekday() in days)


def _month_of_year(data: Any) -> Test:
    months = _calendar_numbers(data, _MONTHS, 12)
    return _date_test(lambda m, tz: m.month in months)


def _day_of_month(data: Any) -> Test:
    days = _calendar_numbers(data, (), 31)
    return _date_test(lambda m, tz: m.day in days)


def date_between(low: Any, high: Any, negate: bool) -> Test:
    start, end = _instant(low), _instant(high)
    return _date_test(lambda m, tz: (start(tz) <= m.astimezone(UTC) <= end(tz)) != negate)


TIME_OPERATORS: Final[Mapping[str, Callable[[Any], Test]]] = {
    "is_after": _after,
    "is_before": _before,
    "is_day_of_week": _day_of_week,
    "is_month_of_year": _month_of_year,
    "is_day_of_month": _day_of_month,
    "is_time_between": _time_between,
}
