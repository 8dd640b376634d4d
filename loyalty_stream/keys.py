"""Record keys: ``storeCode:id`` on every keyed topic."""

from __future__ import annotations

from functools import lru_cache

from aiokafka.partitioner import murmur2


def split_key(key: bytes | None) -> tuple[str, str] | None:
    if not key:
        return None
    store, sep, ident = key.decode("utf-8", "replace").partition(":")
    return (store, ident) if sep else None


def join_key(store: str, ident: str) -> bytes:
    return f"{store}:{ident}".encode()


@lru_cache(maxsize=1 << 17)
def member_partition(store: str, customer_id: str, partitions: int) -> int:
    """The partition of a member's state and of its member-events (``storeCode:customerId`` hashed as Kafka's
    Java client and faust's producer hash keys: murmur2); cached, a member's events come again and again."""
    return (murmur2(join_key(store, customer_id)) & 0x7FFFFFFF) % partitions
