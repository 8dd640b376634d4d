"""Faust tables behind the small interfaces the pure code uses."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import orjson

from loyalty_stream.domain import MemberState


def delete_key(table: Any, key: bytes) -> None:
    """Delete unconditionally: the tombstone must reach the changelog even when a re-delivered deletion finds
    the local store already without the key (faust sends the tombstone before touching the store)."""
    with contextlib.suppress(KeyError):
        del table[key]


class TableKeyValue:
    """``processors.parking.KeyValue`` over a faust table with bytes keys and values."""

    def __init__(self, table: Any) -> None:
        self._table = table

    def get(self, key: str) -> bytes | None:
        value: bytes | None = self._table.get(key.encode())
        return value

    def set(self, key: str, value: bytes) -> None:
        self._table[key.encode()] = value

    def delete(self, key: str) -> None:
        delete_key(self._table, key.encode())

    def items_with_prefix(self, prefix: str) -> Iterator[tuple[str, bytes]]:
        raw = prefix.encode()
        return iter([(k.decode(), v) for k, v in list(self._table.items()) if k.startswith(raw) and v is not None])


class MemberStates:
    """A member's state (achievement progress + the applied-event log) as ONE table value keyed
    ``storeCode:customerId``: one changelog record per change, so progress and the log of what it already
    counts can never be persisted apart (two tables could: a crash between their writes lost or doubled an
    event). The API reads the progress part from this table's changelog."""

    def __init__(self, table: Any) -> None:
        self.table = table

    def load(self, key: bytes) -> tuple[MemberState, bytes | None]:
        raw: bytes | None = self.table.get(key)
        return MemberState.from_dict(orjson.loads(raw) if raw else {}), raw

    def save(self, key: bytes, state: MemberState, old: bytes | None) -> None:
        value = orjson.dumps(state.to_dict())
        if value != old:
            self.table[key] = value

    def rewrite(self, key: bytes, raw: bytes | None) -> None:
        """Send the current value to the changelog again (see ``Processor._apply``)."""
        if raw is not None:
            self.table[key] = raw

    def delete(self, key: bytes) -> None:
        delete_key(self.table, key)
