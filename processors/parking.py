"""Events of members nobody has registered yet wait here (docs/domain.md §4), bounded in count and age.

Pure logic over a small key-value interface (a dict in unit tests, a faust table in the worker).
An event is parked under every identifier it carries, scoped to the input partition it came from;
the first registration that matches any of them takes it, in eventDate order. Entries are JSON.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

SEP = "\x1f"


class KeyValue(Protocol):
    def get(self, key: str) -> bytes | None: ...
    def set(self, key: str, value: bytes) -> None: ...
    def delete(self, key: str) -> None: ...
    def items_with_prefix(self, prefix: str) -> Iterator[tuple[str, bytes]]: ...


class DictKeyValue(dict[str, bytes]):
    """The in-memory twin, for tests."""

    def set(self, key: str, value: bytes) -> None:
        self[key] = value

    def delete(self, key: str) -> None:
        self.pop(key, None)

    def items_with_prefix(self, prefix: str) -> Iterator[tuple[str, bytes]]:
        return iter([(k, v) for k, v in self.items() if k.startswith(prefix)])


@dataclass(frozen=True, slots=True)
class Parked:
    event_id: str  # customEventId
    event_date: str  # ISO-8601 UTC, sorts chronologically
    parked_at: float  # epoch seconds
    keys: tuple[str, ...]  # every key it is parked under
    record: dict[str, Any]  # the CustomEvent record

    def to_bytes(self) -> bytes:
        return orjson.dumps(
            {"id": self.event_id, "d": self.event_date, "t": self.parked_at, "k": self.keys, "r": self.record}
        )

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Parked:
        return cls(d["id"], d["d"], d["t"], tuple(d["k"]), d["r"])


def identifier_key(partition: int, store: str, kind: str, value: str) -> str:
    return SEP.join((str(partition), store, kind, value))


def _count_key(partition: int, store: str) -> str:
    return SEP.join((str(partition), store, "#n"))


class ParkingLot:
    def __init__(self, kv: KeyValue, *, max_per_store: int, max_age_seconds: float) -> None:
        self.kv = kv
        self.max_per_store = max_per_store
        self.max_age_seconds = max_age_seconds

    def _entries(self, key: str) -> list[Parked]:
        raw = self.kv.get(key)
        return [Parked.from_json(d) for d in orjson.loads(raw)] if raw else []

    def _write(self, key: str, entries: list[Parked]) -> None:
        if entries:
            self.kv.set(key, b"[" + b",".join(e.to_bytes() for e in entries) + b"]")
        else:
            self.kv.delete(key)

    def _count(self, partition: int, store: str) -> int:
        raw = self.kv.get(_count_key(partition, store))
        return int(raw) if raw else 0

    def waiting(self, partition: int, store: str) -> bool:
        """Whether any of the store's events is parked on this partition (usually none is)."""
        return self._count(partition, store) > 0

    def _add_count(self, partition: int, store: str, delta: int) -> None:
        count = max(0, self._count(partition, store) + delta)
        if count:
            self.kv.set(_count_key(partition, store), str(count).encode())
        else:
            self.kv.delete(_count_key(partition, store))

    def park(
        self,
        partition: int,
        store: str,
        identifiers: Sequence[tuple[str, str]],
        record: dict[str, Any],
        event_date: str,
        now: float,
    ) -> list[Parked]:
        """Park one event; return what has to leave to keep the store within its bound (oldest first), still
        parked: the caller removes it once its release is acknowledged."""
        keys = tuple(identifier_key(partition, store, kind, value) for kind, value in identifiers)
        event_id = record["customEventId"]
        if any(e.event_id == event_id for e in self._entries(keys[0])):
            self._resend([*keys, _count_key(partition, store)])  # a duplicate of an event already waiting
        else:
            entry = Parked(event_id, event_date, now, keys, record)
            for key in keys:
                self._write(key, [*self._entries(key), entry])
            self._add_count(partition, store, 1)
        excess = self._count(partition, store) - self.max_per_store
        return self._oldest(partition, store, excess) if excess > 0 else []

    def _resend(self, keys: Iterable[str]) -> None:
        """Write each key's local value again (a tombstone where it has none). A kill -9 can leave the local
        store ahead of the changelog (faust writes the store at once and the changelog a moment later); the
        re-delivered record that finds its work already done locally is the only chance to catch the
        changelog up before its offset is committed, or a cold restore would lose or resurrect entries."""
        for key in keys:
            raw = self.kv.get(key)
            if raw:
                self.kv.set(key, raw)
            else:
                self.kv.delete(key)

    def _all(self, prefix: str) -> dict[str, Parked]:
        found: dict[str, Parked] = {}
        for key, raw in self.kv.items_with_prefix(prefix):
            if key.endswith(SEP + "#n"):
                continue
            for d in orjson.loads(raw):
                found.setdefault(d["id"], Parked.from_json(d))
        return found

    def _oldest(self, partition: int, store: str, n: int) -> list[Parked]:
        entries = sorted(self._all(SEP.join((str(partition), store, ""))).values(), key=lambda e: e.parked_at)
        return entries[:n]

    def remove(self, entries: Iterable[Parked]) -> None:
        """Remove entries from every key they are parked under (entries already gone are skipped, so a
        re-delivered removal does not count them down twice)."""
        wanted = {e.event_id: e for e in entries}
        stored = {key: self._entries(key) for key in {k for e in wanted.values() for k in e.keys}}
        gone = {e.event_id for parked in stored.values() for e in parked} & wanted.keys()
        for key, parked in stored.items():
            kept = [e for e in parked if e.event_id not in gone]
            if len(kept) != len(parked):
                self._write(key, kept)
        for event_id in gone:
            first = wanted[event_id].keys[0].split(SEP)
            self._add_count(int(first[0]), first[1], -1)

    def claim(
        self, partition: int, store: str, identifiers: Sequence[tuple[str, str]], *, redelivered: bool = True
    ) -> list[Parked]:
        """Everything parked under any of these identifiers, in eventDate order, still parked.

        Nothing here removes: the caller forwards, waits for the broker's acknowledgement, then calls
        ``remove``. Removing first let a kill -9 between the two drop the events (the local store already
        had them gone when the signal was re-delivered). ``redelivered``: the signal may have been processed
        before (see ``_resend``); if not, a claim of nothing writes nothing (a signal reaches every partition,
        so resending each time would cost a registration a few dozen changelog records)."""
        if not redelivered and not self.waiting(partition, store):
            return []  # one read instead of one per identifier: every registration's signal reaches every partition
        found: dict[str, Parked] = {}
        empty = [_count_key(partition, store)]
        for kind, value in identifiers:
            key = identifier_key(partition, store, kind, value)
            entries = self._entries(key)
            for entry in entries:
                found.setdefault(entry.event_id, entry)
            if not entries:
                empty.append(key)
        if redelivered:
            self._resend(empty)  # the removal of an earlier delivery may be missing from the changelog
        return sorted(found.values(), key=lambda e: (e.event_date, e.event_id))

    def expire(self, partition: int, now: float) -> list[Parked]:
        """Everything parked longer than the age bound, still parked (see ``claim``)."""
        return [e for e in self._all(f"{partition}{SEP}").values() if now - e.parked_at > self.max_age_seconds]


def split_known(
    entries: Iterable[Parked], member_of: Callable[[dict[str, Any]], str | None]
) -> tuple[list[tuple[Parked, str]], list[Parked]]:
    """Entries whose record resolves to a member now (with that member's customerId), and the rest."""
    known: list[tuple[Parked, str]] = []
    rest: list[Parked] = []
    for entry in entries:
        customer_id = member_of(entry.record)
        if customer_id is None:
            rest.append(entry)
        else:
            known.append((entry, customer_id))
    return known, rest
