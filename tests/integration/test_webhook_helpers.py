"""Helpers shared by the webhook tests (no tests here): messages straight onto the webhooks topic,
subscriptions through the API, reading the sender's topics back."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import orjson
from confluent_kafka import OFFSET_BEGINNING, TopicPartition

from loyalty_stream.config.settings import Settings
from loyalty_stream.domain.clock import iso_utc
from loyalty_stream.kafka.client import consumer, producer
from loyalty_stream.kafka.keys import join_key
from loyalty_stream.kafka.topics import build_topics
from schemas.serde import Serde
from tests.support.topics import control_offsets

EVENT = "MemberAchievementProgressWasChanged"


def message(store: str, customer: str, n: int = 0, event: str = EVENT) -> dict[str, Any]:
    return {
        "messageId": str(uuid.uuid4()),
        "eventName": event,
        "storeCode": store,
        "createdAt": iso_utc(),
        "data": orjson.dumps({"member": {"customerId": customer}, "n": n}).decode(),
        "customerId": customer,
    }


def subscriptions_end(settings: Settings) -> int:
    return control_offsets(settings)[build_topics(settings).subscriptions.name]


def produce(settings: Settings, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Write webhook messages the way the processor does (key storeCode:customerId, acks=all), stamped
    with the subscriptions written so far (as the API stamps events with the control plane it has seen)."""
    serde = Serde(settings.schema_registry_url)
    p = producer(settings)
    topic = build_topics(settings).webhooks.name
    seen = subscriptions_end(settings)
    for m in messages:
        value = serde.encode("WebhookMessage", {**m, "subscriptionsOffset": seen})
        p.produce(topic, value, key=join_key(m["storeCode"], m["customerId"]))
    assert p.flush(30) == 0
    return messages


def subscribe(
    client: httpx.Client,
    store: str,
    key: str,
    url: str,
    *,
    event: str = EVENT,
    hmac: bool = False,
    headers: list[dict[str, str]] | None = None,
) -> tuple[str, str | None]:
    body = {"webhookSubscription": {"eventName": event, "url": url, "headers": headers or [], "hmacEnabled": hmac}}
    response = client.post(f"/api/{store}/webhook/subscription", json=body, headers={"X-AUTH-TOKEN": key})
    assert response.status_code == 200, response.text
    return response.json()["webhookSubscriptionId"], response.json().get("secret")


def read_records(
    settings: Settings,
    topic: str,
    until: Callable[[list[tuple[dict[str, Any], dict[str, bytes]]]], bool],
    timeout: float = 60.0,
) -> list[tuple[dict[str, Any], dict[str, bytes]]]:
    """(record, headers) of every record on ``topic`` from the start, until ``until`` holds."""
    serde = Serde(settings.schema_registry_url)
    c = consumer(settings, f"reader-{uuid.uuid4().hex[:8]}")
    try:
        meta = c.list_topics(topic, timeout=10).topics[topic]
        c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in meta.partitions])
        seen: list[tuple[dict[str, Any], dict[str, bytes]]] = []
        deadline = time.monotonic() + timeout
        while not until(seen):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{topic}: condition not met after {timeout}s; {len(seen)} records: {seen[-3:]}")
            for msg in c.consume(100, 0.2):
                if msg.error() is None:
                    _name, record = serde.decode(msg.value(), expect="WebhookMessage")
                    seen.append((record, dict(msg.headers() or [])))
        return seen
    finally:
        c.close()


def dead_letters(settings: Settings, until: Callable[[list[dict[str, Any]]], bool], timeout: float = 60.0) -> list:
    topic = build_topics(settings).webhooks_dlq.name
    rows = read_records(settings, topic, lambda seen: until([r for r, _h in seen]), timeout)
    return rows


def wait_for(check: Callable[[], Any], timeout: float = 60.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)
