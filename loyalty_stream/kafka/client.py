"""Kafka client factories and topic administration (confluent-kafka).

Defaults < our settings < connection: every client gets the security settings from ``Settings``.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from confluent_kafka import Consumer, KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from loyalty_stream.config.settings import Settings
from loyalty_stream.domain.errors import LoyaltyError
from loyalty_stream.kafka.topics import Topic, build_topics


class TopicMismatch(LoyaltyError, RuntimeError):
    """An existing topic has another partition count or cleanup policy than the table says."""


def producer(settings: Settings, **extra: Any) -> Producer:
    config: dict[str, Any] = {
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 2,
        "compression.type": "lz4",
        "message.timeout.ms": 30000,
        **extra,
        **settings.kafka_config(),
    }
    return Producer(config)


def consumer(settings: Settings, group: str, **extra: Any) -> Consumer:
    config: dict[str, Any] = {
        "group.id": group,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "session.timeout.ms": 10000,
        "isolation.level": "read_committed",
        **extra,
        **settings.kafka_config(),
    }
    return Consumer(config)


def admin(settings: Settings) -> AdminClient:
    config: dict[str, str | int | float | bool] = {**settings.kafka_config()}
    return AdminClient(config)


def create_topics(settings: Settings, topics: Iterable[Topic] | None = None, *, timeout: float = 30.0) -> list[str]:
    """Create missing topics; check existing ones. Returns the names created."""
    wanted = list(topics if topics is not None else build_topics(settings).all())
    client = admin(settings)
    existing = client.list_topics(timeout=timeout).topics
    missing = [t for t in wanted if t.name not in existing]
    if missing:
        futures = client.create_topics(
            [NewTopic(t.name, t.partitions, settings.topic_replication_factor, config=t.config) for t in missing],
            operation_timeout=timeout,
            request_timeout=timeout,
        )
        for future in futures.values():
            try:
                future.result()
            except KafkaException as exc:
                if exc.args[0].name() != "TOPIC_ALREADY_EXISTS":  # another process won the race
                    raise
    # The broker answers CreateTopics once the controller has the topics; its metadata cache can be a few
    # milliseconds behind (seen: every topic "missing" right after a create), so topics just created get time.
    deadline = time.monotonic() + (timeout if missing else 0.0)
    while True:
        try:
            check_topics(settings, wanted, timeout=timeout)
            break
        except TopicMismatch:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.05)
    return [t.name for t in missing]


def check_topics(settings: Settings, topics: Iterable[Topic] | None = None, *, timeout: float = 10.0) -> None:
    """Raise if a topic is missing or has other partitions than the table (keys hash by count)."""
    wanted = list(topics if topics is not None else build_topics(settings).all())
    metadata = admin(settings).list_topics(timeout=timeout).topics
    problems = []
    for topic in wanted:
        meta = metadata.get(topic.name)
        if meta is None or meta.error is not None:
            problems.append(f"{topic.name}: missing")
        elif len(meta.partitions) != topic.partitions:
            problems.append(f"{topic.name}: {len(meta.partitions)} partitions, expected {topic.partitions}")
    if problems:
        raise TopicMismatch("; ".join(problems))


def end_offsets(consumer_: Consumer, topic: str, *, timeout: float = 5.0) -> dict[int, int]:
    """High watermark of every partition of ``topic``."""
    from confluent_kafka import TopicPartition

    meta = consumer_.list_topics(topic, timeout=timeout).topics[topic]
    if meta.error is not None:
        raise RuntimeError(f"{topic}: {meta.error}")
    result = {}
    for partition in meta.partitions:
        _low, high = consumer_.get_watermark_offsets(TopicPartition(topic, partition), timeout=timeout)
        result[partition] = high
    return result
