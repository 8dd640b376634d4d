"""Reading and writing our topics from tests, with waits on conditions (never sleeps)."""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import Consumer, Producer

from loyalty_stream.config.settings import Settings
from loyalty_stream.kafka.client import consumer, end_offsets
from loyalty_stream.kafka.topics import build_topics
from schemas.serde import DecodeError, Serde


@dataclass
class Read:
    key: bytes | None
    value: bytes | None
    headers: dict[str, str]
    partition: int
    offset: int
    name: str | None = None
    record: Any = None


_OPEN: list[TopicReader] = []


def close_all() -> None:
    """Close readers tests left open (before the broker stops, so librdkafka does not retry forever)."""
    while _OPEN:
        _OPEN.pop().close()


@dataclass
class TopicReader:
    settings: Settings
    topic: str
    records: list[Read] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._serde = Serde(self.settings.schema_registry_url)
        self._consumer = Consumer(
            {
                **self.settings.kafka_config(),
                "group.id": f"test-{uuid.uuid4().hex}",
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
            }
        )
        self._consumer.subscribe([self.topic])
        self._closed = False
        _OPEN.append(self)

    def poll(self) -> list[Read]:
        for msg in self._consumer.consume(500, 0.2):
            if msg.error() is not None:
                continue
            read = Read(
                msg.key(), msg.value(), {k: v.decode() for k, v in msg.headers() or []}, msg.partition(), msg.offset()
            )
            with contextlib.suppress(DecodeError):
                read.name, read.record = self._serde.decode(msg.value())
            self.records.append(read)
        return self.records

    def wait_for(self, predicate: Callable[[list[Read]], bool], timeout: float = 60.0, what: str = "") -> list[Read]:
        deadline = time.monotonic() + timeout
        while not predicate(self.poll()):
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"{self.topic}: {what or 'condition'} not met after {timeout}s; {len(self.records)} records read"
                )
        return self.records

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._consumer.close()
        if self in _OPEN:
            _OPEN.remove(self)


def control_offsets(settings: Settings) -> dict[str, int]:
    """Each control-plane topic's end, as the API stamps an event with the control plane it has seen: a
    producer writing straight to Kafka stamps ``controlOffsets`` with it to have its event validated against
    everything written before (docs/intake.md, "Read-your-writes"); unstamped, the event meets whatever the
    processor's copy holds when it arrives."""
    c = consumer(settings, "unused-reader")
    try:
        return {t.name: end_offsets(c, t.name)[0] for t in build_topics(settings).control_plane}
    finally:
        c.close()


def produce(
    settings: Settings, topic: str, value: bytes | None, key: bytes | None = None, headers: dict[str, str] | None = None
) -> None:
    producer = Producer({**settings.kafka_config(), "enable.idempotence": True})
    producer.produce(topic, value=value, key=key, headers=list((headers or {}).items()))
    assert producer.flush(30) == 0


def latest_outcomes(reader: TopicReader) -> dict[str, dict[str, Any]]:
    """customEventId → its latest CustomEventOutcome record."""
    found: dict[str, dict[str, Any]] = {}
    for read in reader.poll():
        if read.name == "CustomEventOutcome":
            found[read.record["customEventId"]] = read.record
    return found
