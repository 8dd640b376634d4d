"""A registration that finds nothing parked writes nothing to the parking changelog, once past the takeover.

Each registration signals every input partition. A signal that may be a re-delivery (the first batch of a
partition after a rebalance or restart) resends the claimed keys, so a kill -9 cannot leave the changelog
with events the worker had already forwarded (docs/reliability.md); a first delivery must not, or every
registration would cost a few dozen changelog records.
"""

from __future__ import annotations

import uuid

import httpx
from confluent_kafka import Consumer, TopicPartition

from loyalty_stream.tools.procs import wait_until
from tests.support.flows import post


def test_a_registration_past_the_takeover_leaves_the_parking_changelog_alone(stack) -> None:
    s = stack("api", "processor")
    settings = s.settings
    inputs = settings.topic_prefix + "custom-events"
    parked = f"{settings.processor_app_id}-parked-changelog"
    partitions = settings.topic_partitions
    offsets = Consumer({**settings.kafka_config(), "group.id": settings.processor_app_id})
    try:

        def ends(topic: str) -> list[int]:
            return [offsets.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in range(partitions)]

        def register_and_wait(client: httpx.Client) -> None:
            """Register a member, then wait until the processor committed past its signal on every partition."""
            before = ends(inputs)
            post(client, "/api/DEFAULT/member", {"customer": {"email": f"p-{uuid.uuid4().hex[:8]}@example.com"}})
            wait_until(
                lambda: all(end > start for end, start in zip(ends(inputs), before, strict=True)),
                timeout=30,
                what="the registration's signal on every input partition",
            )
            signalled = ends(inputs)
            committed = lambda: [  # noqa: E731
                tp.offset for tp in offsets.committed([TopicPartition(inputs, p) for p in range(partitions)], 10)
            ]
            wait_until(
                lambda: all(c >= e for c, e in zip(committed(), signalled, strict=True)),
                timeout=60,
                what="the processor to commit past the signals",
            )

        with httpx.Client(base_url=s.api, timeout=30) as client:
            register_and_wait(client)  # may count as the takeover batch of some partitions: it may resend
            written = sum(ends(parked))
            register_and_wait(client)
            register_and_wait(client)
        assert sum(ends(parked)) == written, "first deliveries that claimed nothing wrote to the parking changelog"
    finally:
        offsets.close()
