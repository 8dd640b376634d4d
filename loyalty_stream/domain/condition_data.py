"""Reading a condition's `data`, once, when an achievement is saved: shapes and typed values."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from .numbers import Number, finite_number, numeric

Test = Callable[[Any, ZoneInfo], bool]  # (attribute value, store zone) -> holds


class DataError(ValueError):
    """The condition's `data` does not fit its operator."""


@dataclass(frozen=True, slots=True)
class Expected:
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


def expected(raw: Any) -> Expected:
    if isinstance(raw, bool):
        return Expected(None, None, raw)
    if isinstance(raw, (int, float)):
        number = finite_number(raw)
        if number is None:
            raise DataError("must be a finite number")
        return Expected(None, number, None)
    if isinstance(raw, str):
        flag = {"true": True, "false": False}.get(raw)
        return Expected(raw, numeric(raw), flag)
    raise DataError("must be a string, number or boolean")


def as_list(raw: Any) -> list[Any]:
    if isinstance(raw, list):
        if not raw:
            raise DataError("must not be empty")
        return raw
    if raw is None or isinstance(raw, Mapping):
        raise DataError("must be a list of values")
    return [raw]


def scalar(raw: Any) -> Any:
    if isinstance(raw, list) and len(raw) == 1:
        return raw[0]
    return raw


def pair(raw: Any) -> tuple[Any, Any]:
    if isinstance(raw, Mapping) and "from" in raw and "to" in raw:
        return raw["from"], raw["to"]
    if isinstance(raw, list) and len(raw) == 2:
        return raw[0], raw[1]
    raise DataError('must be {"from": ..., "to": ...}')


def number(raw: Any) -> Number:
    value = numeric(raw)
    if value is None:
        raise DataError("must be a number")
    return value


def text(raw: Any) -> str:
    raw = scalar(raw)
    if not isinstance(raw, str) or not raw:
        raise DataError("must be a non-empty string")
    return raw


def number_test(check: Callable[[Number], bool]) -> Test:
    def test(value: Any, tz: ZoneInfo) -> bool:
        number = None if isinstance(value, bool) else finite_number(value)
        return number is not None and check(number)

    return test


def text_test(check: Callable[[str], bool]) -> Test:
    return lambda value, tz: isinstance(value, str) and check(value)
