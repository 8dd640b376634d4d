"""Counting each event once, at a cost that does not grow with a member's history (docs/reliability.md).

Every event reaches the evaluate agent through the member-events topic, so all of a member's events arrive on
one partition, in one order, at a *position* ``(offset, index in the record)``. Two facts are kept:

- the member's **watermark**: the position of the last event that changed its progress, stored in the same
  table value as the progress (one changelog record: they can never be persisted apart);
- a **marker** per applied customEventId, in the ``applied`` table, holding the position that applied it,
  kept for ``LOYALTY_DEDUP_WINDOW_DAYS``.

An event at or below the watermark is a re-delivery of one already applied. Above it, a marker written from
another position means the same customEventId came again (a client retry with the same eventId, or an input
record forwarded twice after the intake agent was restarted): a duplicate. A marker from this very position
is this event's own, written before a crash kept its progress from the changelog: it is applied again,
exactly as the first time. Everything else is new.

Pure: the agent looks the watermark and marker up and calls ``verdict``.
"""

from __future__ import annotations

import hashlib
from typing import Final, Literal

Position = tuple[int, int]
Verdict = Literal["apply", "redelivered", "duplicate"]

MEMBER_PREFIX_BYTES: Final = 8


def verdict(position: Position, watermark: Position | None, marker: Position | None) -> Verdict:
    """What to do with an event at ``position`` for a member at ``watermark`` whose customEventId has ``marker``."""
    if watermark is not None and position <= watermark:
        return "redelivered"
    if marker is not None and marker != position:
        return "duplicate"
    return "apply"


def member_prefix(member_key: bytes) -> bytes:
    """The first bytes of every marker key of a member: its markers are found by a prefix scan."""
    return hashlib.blake2b(member_key, digest_size=MEMBER_PREFIX_BYTES).digest()


def marker_key(prefix: bytes, custom_event_id: str) -> bytes:
    """The marker key of a customEventId for the member whose ``member_prefix`` is ``prefix``."""
    return prefix + hashlib.blake2b(custom_event_id.encode(), digest_size=16).digest()


def marker_value(position: Position, custom_event_id: str) -> bytes:
    return f"{position[0]}:{position[1]}:{custom_event_id}".encode()


def read_marker(value: bytes | None) -> tuple[Position, str] | None:
    """(position, customEventId) of a stored marker."""
    if value is None:
        return None
    offset, index, custom_event_id = value.decode().split(":", 2)
    return (int(offset), int(index)), custom_event_id
