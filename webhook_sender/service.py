"""The sender's consume loop: fan a webhook message out to the store's subscriptions, commit when done.

An offset is committed only after every subscription's attempt ended as delivered, scheduled for a
retry, or dead-lettered; a crash before that re-delivers (at least once, same messageId).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import httpx
from confluent_kafka import Consumer, Message, TopicPartition

from loyalty_stream.controlplane import ControlPlane
from loyalty_stream.kafka import consumer, producer
from loyalty_stream.settings import Settings
from loyalty_stream.topics import build_topics
from schemas.serde import DecodeError, Serde
from webhook_sender.delivery import Attempt, attempt

log = logging.getLogger(__name__)

MAX_IMMEDIATE_ATTEMPTS = 3


class Sender:
    def __init__(self, settings: Settings, *, client: httpx.AsyncClient | None = None) -> None:
        self.settings = settings
        self.serde = Serde(settings.schema_registry_url)
        self.topics = build_topics(settings)
        self.control = ControlPlane(settings, self.serde)
        self._client = client
        self._consumer: Consumer | None = None
        self._producer = producer(settings)
        self._stopping = asyncio.Event()

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=httpx.Timeout(self.settings.webhook_timeout_seconds),
                limits=httpx.Limits(max_connections=200, max_keepalive_connections=50),
                follow_redirects=False,
            )
        return self._client

    async def run(self) -> None:
        self.control.start()
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self.control.mirror.wait_caught_up, 60.0)
        self._consumer = consumer(self.settings, self.settings.sender_group)
        self._consumer.subscribe([self.topics.webhooks.name])
        log.info("sender ready")
        try:
            while not self._stopping.is_set():
                batch = await loop.run_in_executor(None, self._consumer.consume, 200, 0.2)
                if batch:
                    await self._handle_batch(batch)
        finally:
            self._consumer.close()
            self._producer.flush(10)
            self.control.stop()
            if self._client is not None:
                await self._client.aclose()

    def stop(self) -> None:
        self._stopping.set()

    async def _handle_batch(self, batch: list[Message]) -> None:
        # Messages of one member stay in order; different members go in parallel.
        by_key: dict[bytes | None, list[Message]] = {}
        for msg in batch:
            if msg.error() is None:
                by_key.setdefault(msg.key(), []).append(msg)
        await asyncio.gather(*(self._handle_in_order(msgs) for msgs in by_key.values()))
        offsets: dict[tuple[str, int], int] = {}
        for msg in batch:
            if msg.error() is None:
                offsets[(msg.topic(), msg.partition())] = msg.offset() + 1
        assert self._consumer is not None
        self._producer.flush(30)  # dead letters written before the offsets that cover them
        self._consumer.commit(offsets=[TopicPartition(t, p, o) for (t, p), o in offsets.items()], asynchronous=False)

    async def _handle_in_order(self, msgs: list[Message]) -> None:
        for msg in msgs:
            await self._handle(msg)

    async def _handle(self, msg: Message) -> None:
        try:
            _name, message = self.serde.decode(msg.value(), expect="WebhookMessage")
        except DecodeError as exc:
            self._dead_letter(msg.value(), msg.key(), f"undecodable: {exc}", None)
            return
        subscriptions = self.control.subscriptions_for(message["storeCode"], message["eventName"])
        await asyncio.gather(*(self._deliver(sub, message, msg) for sub in subscriptions))

    async def _deliver(self, subscription: dict[str, Any], message: dict[str, Any], msg: Message) -> None:
        result: Attempt | None = None
        for n in range(MAX_IMMEDIATE_ATTEMPTS):
            result = await attempt(self._http(), subscription, message)
            log.info(
                "webhook attempt",
                extra={
                    "messageId": message["messageId"],
                    "subscriptionId": subscription["subscriptionId"],
                    "status": result.status,
                    "verdict": result.verdict,
                    "attempt": n + 1,
                },
            )
            if result.verdict != "retry":
                break
            await asyncio.sleep(min(result.retry_after or 0.5 * 2**n, 5.0))
        assert result is not None
        if result.verdict != "delivered":
            record = {
                **message,
                "subscriptionId": subscription["subscriptionId"],
                "attempt": MAX_IMMEDIATE_ATTEMPTS,
                "lastStatus": result.status,
                "lastError": result.error,
            }
            self._dead_letter(self.serde.encode("WebhookMessage", record), msg.key(), result.error or "", result.status)

    def _dead_letter(self, value: bytes | None, key: bytes | None, error: str, status: int | None) -> None:
        headers = [("loyalty-error", error[:1000].encode())]
        if status is not None:
            headers.append(("loyalty-status", str(status).encode()))
        self._producer.produce(self.topics.webhooks_dlq.name, value=value, key=key, headers=headers)


def main(settings: Settings | None = None) -> None:
    import signal

    from loyalty_stream.logs import configure_logging

    settings = settings or Settings()
    configure_logging(settings, service="webhook-sender")

    async def run() -> None:
        sender = Sender(settings)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, sender.stop)
        await sender.run()

    asyncio.run(run())
