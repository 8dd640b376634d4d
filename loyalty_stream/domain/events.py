"""What the core is told about: a custom event (or a transaction) and the member it belongs to."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final
from zoneinfo import ZoneInfo

# The event type of a transaction (loyalty_stream/domain/transactions.py): the facts of Open Loyalty's
# PostTransaction travel as the body of an event of this type, which no custom event type can be.
TRANSACTION_TYPE: Final = "@transaction"


@dataclass(frozen=True, slots=True, init=False)
class Event:
    custom_event_id: str  # the trigger id (uuid str)
    event_id: str | None  # the client's eventId, if any
    type: str
    event_date: datetime  # tz-aware
    body: Mapping[str, Any]
    created_at: datetime  # tz-aware: when the event was accepted

    # Written out (init=False): mypyc compiles it to native code, where the generated one runs as Python
    def __init__(
        self,
        custom_event_id: str,
        event_id: str | None,
        type: str,
        event_date: datetime,
        body: Mapping[str, Any],
        created_at: datetime,
    ) -> None:
        object.__setattr__(self, "custom_event_id", custom_event_id)
        object.__setattr__(self, "event_id", event_id)
        object.__setattr__(self, "type", type)
        object.__setattr__(self, "event_date", event_date)
        object.__setattr__(self, "body", body)
        object.__setattr__(self, "created_at", created_at)


@dataclass(frozen=True, slots=True, init=False)
class MemberRef:
    customer_id: str
    email: str | None
    phone: str | None
    loyalty_card_number: str | None
    active: bool

    # Written out (init=False): mypyc compiles it to native code, where the generated one runs as Python
    def __init__(
        self,
        customer_id: str,
        email: str | None = None,
        phone: str | None = None,
        loyalty_card_number: str | None = None,
        active: bool = True,
    ) -> None:
        object.__setattr__(self, "customer_id", customer_id)
        object.__setattr__(self, "email", email)
        object.__setattr__(self, "phone", phone)
        object.__setattr__(self, "loyalty_card_number", loyalty_card_number)
        object.__setattr__(self, "active", active)


def parse_event_date(value: object, tz: ZoneInfo) -> datetime:
    """Parse an ISO-8601 eventDate; without an offset it is wall time in the store's zone.

    A wall time in a DST gap moves forward by the gap (02:30 → 03:30 on a spring-forward
    night); an ambiguous one takes the earlier reading (fold=0). Raises ValueError.
    """
    if not isinstance(value, str):
        raise ValueError("eventDate must be a string")
    text = value.strip()
    if text.endswith(("z", "Z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ValueError(f"eventDate {value!r} is not ISO-8601") from exc
    try:
        if parsed.tzinfo is not None:
            parsed.astimezone(UTC)  # an instant must exist in UTC too (year 1 east of UTC does not)
            return parsed
        wall = parsed.replace(tzinfo=tz, fold=0)
        # A round trip through UTC normalises a non-existent wall time: fold=0 in a gap uses
        # the offset before the change, which lands the instant one gap-length later.
        return wall.astimezone(UTC).astimezone(tz)
    except OverflowError:
        raise ValueError(f"eventDate {value!r} is outside the calendar") from None
