"""A retry waiting on a paused delay partition survives a rebalance of the sender group.

The sender pauses a delay-topic partition while its head record is not due. librdkafka keeps that pause
when the group rebalances and the partition is assigned again; the sender must resume it (it once counted
such partitions resumed and never fetched from them again: the crash campaign's seed 9 stalled 676 webhooks
when a killed sender's old membership expired and the group rebalanced).
"""

from __future__ import annotations

import httpx
from confluent_kafka import Consumer

from loyalty_stream.kafka.topics import build_topics
from loyalty_stream.tools.procs import wait_until
from tests.conftest import settings_for
from tests.integration.test_webhook_helpers import message, produce, subscribe
from tests.support.metrics import metric
from tests.support.stack import Stack


def _uncommitted(sender_port: int) -> float:
    text = httpx.get(f"http://127.0.0.1:{sender_port}/metrics", timeout=5).text
    return metric(text, "loyalty_webhook_uncommitted_messages")


def test_a_waiting_retry_is_delivered_after_the_group_rebalances(kafka, tmp_path, receiver) -> None:
    settings = settings_for(
        kafka, tmp_path, stores="R1:rkey", webhook_retry_schedule="30s", webhook_retry_jitter=0.0
    )  # one retry, 30 s later: it waits on the 30 s delay topic, its partition paused
    receiver.responder = lambda _r, n: (503, {}) if n == 0 else (200, {})
    stack = Stack(settings, tmp_path / "logs").start("api", "sender")
    intruder: Consumer | None = None
    try:
        with httpx.Client(base_url=stack.api, timeout=30) as client:
            subscribe(client, "R1", "rkey", receiver.url("/r"))
        [sent] = produce(settings, [message("R1", "c1")])
        receiver.wait_for(lambda rs: len(rs) >= 1, timeout=60)  # the first attempt fails: a retry is written
        wait_until(lambda: _uncommitted(settings.sender_port) >= 1, timeout=30, what="the sender holding the retry")

        # Another member joins the sender's group, takes some partitions, and leaves: two eager rebalances.
        topics = build_topics(settings)
        intruder = Consumer({**settings.kafka_config(), "group.id": settings.sender_group, "enable.auto.commit": False})
        intruder.subscribe([topics.webhooks.name, *(t.name for t in topics.webhooks_retry)])
        wait_until(lambda: bool(intruder.poll(0.2) or intruder.assignment()), timeout=60, what="the intruder's share")
        intruder.close()
        intruder = None

        got = receiver.wait_for(lambda rs: len(rs) >= 2, timeout=120)  # the retry, ~30 s after the first try
        assert {r.json()["messageId"] for r in got} == {sent["messageId"]}
        assert got[-1].json()["messageId"] == sent["messageId"]
    finally:
        if intruder is not None:
            intruder.close()
        stack.stop()
