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
