"""``{member}`` in a path: a customerId (uuid), or ``email=…``, ``phone=…``, ``loyaltyCardNumber=…``."""

from __future__ import annotations

from typing import Any

from ingest_api.errors import NotFound
from loyalty_stream.domain.identity import normalise
from loyalty_stream.replicas.members import MemberIndex

_KINDS = ("email", "phone", "loyaltyCardNumber")


def find_member(index: MemberIndex, store: str, member: str) -> dict[str, Any]:
    """The member record, or 404."""
    kind, sep, value = member.partition("=")
    if sep and kind in _KINDS and value:
        customer_id = index.owner(store, kind, normalise(kind, value))
    else:
        customer_id = index.owner(store, "customerId", normalise("customerId", member))
    record = index.get(store, customer_id) if customer_id else None
    if record is None:
        raise NotFound()
    return record
