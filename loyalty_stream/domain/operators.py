"""Condition operators: each turns the condition's `data` into a test of one attribute value.

Compiling happens once, when an achievement is parsed; a test never raises: a missing value
or one of the wrong type simply fails it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final
from zoneinfo import ZoneInfo

from .condition_data import DataError, Test, as_list, expected, number, number_test, pair, scalar, text, text_test
from .numbers import Number, finite_number
from .time_operators import TIME_OPERATORS, date_between


def _equal(data: Any, negate: bool) -> Test:
    want = expected(scalar(data))

    def test(value: Any, tz: ZoneInfo) -> bool:
        if not isinstance(value, (bool, int, float, str)):
            return False
        return want.matches(value) != negate

    return test


def _one_of(data: Any, negate: bool) -> Test:
    wants = [expected(item) for item in as_list(data)]

    def test(value: Any, tz: ZoneInfo) -> bool:
        if not isinstance(value, (bool, int, float, str)):
            return False
        return any(w.matches(value) for w in wants) != negate

    return test


def _contains(items: Sequence[Any], negate: bool) -> Test:
    wants = [expected(item) for item in items]
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
    bound = number(scalar(data))
    return number_test(lambda n: check(n, bound))


def _between(data: Any, negate: bool) -> Test:
    low, high = pair(data)
    if finite_number(low) is not None and finite_number(high) is not None:
        lo, hi = number(low), number(high)
        return number_test(lambda n: (lo <= n <= hi) != negate)
    return date_between(low, high, negate)


def _regex(data: Any) -> Test:
    try:
        pattern = re.compile(text(data))
    except re.error as exc:
        raise DataError(f"is not a valid regular expression: {exc}") from exc
    return text_test(lambda s: pattern.search(s) is not None)


def _starts(data: Any) -> Test:
    prefix = text(data)
    return text_test(lambda s: s.startswith(prefix))


def _ends(data: Any) -> Test:
    suffix = text(data)
    return text_test(lambda s: s.endswith(suffix))


def _labels(data: Any) -> Test:
    """has_at_least_one_label: `data` is a label ``{key, value}`` or a list of them (a label without a value
    matches any value of its key); the value tested is a list of labels."""
    raw = data if isinstance(data, list) else [data]
    wants: list[tuple[str, str | None]] = []
    for label in raw:
        if not isinstance(label, Mapping) or not isinstance(label.get("key"), str) or not label["key"]:
            raise DataError("must be a label {key, value} or a list of them")
        value = label.get("value")
        if value is not None and not isinstance(value, str):
            raise DataError("a label's value must be a string")
        wants.append((label["key"], value or None))
    if not wants:
        raise DataError("must name at least one label")

    def test(value: Any, tz: ZoneInfo) -> bool:
        if not isinstance(value, list):
            return False
        have = {(lab.get("key"), lab.get("value")) for lab in value if isinstance(lab, Mapping)}
        keys = {key for key, _ in have}
        return any((key, text) in have if text is not None else key in keys for key, text in wants)

    return test


LABEL_OPERATOR: Final = "has_at_least_one_label"

OPERATORS: Final[Mapping[str, Callable[[Any], Test]]] = {
    "is_equal": lambda d: _equal(d, False),
    "is_not_equal": lambda d: _equal(d, True),
    "is_greater": lambda d: _compare(d, lambda a, b: a > b),
    "is_greater_or_equal": lambda d: _compare(d, lambda a, b: a >= b),
    "is_less": lambda d: _compare(d, lambda a, b: a < b),
    "is_less_or_equal": lambda d: _compare(d, lambda a, b: a <= b),
    "is_number_between": lambda d: _between({"from": number(pair(d)[0]), "to": number(pair(d)[1])}, False),
    "is_one_of": lambda d: _one_of(d, False),
    "is_not_one_of": lambda d: _one_of(d, True),
    "contains": lambda d: _contains([scalar(d)], False),
    "not_contains": lambda d: _contains([scalar(d)], True),
    "contains_one_of": lambda d: _contains(as_list(d), False),
    "not_contains_one_of": lambda d: _contains(as_list(d), True),
    "starts_with": _starts,
    "ends_with": _ends,
    "matches_regex": _regex,
    "is_between": lambda d: _between(d, False),
    "is_not_between": lambda d: _between(d, True),
    **TIME_OPERATORS,
    LABEL_OPERATOR: _labels,
}

# Over a transaction's items (transaction.items.<field>) these hold when they hold for every item.
NEGATED: Final[frozenset[str]] = frozenset({"is_not_equal", "is_not_one_of", "not_contains", "not_contains_one_of",
                                            "is_not_between"})  # fmt: skip

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

# In ConditionType but not evaluated here (Open Loyalty's expression language; labels, which only
# transactions carry): refused when the achievement is saved rather than silently false.
UNSUPPORTED: Final[frozenset[str]] = frozenset({"expression", "has_at_least_one_label"})
