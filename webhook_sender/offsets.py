"""Which offsets may be committed: the lowest offset of each partition still not finished.

A message is finished when every delivery it fanned out to is delivered, scheduled on a delay topic
(the write acknowledged) or dead-lettered (the write acknowledged). Messages finish out of order (a
healthy endpoint's deliveries finish while a hanging one's first attempt is still in flight), so each
partition keeps its unfinished offsets and commits up to, not including, the lowest of them. The
hanging attempt holds commits back for at most the per-attempt timeout; it never holds back consuming
or delivering. After a crash, the messages from the committed offset on are delivered again (at least
once, same ``messageId``).

Thread-safety: the consumer thread (rebalance callbacks, commits) and the event loop (add, finish)
share this object; one lock guards it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

TopicPartitionKey = tuple[str, int]


@dataclass
class PartitionOffsets:
    unfinished: set[int] = field(default_factory=set)
    next_offset: int | None = None  # one past the highest offset seen
    committed: int | None = None
    revoked: bool = False

    def committable(self) -> int | None:
        if self.next_offset is None:
            return None
        return min(self.unfinished) if self.unfinished else self.next_offset


class OffsetTracker:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._partitions: dict[TopicPartitionKey, PartitionOffsets] = {}
        self.in_flight = 0

    def assign(self, keys: list[TopicPartitionKey]) -> None:
        with self._lock:
            for key in keys:
                self._partitions.setdefault(key, PartitionOffsets())

    def revoke(self, keys: list[TopicPartitionKey]) -> dict[TopicPartitionKey, int]:
        """Forget revoked partitions; returns what may still be committed for them."""
        with self._lock:
            out = {}
            for key in keys:
                part = self._partitions.pop(key, None)
                if part is None:
                    continue
                part.revoked = True
                self.in_flight -= len(part.unfinished)
                offset = part.committable()
                if offset is not None and offset != part.committed:
                    out[key] = offset
            return out

    def add(self, key: TopicPartitionKey, offset: int) -> PartitionOffsets | None:
        """Track a consumed message; None when its partition is no longer ours (then ignore it)."""
        with self._lock:
            part = self._partitions.get(key)
            if part is None:
                return None
            part.unfinished.add(offset)
            part.next_offset = max(part.next_offset or 0, offset + 1)
            self.in_flight += 1
            return part

    def finish(self, part: PartitionOffsets, offset: int) -> None:
        with self._lock:
            if offset in part.unfinished:
                part.unfinished.discard(offset)
                if not part.revoked:
                    self.in_flight -= 1

    def to_commit(self) -> dict[TopicPartitionKey, int]:
        """Offsets that moved since the last call (and mark them as committed)."""
        with self._lock:
            out = {}
            for key, part in self._partitions.items():
                offset = part.committable()
                if offset is not None and offset != part.committed:
                    out[key] = part.committed = offset
            return out

    def restore(self, offsets: dict[TopicPartitionKey, int]) -> None:
        """A commit failed: try these again next time."""
        with self._lock:
            for key in offsets:
                part = self._partitions.get(key)
                if part is not None:
                    part.committed = None
