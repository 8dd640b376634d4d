"""Limits on free-form JSON in requests (event bodies, achievement definitions, members' extra fields).

docs/domain.md's limits: strings (values and object keys) at most 255 characters, numbers finite. Numbers must
also lie within ±(2^53 - 1), the range where every integer is exact in an IEEE double (I-JSON, RFC 7493):
a larger one is read differently by JavaScript clients, and once progress sums it exactly (as an int)
it can outgrow the 64-bit integers the JSON encoders downstream can write. Nesting is bounded too. The
body guard already refused what is not strict JSON (NaN, Infinity, 1e400, lone surrogates), so what is
checked here is what strict JSON still allows.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from ingest_api.errors import FieldProblem
from loyalty_stream.domain import parse_event_date

MAX_STRING = 255
MAX_SAFE_INTEGER = 2**53 - 1
MAX_DEPTH = 16
# The earliest eventDate accepted. Dates near the calendar's ends overflow date arithmetic (year 1 in a
# zone east of UTC is year 0 in UTC: a 500 before this check), and nothing counts events that old.
EARLIEST_EVENT_DATE = datetime(1900, 1, 1, tzinfo=UTC)
_RFC3339 = re.compile(
    r"^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])T([01]\d|2[0-3]):[0-5]\d:([0-5]\d|60)(\.\d+)?(Z|[+-]([01]\d|2[0-3]):[0-5]\d)$"
)


def parse_datetime(value: Any, tz: ZoneInfo) -> datetime:
    """``parse_event_date`` (ISO-8601; no offset = store time), with an instant that does not exist in UTC
    (year 1 east of UTC, year 9999 west of it) refused with ValueError instead of an OverflowError."""
    try:
        parsed = parse_event_date(value, tz)
        parsed.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"{value!r} is outside the calendar") from None
    return parsed


def rfc3339(value: Any, tz: ZoneInfo) -> str | None:
    """``value`` as an RFC 3339 date-time (the contract's ``format: date-time``): as it is if it already is
    one, else parsed (a date alone is midnight; no offset = store time) and rendered; None if unparsable."""
    if isinstance(value, str) and _RFC3339.match(value):
        return value  # the fast path: what this API writes (lists render every member's dates)
    try:
        return parse_datetime(value, tz).isoformat()
    except ValueError:
        return None


def json_problems(
    value: Any, path: str, *, long_text: Collection[str] = (), long_text_max: int = 4096
) -> list[FieldProblem]:
    """Every place in ``value`` that breaks a limit, with its path from the request root.

    Values under keys named in ``long_text`` (e.g. ``description``) may be strings of up to ``long_text_max``.
    """
    problems: list[FieldProblem] = []

    def walk(item: Any, where: str, max_string: int, depth: int) -> None:
        if isinstance(item, str):
            if len(item) > max_string:
                message = f"This value is too long. It should have {max_string} characters or less."
                problems.append(FieldProblem(where, message, "too_long"))
        elif isinstance(item, bool) or item is None:
            return
        elif isinstance(item, int | float):
            if not math.isfinite(item):
                problems.append(FieldProblem(where, "This value should be a finite number.", "not_finite"))
            elif abs(item) > MAX_SAFE_INTEGER:
                message = f"This number is out of range (at most {MAX_SAFE_INTEGER} either side of 0)."
                problems.append(FieldProblem(where, message, "out_of_range"))
        elif depth >= MAX_DEPTH:
            problems.append(FieldProblem(where, "This value is nested too deeply.", "too_deep"))
        elif isinstance(item, dict):
            for key, child in item.items():
                if len(key) > MAX_STRING:
                    message = f"This key is too long. It should have {MAX_STRING} characters or less."
                    problems.append(FieldProblem(f"{where}.{key[:32]}…", message, "too_long"))
                    continue
                walk(child, f"{where}.{key}", long_text_max if key in long_text else MAX_STRING, depth + 1)
        elif isinstance(item, list):
            for index, child in enumerate(item):
                walk(child, f"{where}[{index}]", max_string, depth + 1)

    walk(value, path, MAX_STRING, 0)
    return problems
