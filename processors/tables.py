"""Faust tables behind the small interfaces the pure code uses."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson

from loyalty_stream.domain import MemberState


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
        raw = key.encode()
        if raw in self._table:
            del self._table[raw]

    def items_with_prefix(self, prefix: str) -> Iterator[tuple[str, bytes]]:
        raw = prefix.encode()
        return iter([(k.decode(), v) for k, v in list(self._table.items()) if k.startswith(raw) and v is not None])


class MemberStates:
    """A member's state lives in two tables keyed ``storeCode:customerId``: achievement progress (small, read
    by the API from its changelog) and the applied-event log (outputs of recent events, for idempotence)."""

    def __init__(self, progress: Any, applied: Any) -> None:
        self.progress = progress
        self.applied = applied

    def load(self, key: bytes) -> tuple[MemberState, bytes | None, bytes | None]:
        progress, applied = self.progress.get(key), self.applied.get(key)
        parts: dict[str, Any] = {}
        if progress:
            parts.update(orjson.loads(progress))
        if applied:
            parts.update(orjson.loads(applied))
        return MemberState.from_dict(parts), progress, applied

    def save(self, key: bytes, state: MemberState, old_progress: bytes | None, old_applied: bytes | None) -> None:
        data = state.to_dict()
        progress = orjson.dumps({"p": data["p"]})
        applied = orjson.dumps({"a": data["a"]})
        if progress != old_progress:  # unchanged progress: no changelog write (no-effect events)
            self.progress[key] = progress
        if applied != old_applied:
            self.applied[key] = applied

    def delete(self, key: bytes) -> None:
        for table in (self.progress, self.applied):
            if key in table:
                del table[key]
