"""Timestamps as the wire formats want them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final
from zoneinfo import ZoneInfo

# UTC as the date parser's zone (``parse_event_date`` takes a ZoneInfo): instants written without an offset.
UTC_ZONE: Final = ZoneInfo("UTC")


def iso_utc(moment: datetime | None = None) -> str:
    """ISO-8601 in UTC with milliseconds and a Z, e.g. 2024-05-01T00:00:00.000Z."""
    return (moment or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
