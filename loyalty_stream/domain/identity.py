"""Member identifiers: which ones exist, how they are normalised for matching (docs/domain.md §2)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence

IDENTIFIERS = ("customerId", "loyaltyCardNumber", "email", "phone")
_PHONE_NOISE = re.compile(r"[\s\-()]")


def normalise(kind: str, value: str) -> str:
    """The form an identifier is matched in; members keep the value as given."""
    if kind == "email":
        return value.strip().casefold()
    if kind == "phone":
        return _PHONE_NOISE.sub("", value.strip())
    if kind == "customerId":
        try:
            return str(uuid.UUID(value.strip()))
        except ValueError:
            return value.strip()
    return value  # loyaltyCardNumber: exact, case-sensitive


def identifiers_of(data: Mapping[str, object], order: Sequence[str] = IDENTIFIERS) -> list[tuple[str, str]]:
    """(kind, normalised value) for every identifier present, in ``order``."""
    found = []
    for kind in order:
        value = data.get(kind)
        if isinstance(value, str) and value.strip():
            found.append((kind, normalise(kind, value)))
    return found


def index_key(store: str, kind: str, normalised: str) -> str:
    return f"{store}\x1f{kind}\x1f{normalised}"
