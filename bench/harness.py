"""Shared bench plumbing: a broker of its own, topics, control plane and members loaded straight into Kafka."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson
from confluent_kafka import Consumer, Producer, TopicPartition

from bench.workload import SCHEMAS, STORES, achievements
from loyalty_stream.clock import iso_utc
from loyalty_stream.domain import parse_achievement
from loyalty_stream.kafka import create_topics
from loyalty_stream.localkafka import LocalBroker
from loyalty_stream.procs import free_port
from loyalty_stream.settings import Settings
from loyalty_stream.topics import build_topics
from schemas.serde import Serde


def start_broker(workdir: Path | None = None) -> tuple[LocalBroker, Path]:
    workdir = workdir or Path(tempfile.mkdtemp(prefix="loyalty-bench-"))
    broker = LocalBroker(
        data_dir=workdir / "kafka",
        port=free_port(),
        controller_port=free_port(),
        cache_dir=Settings().kafka_cache_dir,
        heap="1g",
    )
    broker.start()
    return broker, workdir


def bench_settings(broker: LocalBroker, workdir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "kafka_bootstrap_servers": broker.bootstrap,
        "kafka_port": broker.port,
        "data_dir": workdir / "data",
        "stores": "DEFAULT:dev-key,OTHER:other-key:Europe/Warsaw",
        "api_port": free_port(),
        "processor_web_port": free_port(),
        "sender_port": free_port(),
        "log_level": "WARNING",
        "log_format": "console",
        "webhook_allow_loopback": True,
    }
    values.update(overrides)
    settings = Settings(**values)
    create_topics(settings)
    return settings


def producer(settings: Settings, **extra: Any) -> Producer:
    return Producer(
        {
            **settings.kafka_config(),
            "enable.idempotence": True,
            "linger.ms": 20,
            "batch.num.messages": 10000,
            "queue.buffering.max.messages": 1000000,
            "compression.type": "lz4",
            **extra,
        }
    )


def load_control_plane(settings: Settings, members: Iterable[tuple[str, str, str]]) -> None:
    """Schemas, achievements (parsed first, so they are valid) and members, written straight to their topics."""
    serde, topics, p = Serde(), build_topics(settings), producer(settings)
    now = iso_utc()
    for store in STORES:
        for event_type, fields in SCHEMAS.items():
            p.produce(
                topics.schemas.name,
                key=f"{store}:{event_type}".encode(),
                value=serde.encode(
                    "CustomEventSchema",
                    {"storeCode": store, "eventType": event_type, "name": event_type, "fields": fields, "active": True},
                ),
            )
        for n, body in enumerate(achievements()):
            achievement_id = f"00000000-0000-4000-8000-{store == 'OTHER':06d}{n:06d}"
            parse_achievement(body, achievement_id=achievement_id, store_code=store)
            p.produce(
                topics.achievements.name,
                key=f"{store}:{achievement_id}".encode(),
                value=serde.encode(
                    "Achievement",
                    {
                        "storeCode": store,
                        "achievementId": achievement_id,
                        "rulesVersion": 1,
                        "definition": orjson.dumps(body).decode(),
                        "createdAt": now,
                        "updatedAt": now,
                    },
                ),
            )
    for store, customer_id, email in members:
        p.produce(
            topics.members.name,
            key=f"{store}:{customer_id}".encode(),
            value=serde.encode(
                "Member",
                {
                    "storeCode": store,
                    "customerId": customer_id,
                    "email": email,
                    "active": True,
                    "version": 1,
                    "registeredAt": now,
                    "updatedAt": now,
                },
            ),
        )
        p.poll(0)
    p.flush(120)


def end_offsets(settings: Settings, topic: str) -> dict[int, int]:
    c = Consumer({**settings.kafka_config(), "group.id": "bench-ends"})
    try:
        parts = c.list_topics(topic, timeout=10).topics[topic].partitions
        return {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in parts}
    finally:
        c.close()


def committed(settings: Settings, group: str, topic: str) -> dict[int, int]:
    c = Consumer({**settings.kafka_config(), "group.id": group})
    try:
        parts = [TopicPartition(topic, p) for p in c.list_topics(topic, timeout=10).topics[topic].partitions]
        return {tp.partition: max(tp.offset, 0) for tp in c.committed(parts, timeout=10)}
    finally:
        c.close()


def wait_drained(settings: Settings, group: str, topics: list[str], timeout: float, poll: float = 0.5) -> float:
    """Wait until ``group`` committed every topic's end; return when (monotonic)."""
    deadline = time.monotonic() + timeout
    while True:
        if all(sum(committed(settings, group, t).values()) >= sum(end_offsets(settings, t).values()) for t in topics):
            return time.monotonic()
        if time.monotonic() > deadline:
            raise TimeoutError(f"{group} did not drain {topics} in {timeout}s")
        time.sleep(poll)
