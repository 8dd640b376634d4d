"""Condition operators: each turns the condition's `data` into a test of one attribute value.

Compiling happens once, when an achievement is parsed; a test never raises: a missing value
or one of the wrong type simply fails it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time
from typing import Any, Final
from zoneinfo import ZoneInfo

from .events import parse_event_date
from .numbers import Number, finite_number, numeric

Test = Callable[[Any, ZoneInfo], bool]


class DataError(ValueError):
    """The condition's `data` does not fit its operator."""


@dataclass(frozen=True, slots=True)
class _Expected:
    """One value to compare with: the same datum read as text, number and flag."""

    text: str | None
    number: Number | None
    flag: bool | None

    def matches(self, value: Any) -> bool:
        if isinstance(value, bool):
            return self.flag is not None and value is self.flag
        if isinstance(value, (int, float)):
            return self.number is not None and finite_number(value) == self.number
        if isinstance(value, str):
            return self.text is not None and value == self.text
        return False


def _expected(raw: Any) -> _Expected:
    if isinstance(raw, bool):
        return _Expected(None, None, raw)
    if isinstance(raw, (int, float)):
        number = finite_number(raw)
        if number is None:
            raise DataError("must be a finite number")
        return _Expected(None, number, None)
    if isinstance(raw, str):
        flag = {"true": True, "false": False}.get(raw)
        return _Expected(raw, numeric(raw), flag)
    raise DataError("must be a string, number or boolean")


def _list(raw: Any) -> list[Any]:
    if isinstance(raw, list):
        if not raw:
            raise DataError("must not be empty")
        return raw
    if raw is None or isinstance(raw, Mapping):
        raise DataError("must be a list of values")
    return [raw]


def _scalar(raw: Any) -> Any:
    if isinstance(raw, list) and len(raw) == 1:
        return raw[0]
    return raw


def _pair(raw: Any) -> tuple[Any, Any]:
    if isinstance(raw, Mapping) and "from" in raw and "to" in raw:
        return raw["from"], raw["to"]
    if isinstance(raw, list) and len(raw) == 2:
        return raw[0], raw[1]
    raise DataError('must be {"from": ..., "to": ...}')


def _number(raw: Any) -> Number:
    value = numeric(raw)
    if value is None:
        raise DataError("must be a number")
    return value


def _text(raw: Any) -> str:
    raw = _scalar(raw)
    if not isinstance(raw, str) or not raw:
        raise DataError("must be a non-empty string")
    return raw


def _instant(raw: Any) -> Callable[[ZoneInfo], datetime]:
    """A date-time datum as a UTC instant; without an offset it is store-local, so it is read
    per zone. Instants compare in UTC: same-zone comparison ignores `fold` in the repeated hour."""
    text = _text(raw)
    try:  # reject bad dates when the achievement is saved
        parse_event_date(text, ZoneInfo("UTC"))
    except ValueError as exc:
        raise DataError(f"{text!r} is not an ISO-8601 date-time") from exc
    cache: dict[str, datetime] = {}

    def at(tz: ZoneInfo) -> datetime:
        found = cache.get(tz.key)
        if found is None:
            found = cache[tz.key] = parse_event_date(text, tz).astimezone(UTC)
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


def _number_test(check: Callable[[Number], bool]) -> Test:
    def test(value: Any, tz: ZoneInfo) -> bool:
        number = None if isinstance(value, bool) else finite_number(value)
        return number is not None and check(number)

    return test


def _text_test(check: Callable[[str], bool]) -> Test:
    return lambda value, tz: isinstance(value, str) and check(value)


def _date_test(check: Callable[[datetime, ZoneInfo], bool]) -> Test:
    def test(value: Any, tz: ZoneInfo) -> bool:
        moment = as_datetime(value, tz)
        return moment is not None and check(moment, tz)

    return test


def _equal(data: Any, negate: bool) -> Test:
    want = _expected(_scalar(data))

    def test(value: Any, tz: ZoneInfo) -> bool:
        if not isinstance(value, (bool, int, float, str)):
            return False
        return want.matches(value) != negate

    return test


def _one_of(data: Any, negate: bool) -> Test:
    wants = [_expected(item) for item in _list(data)]

    def test(value: Any, tz: ZoneInfo) -> bool:
        if not isinstance(value, (bool, int, float, str)):
            return False
        return any(w.matches(value) for w in wants) != negate

    return test


