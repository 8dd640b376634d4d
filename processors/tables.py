"""The processor's faust tables, written the batch's way (processors/batch.py): a write is read back at once,
reaches the changelog after the batch's outputs, and the local store after the changelog.

Three tables, co-partitioned with the input and member-events topics:
- ``progress``: a member's state, key ``storeCode:customerId``, value JSON ``{"p": progress, "w": [offset,
  index]}``; ``w`` is the member-events position of the last event that changed it (processors/dedup.py).
  The API reads ``p`` from this table's changelog (ingest_api/views.py). Values written by versions before
  the watermark carry ``a``, their applied log: its customEventIds still count as applied until the dedup
  window is over, so an upgrade in the middle of re-deliveries counts nothing twice.
- ``applied``: one marker per applied customEventId (processors/dedup.py), kept for the dedup window.
- ``parked``: events of members nobody has registered yet (processors/parking.py).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from loyalty_stream.domain import MemberState
from processors.batch import Delivery, OutputProducer
from processors.faust_compat import LocalStore

Position = tuple[int, int]  # (member-events offset, index of the event in that record)


Layer = dict[tuple[int, bytes], bytes | None]  # (partition, key) -> value, None: delete


class ChangelogTable:
    """A faust table's local store plus the writes not yet in it: the chunk being computed (``pending``) and the
    chunks being committed (``sealed``, oldest first). Reads see the newest write: ``unapplied`` holds, per key
    written and not yet in the local store, its newest value and the layer it came from (one lookup per read,
    however many chunks are in flight)."""

    def __init__(self, table: Any) -> None:
        self.local = LocalStore(table)
        self.topic = self.local.changelog_topic
        self.pending: Layer = {}
        self.sealed: list[Layer] = []
        self.unapplied: dict[tuple[int, bytes], tuple[bytes | None, Layer]] = {}

    def get(self, partition: int, key: bytes) -> bytes | None:
        found = self.unapplied.get((partition, key))
        if found is not None:
            return found[0]
        return self.local.get(partition, key)

    def set(self, partition: int, key: bytes, value: bytes) -> None:
        self.pending[(partition, key)] = value
        self.unapplied[(partition, key)] = (value, self.pending)

    def delete(self, partition: int, key: bytes) -> None:
        """A tombstone, sent even when the key is not there (a re-delivered deletion must still reach the
        changelog)."""
        self.pending[(partition, key)] = None
        self.unapplied[(partition, key)] = (None, self.pending)

    def items_with_prefix(self, partition: int, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        found = dict(self.local.items_with_prefix(partition, prefix))
        for layer in (*self.sealed, self.pending):
            for (p, key), value in layer.items():
                if p == partition and key.startswith(prefix):
                    if value is None:
                        found.pop(key, None)
                    else:
                        found[key] = value
        return iter(list(found.items()))

    # -- the batch's side (processors.batch.BatchTable) --
    def seal(self) -> Layer:
        layer, self.pending = self.pending, {}
        self.sealed.append(layer)
        return layer

    def produce_layers(self, layers: Sequence[Layer], producer: OutputProducer, delivery: Delivery) -> None:
        """Each key's newest value of ``layers`` (oldest first): one changelog record per key, however many chunks
        wrote it."""
        newest: Layer = {}
        for layer in layers:
            newest.update(layer)
        for (partition, key), value in newest.items():
            producer.produce(delivery, self.topic, value, key, partition)

    def apply_layers(self, layers: Sequence[Layer], delivery: Delivery) -> None:
        """``layers`` (oldest first, their changelog records acknowledged in ``delivery``) into the local store:
        one write per partition, with the changelog offset it reaches (processors/faust_compat.py)."""
        by_partition: dict[int, dict[bytes, bytes | None]] = {}
        for layer in layers:
            for (partition, key), value in layer.items():
                by_partition.setdefault(partition, {})[key] = value
        for partition, writes in by_partition.items():
            offset = delivery.last_offsets.get((self.topic, partition))
            self.local.write(partition, list(writes.items()), persisted_offset=offset)
        unapplied = self.unapplied
        for layer in layers:
            assert self.sealed and self.sealed[0] is layer, "chunks are applied in the order they were sealed"
            self.sealed.pop(0)
            for where in layer:
                found = unapplied.get(where)
                if found is not None and found[1] is layer:  # not written again by a later chunk
                    del unapplied[where]

    def discard_layers(self) -> None:
        self.pending = {}
        self.sealed.clear()
        self.unapplied.clear()


@dataclass(frozen=True, slots=True)
class Stored:
    """A member's stored value: its progress, its watermark, and (from values written before the watermark
    existed) the applied log's customEventId -> first application time, kept until the dedup window is over."""

    state: MemberState
    watermark: Position | None
    legacy: dict[str, float]


class MemberStates:
    """Members' progress and the position of the last event that changed it, one value per member."""

    def __init__(self, table: ChangelogTable, *, window_seconds: float) -> None:
        self.table = table
        self.window_seconds = window_seconds

    def load(self, partition: int, key: bytes) -> Stored:
        raw = self.table.get(partition, key)
        if not raw:
            return Stored(MemberState.empty(), None, {})
        stored = orjson.loads(raw)
        watermark = stored.get("w")
        legacy = {cid: float(entry["t"]) for cid, entry in (stored.get("a") or {}).items()}
        return Stored(MemberState.from_dict(stored), (watermark[0], watermark[1]) if watermark else None, legacy)

    def save(
        self, partition: int, key: bytes, state: MemberState, watermark: Position | None, legacy: dict[str, float]
    ) -> None:
        value: dict[str, Any] = state.to_dict()
        if watermark is not None:
            value["w"] = watermark
        oldest = time.time() - self.window_seconds
        kept = {cid: {"t": at} for cid, at in legacy.items() if at >= oldest}
        if kept:
            value["a"] = kept
        self.table.set(partition, key, orjson.dumps(value))

    def delete(self, partition: int, key: bytes) -> None:
        self.table.delete(partition, key)


class ParkingKeyValue:
    """``processors.parking.KeyValue`` over the parked table: its keys start with the input partition."""

    def __init__(self, table: ChangelogTable) -> None:
        self.table = table

    @staticmethod
    def _partition(key: str) -> int:
        return int(key.partition("\x1f")[0])

    def get(self, key: str) -> bytes | None:
        return self.table.get(self._partition(key), key.encode())

    def set(self, key: str, value: bytes) -> None:
        self.table.set(self._partition(key), key.encode(), value)

    def delete(self, key: str) -> None:
        self.table.delete(self._partition(key), key.encode())

    def items_with_prefix(self, prefix: str) -> Iterator[tuple[str, bytes]]:
        return ((k.decode(), v) for k, v in self.table.items_with_prefix(self._partition(prefix), prefix.encode()))
