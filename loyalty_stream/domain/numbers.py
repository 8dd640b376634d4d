"""Exact progress numbers: sums must not depend on the order events arrive in, so progress is
kept as int or Decimal (float addition is not associative) and rendered as JSON numbers."""

from __future__ import annotations

import math
from decimal import Decimal, InvalidOperation

Number = int | Decimal


def normalise(value: Number) -> Number:
    """Whole values become int so they serialise and print as integers."""
    if isinstance(value, Decimal) and value == value.to_integral_value():
        return int(value)
    return value


def finite_number(value: object) -> Number | None:
    """The exact value of a JSON number (bool is not a number), or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        # repr is the shortest string that reads back as the same float: what the client sent.
        return normalise(Decimal(repr(value)))
    if isinstance(value, Decimal):
        return normalise(value) if value.is_finite() else None
    return None


def numeric(value: object) -> Number | None:
    """Like finite_number, but also reads numeric strings ("300", "2.5")."""
    if isinstance(value, str):
        try:
            parsed = Decimal(value.strip())
        except InvalidOperation:
            return None
        return normalise(parsed) if parsed.is_finite() else None
    return finite_number(value)


def to_json(value: Number) -> int | float:
    """A JSON number: an integer when whole, else a float."""
    value = normalise(value)
    return value if isinstance(value, int) else float(value)


def to_text(value: Number) -> str:
    """The string form used where the contract wants a string (GET Achievement periodGoal)."""
    value = normalise(value)
    return str(value) if isinstance(value, int) else format(value, "f")


def dump(value: Number) -> int | str:
    """Storage form: int as is, a fraction as its exact decimal string."""
    value = normalise(value)
    return value if isinstance(value, int) else str(value)


def load(raw: object) -> Number:
    if isinstance(raw, bool):
        raise ValueError("stored number is a bool")
    if isinstance(raw, int):
        return raw
    if isinstance(raw, str):
        return normalise(Decimal(raw))
    raise ValueError(f"stored number {raw!r} is neither int nor decimal string")
