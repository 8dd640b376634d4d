"""Delay-topic partitions wait on their head record: nothing behind it can be ready sooner.

Each tier topic holds records that wait the tier's delay after they were written (see ``schedule``),
so a partition is in ready order. Records are kept in arrival order per partition; while the head is
not ready the partition is paused (the consumer stops fetching it, so memory stays bounded) and a
timer wakes it when the head is ready. Records stay uncommitted until handled, so a restart re-reads
every pending retry from Kafka.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from webhook_sender.records import Source

TopicPartitionKey = tuple[str, int]


@dataclass(frozen=True, slots=True)
class Waiting:
    record: dict[str, Any]
    source: Source
    finish: Callable[[], None]
    ready_at_ms: int


class DelayQueues:
    def __init__(self, on_ready: Callable[[Waiting], None], clock: Callable[[], float] = time.time) -> None:
        self._on_ready = on_ready
        self._clock = clock
        self._queues: dict[TopicPartitionKey, deque[Waiting]] = {}
        self._timers: dict[TopicPartitionKey, asyncio.TimerHandle] = {}

    @property
    def paused(self) -> frozenset[TopicPartitionKey]:
        """Partitions whose head is not ready: the consumer keeps them paused."""
        return frozenset(tp for tp, queue in self._queues.items() if queue)

    def __len__(self) -> int:
        return sum(len(q) for q in self._queues.values())

    def add(self, tp: TopicPartitionKey, item: Waiting) -> None:
        self._queues.setdefault(tp, deque()).append(item)
        if len(self._queues[tp]) == 1:
            self.pump(tp)

    def pump(self, tp: TopicPartitionKey) -> None:
        self._timers.pop(tp, None)
        queue = self._queues.get(tp)
        if not queue:
            return
        now = int(self._clock() * 1000)
        while queue and queue[0].ready_at_ms <= now:
            self._on_ready(queue.popleft())
        if queue:
            delay = (queue[0].ready_at_ms - now) / 1000
            self._timers[tp] = asyncio.get_running_loop().call_later(delay, self.pump, tp)

    def drop(self, tps: list[TopicPartitionKey]) -> None:
        """Partitions revoked: forget their records (the next owner reads them again)."""
        for tp in tps:
            self._queues.pop(tp, None)
            timer = self._timers.pop(tp, None)
            if timer is not None:
                timer.cancel()

    def close(self) -> None:
        self.drop(list(self._queues))
