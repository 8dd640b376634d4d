"""Deterministic identifiers: every id the core hands out is a UUIDv5, so reprocessing repeats it."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable

NAMESPACE: uuid.UUID = uuid.UUID("6f1c3a52-6d9b-4f7e-9a51-2f0c2f1f6a10")


# The namespace already hashed: a copy of it is cheaper than a new hash object (OpenSSL looks the algorithm up
# on every construction), about a third of an id's cost on the hot path (bench.core's profile).
_HASHED_NAMESPACE = hashlib.sha1(NAMESPACE.bytes, usedforsecurity=False)


def _v5(name: str) -> str:
    """uuid.uuid5(NAMESPACE, name) as a string, without building UUID objects (hot path)."""
    sha1 = _HASHED_NAMESPACE.copy()
    sha1.update(name.encode())
    raw = bytearray(sha1.digest()[:16])
    raw[6] = (raw[6] & 0x0F) | 0x50  # version 5
    raw[8] = (raw[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def custom_event_id(store_code: str, event_id: str) -> str:
    """The customEventId of an event that carries the client's eventId (HTTP retries collapse)."""
    return _v5(f"{store_code}/{event_id}")


def transaction_id(store_code: str, document_number: str) -> str:
    """The transactionId of a store's document: the same documentNumber again is the same transaction."""
    return _v5(f"{store_code}/transaction/{document_number}")


def source_event_id(topic: str, partition: int, offset: int) -> str:
    """The customEventId of a record produced straight to Kafka without an id."""
    return _v5(f"{topic}/{partition}/{offset}")


def message_id(store_code: str, trigger_id: str, achievement_id: str, customer_id: str, rules_version: int) -> str:
    """messageId of a MemberAchievementProgressWasChanged; a rules change gives new ids."""
    return _v5(f"{store_code}/{trigger_id}/{achievement_id}/{customer_id}/{rules_version}")


def processed_message_id(
    store_code: str, trigger_id: str, customer_id: str, versions: Iterable[tuple[str, int]]
) -> str:
    """messageId of an AchievementsWereProcessed: it covers several achievements, so every
    (achievementId, rulesVersion) it reports is part of the name."""
    covered = ";".join(f"{a}:{v}" for a, v in sorted(versions))
    return _v5(f"{store_code}/{trigger_id}/AchievementsWereProcessed/{customer_id}/{covered}")


def rule_id(achievement_id: str, rules_version: int, index: int) -> str:
    """achievementRuleId: stable for one rules version, new after a rules change."""
    return _v5(f"{achievement_id}/rules/{rules_version}/{index}")
