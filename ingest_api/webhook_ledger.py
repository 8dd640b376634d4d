"""The API's read side of webhook operations: the attempt log and an index of the dead-letter topic.

One consumer thread (a mirror, ``loyalty_stream/kafka/mirror.py``: no group, no commits) reads
``loyalty.webhooks.attempts`` and ``loyalty.webhooks.dlq`` from the start and keeps, in memory:

- per subscription, its last ``webhook_attempt_log_size`` attempts (the topic's retention bounds how
  far back a restart can rebuild them);
- per store, an index of dead letters (partition, offset, messageId, subscription, reason, status,
  error), at most ``DEAD_LETTERS_PER_STORE`` of the newest. The records themselves stay in Kafka and
  are read back by offset when resent; a range resend reads the topic directly, so it covers dead
  letters the index no longer holds.

``sync`` waits until everything on the two topics at the time of the call has been read, so a GET
shows every attempt and dead letter written before it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Consumer, Message, TopicPartition

from loyalty_stream.config.settings import Settings
from loyalty_stream.kafka.client import consumer as make_consumer
from loyalty_stream.kafka.mirror import TopicMirror
from loyalty_stream.kafka.topics import build_topics
from schemas.serde import DecodeError, Serde

log = logging.getLogger(__name__)
DEAD_LETTERS_PER_STORE = 100_000


@dataclass(frozen=True, slots=True)
class DeadLetter:
    partition: int
    offset: int
    record: dict[str, Any]  # the dead letter without its data


def _standalone(settings: Settings, name: str) -> Consumer:
    return make_consumer(settings, group=f"unused-{name}", **{"enable.partition.eof": False})


class WebhookLedger:
    def __init__(self, settings: Settings, serde: Serde) -> None:
        self._settings = settings
        self._serde = serde
        topics = build_topics(settings)
        self.attempts_topic = topics.webhooks_attempts.name
        self.dlq_topic = topics.webhooks_dlq.name
        self._attempts: dict[tuple[str, str], deque[dict[str, Any]]] = {}
        self._dead: dict[str, OrderedDict[tuple[int, int], DeadLetter]] = {}
        self._lock = threading.Lock()
        self._mirror = TopicMirror(
            settings, [self.attempts_topic, self.dlq_topic], self._on_record, name="webhook-ledger"
        )

    # -- reading ------------------------------------------------------------------------------
    def start(self) -> None:
        self._mirror.start()

    def stop(self) -> None:
        self._mirror.stop()

    def _on_record(self, msg: Message) -> None:
        self._apply(msg.topic(), msg.partition(), msg.offset(), msg.value())

    def _apply(self, topic: str, partition: int, offset: int, value: bytes | None) -> None:
        with self._lock:
            try:
                _name, record = self._serde.decode(value or b"", expect="WebhookMessage")
            except DecodeError:
                return  # an undecodable dead letter: no store to list it under
            record.pop("data", None)
            record.pop("subscriptionSnapshot", None)
            if topic == self.attempts_topic:
                key = (record["storeCode"], record.get("subscriptionId") or "")
                log_ = self._attempts.get(key)
                if log_ is None:
                    log_ = self._attempts[key] = deque(maxlen=self._settings.webhook_attempt_log_size)
                log_.append(record)
            else:
                index = self._dead.setdefault(record["storeCode"], OrderedDict())
                index[(partition, offset)] = DeadLetter(partition, offset, record)
                while len(index) > DEAD_LETTERS_PER_STORE:
                    index.popitem(last=False)

    # -- queries ------------------------------------------------------------------------------
    def attempts(self, store: str, subscription_id: str) -> list[dict[str, Any]]:
        """Newest first."""
        with self._lock:
            return list(reversed(self._attempts.get((store, subscription_id), ())))

    def dead_letters(self, store: str) -> list[DeadLetter]:
        """Newest first."""
        with self._lock:
            return list(reversed(self._dead.get(store, {}).values()))

    async def sync(self, timeout: float = 5.0) -> bool:
        """Wait until the copy holds everything written before now; False at the deadline."""
        return await self._mirror.sync(timeout)

    # -- dead letters back from Kafka ---------------------------------------------------------
    def read_dead_letters(
        self, partition: int, start: int, end: int, timeout: float = 10.0
    ) -> Iterator[tuple[int, bytes | None, bytes | None]]:
        """(offset, key, value) of the DLQ partition's records in [start, end), up to its current end."""
        consumer = _standalone(self._settings, "webhook-ledger-read")
        try:
            tp = TopicPartition(self.dlq_topic, partition)
            low, high = consumer.get_watermark_offsets(tp, timeout=5)
            end = min(end, high)
            start = max(start, low)
            if start >= end:
                return
            consumer.assign([TopicPartition(self.dlq_topic, partition, start)])
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                for msg in consumer.consume(500, 0.5):
                    if msg.error() is not None:
                        continue
                    if msg.offset() >= end:
                        return
                    yield msg.offset(), msg.key(), msg.value()
                    if msg.offset() + 1 >= end:
                        return
                    deadline = time.monotonic() + timeout
        finally:
            consumer.close()
