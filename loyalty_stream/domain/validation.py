"""One validation of a custom event (docs/domain.md §3, §4), used by the API, which answers 400 at the
field, and by the processor, which dead-letters an event produced straight to Kafka. Pure.

Each problem carries both answers: the API's message and code, and the dead-letter reason code.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from .events import parse_event_date
from .identity import identifiers_of

MAX_STRING = 255
# Exact in an IEEE double (I-JSON, RFC 7493), so JavaScript clients read it as sent, and summable as an
# int without outgrowing the 64-bit integers the JSON encoders downstream can write.
MAX_SAFE_NUMBER = 2**53 - 1
MAX_DEPTH = 16
FUTURE_TOLERANCE = timedelta(minutes=5)
# Dates near the calendar's ends overflow date arithmetic, and nothing counts events that old.
EARLIEST_EVENT_DATE = datetime(1900, 1, 1, tzinfo=UTC)

FIELD_TYPES = ("text", "number", "datetime", "boolean", "object", "collection")


@dataclass(frozen=True, slots=True)
class Problem:
    path: str  # from the event: "type", "eventDate", "body.minutes", "customerData"
    message: str  # as the API answers it (Open Loyalty's wording)
    code: str  # the API's code
    reason: str  # the dead-letter reason code of an event read from Kafka


def _iso(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


_CHECKS: dict[str, Callable[[Any], bool]] = {
    "text": lambda v: isinstance(v, str),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v),
    "datetime": _iso,
    "boolean": lambda v: isinstance(v, bool),
    "object": lambda v: isinstance(v, dict),
    "collection": lambda v: isinstance(v, list),
}


def body_problems(
    body: Mapping[str, Any], fields: Iterable[Mapping[str, Any]], tz: ZoneInfo, *, prefix: str = "body"
) -> list[Problem]:
    """Every declared field whose value has the wrong type, or is a datetime the calendar cannot convert
    to UTC (year 1 east of UTC is not). Declared fields may be absent; undeclared keys are ignored."""
    problems = []
    for field in fields:
        name, kind = field["name"], field["type"]
        value = body.get(name)
        if value is None:
            continue
        check = _CHECKS.get(kind)
        path = f"{prefix}.{name}"
        if check is not None and not check(value):
            problems.append(Problem(path, f"This value should be of type {kind}.", "invalid_type", "invalid_body"))
        elif kind == "datetime":
            try:
                parse_event_date(value, tz)
            except ValueError:
                problems.append(Problem(path, "This value is not a valid datetime.", "invalid_type", "invalid_body"))
    return problems


def _flat_and_fine(value: Mapping[str, Any]) -> bool:
    """True for an object of short strings, safe numbers, booleans and nulls only (nothing to report);
    False sends it to the full walk, which says what is wrong if anything is."""
    for key, child in value.items():
        kind = type(child)
        if len(key) > MAX_STRING:
            return False
        if kind is str:
            if len(child) > MAX_STRING:
                return False
        elif kind is int or kind is float:
            if not abs(child) <= MAX_SAFE_NUMBER:  # NaN and infinities fail too
                return False
        elif child is not None and kind is not bool:
            return False
    return True


def json_problems(
    value: Any, path: str, *, long_text: Collection[str] = (), long_text_max: int = 4096
) -> list[Problem]:
    """Every place in free-form JSON that breaks a limit: strings (values and keys) at most 255 characters
    (values under keys named in ``long_text`` up to ``long_text_max``), numbers finite and within
    ±MAX_SAFE_NUMBER, nesting at most MAX_DEPTH."""
    if isinstance(value, dict) and _flat_and_fine(value):
        return []  # most event bodies: no path strings built for a walk that finds nothing
    problems: list[Problem] = []

    def walk(item: Any, where: str, max_string: int, depth: int) -> None:
        if isinstance(item, str):
            if len(item) > max_string:
                message = f"This value is too long. It should have {max_string} characters or less."
                problems.append(Problem(where, message, "too_long", "invalid_body"))
        elif isinstance(item, bool) or item is None:
            return
        elif isinstance(item, int | float):
            if not math.isfinite(item):
                problems.append(Problem(where, "This value should be a finite number.", "not_finite", "invalid_body"))
            elif abs(item) > MAX_SAFE_NUMBER:
                message = f"This number is out of range (at most {MAX_SAFE_NUMBER} either side of 0)."
                problems.append(Problem(where, message, "out_of_range", "invalid_body"))
        elif depth >= MAX_DEPTH:
            problems.append(Problem(where, "This value is nested too deeply.", "too_deep", "invalid_body"))
        elif isinstance(item, dict):
            for key, child in item.items():
                if len(key) > MAX_STRING:
                    message = f"This key is too long. It should have {MAX_STRING} characters or less."
                    problems.append(Problem(f"{where}.{key[:32]}…", message, "too_long", "invalid_body"))
                    continue
                walk(child, f"{where}.{key}", long_text_max if key in long_text else MAX_STRING, depth + 1)
        elif isinstance(item, list):
            for index, child in enumerate(item):
                walk(child, f"{where}[{index}]", max_string, depth + 1)

    walk(value, path, MAX_STRING, 0)
    return problems


def event_date_of(value: Any, tz: ZoneInfo, now: datetime) -> datetime | Problem:
    """The eventDate as an instant (no offset = store time), or why it is refused."""
    if not isinstance(value, str):
        return Problem("eventDate", "This value should be of type string.", "invalid_datetime", "missing_field")
    try:
        moment = parse_event_date(value, tz)
    except ValueError:
        return Problem("eventDate", "This value is not a valid datetime.", "invalid_datetime", "invalid_event_date")
    if moment - now > FUTURE_TOLERANCE:
        message = "The event date is more than 5 minutes in the future."
        return Problem("eventDate", message, "future_date", "future_event_date")
    if moment < EARLIEST_EVENT_DATE:
        message = "The event date is before 1900-01-01T00:00:00Z."
        return Problem("eventDate", message, "too_early", "invalid_event_date")
    return moment


def custom_event_problems(
    *,
    event_type: str,
    event_date: Any,
    customer_data: Mapping[str, Any],
    body: Mapping[str, Any] | None,
    schema: Mapping[str, Any] | None,
    tz: ZoneInfo,
    now: datetime,
) -> tuple[datetime | None, list[Problem]]:
    """(the eventDate as an instant, or None; everything wrong with the event): its type's schema, its
    body against the declared fields and the JSON limits, its date, its identifiers. A ``body`` of None
    (not a JSON object: the caller's own problem) skips the body checks."""
    problems: list[Problem] = []
    if schema is None:
        message = f'Custom event type "{event_type}" has no schema.'
        problems.append(Problem("type", message, "unknown_event_type", "unknown_event_type"))
    elif not schema.get("active", True):
        message = f'Custom event type "{event_type}" is not active.'
        problems.append(Problem("type", message, "inactive_event_type", "unknown_event_type"))
    elif body is not None:
        problems += body_problems(body, schema.get("fields", []), tz)
    if body is not None:
        problems += json_problems(body, "body")
    moment = event_date_of(event_date, tz, now)
    if isinstance(moment, Problem):
        problems.append(moment)
    if not identifiers_of(customer_data):
        message = "One of customerId, email, phone or loyaltyCardNumber is required."
        problems.append(Problem("customerData", message, "no_identifier", "missing_identifier"))
    return (None if isinstance(moment, Problem) else moment), problems