def _contains(items: Sequence[Any], negate: bool) -> Test:
    wants = [_expected(item) for item in items]
    texts = [w.text for w in wants if w.text is not None]

    def test(value: Any, tz: ZoneInfo) -> bool:
        if isinstance(value, str):
            found = any(t in value for t in texts)
        elif isinstance(value, list):
            found = any(w.matches(v) for v in value for w in wants)
        else:
            return False
        return found != negate

    return test


def _compare(data: Any, check: Callable[[Number, Number], bool]) -> Test:
    bound = _number(_scalar(data))
    return _number_test(lambda n: check(n, bound))


def _between(data: Any, negate: bool) -> Test:
    low, high = _pair(data)
    if finite_number(low) is not None and finite_number(high) is not None:
        lo, hi = _number(low), _number(high)
        return _number_test(lambda n: (lo <= n <= hi) != negate)
    start, end = _instant(low), _instant(high)
    return _date_test(lambda m, tz: (start(tz) <= m.astimezone(UTC) <= end(tz)) != negate)


def _regex(data: Any) -> Test:
    try:
        pattern = re.compile(_text(data))
    except re.error as exc:
        raise DataError(f"is not a valid regular expression: {exc}") from exc
    return _text_test(lambda s: pattern.search(s) is not None)


_DAYS: Final = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_MONTHS: Final = (
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
)


def _calendar_numbers(data: Any, names: Sequence[str], top: int) -> frozenset[int]:
    """Numbers 1..top (ISO: Monday = 1), numeric strings, or English names / 3-letter forms."""
    chosen: set[int] = set()
    for item in _list(data):
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
        return time.fromisoformat(_text(raw))
    except ValueError as exc:
        raise DataError(f"{raw!r} is not a time of day HH:MM[:SS]") from exc


def _time_between(data: Any) -> Test:
    low, high = _pair(data)
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


def _starts(data: Any) -> Test:
    prefix = _text(data)
    return _text_test(lambda s: s.startswith(prefix))


def _ends(data: Any) -> Test:
    suffix = _text(data)
    return _text_test(lambda s: s.endswith(suffix))


OPERATORS: Final[Mapping[str, Callable[[Any], Test]]] = {
    "is_equal": lambda d: _equal(d, False),
    "is_not_equal": lambda d: _equal(d, True),
    "is_greater": lambda d: _compare(d, lambda a, b: a > b),
    "is_greater_or_equal": lambda d: _compare(d, lambda a, b: a >= b),
    "is_less": lambda d: _compare(d, lambda a, b: a < b),
    "is_less_or_equal": lambda d: _compare(d, lambda a, b: a <= b),
    "is_number_between": lambda d: _between({"from": _number(_pair(d)[0]), "to": _number(_pair(d)[1])}, False),
    "is_one_of": lambda d: _one_of(d, False),
    "is_not_one_of": lambda d: _one_of(d, True),
    "contains": lambda d: _contains([_scalar(d)], False),
    "not_contains": lambda d: _contains([_scalar(d)], True),
    "contains_one_of": lambda d: _contains(_list(d), False),
    "not_contains_one_of": lambda d: _contains(_list(d), True),
    "starts_with": _starts,
    "ends_with": _ends,
    "matches_regex": _regex,
    "is_after": _after,
    "is_before": _before,
    "is_between": lambda d: _between(d, False),
    "is_not_between": lambda d: _between(d, True),
    "is_day_of_week": _day_of_week,
    "is_month_of_year": _month_of_year,
    "is_day_of_month": _day_of_month,
    "is_time_between": _time_between,
}

ACTIVITY_OPERATORS: Final[frozenset[str]] = frozenset(
    {
        "is_after",
        "is_before",
        "is_between",
        "is_not_between",
        "is_day_of_week",
        "is_month_of_year",
        "is_day_of_month",
        "is_time_between",
    }
)

# In ConditionType but meaningless for a custom event (Open Loyalty's expression language,
# transaction labels): refused when the achievement is saved rather than silently false.
UNSUPPORTED: Final[frozenset[str]] = frozenset({"expression", "has_at_least_one_label"})
