"""The sender process: one consumer (webhooks topic + delay topics), the dispatcher, health and metrics.

Threads: the event loop runs every delivery; one consumer thread runs every consumer call (consume,
pause/resume, commit, rebalance callbacks), one step at a time, so the loop never blocks on Kafka
and a hanging endpoint never blocks the consumer. Offsets are committed from the tracker
(``offsets.py``): a message's offset only once each of its deliveries is delivered, scheduled on a
delay topic or dead-lettered. Flow control: when more than ``webhook_max_in_flight`` messages are
unfinished, every partition is paused (the group membership stays alive) until half have finished.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition
from prometheus_client import CollectorRegistry

from loyalty_stream.config.settings import Settings
from loyalty_stream.kafka.client import consumer as make_consumer
from loyalty_stream.kafka.topics import build_topics
from loyalty_stream.replicas.controlplane import ControlPlane
from schemas.serde import DecodeError, Serde
from webhook_sender.destinations import Poster, WebhookClient
from webhook_sender.dispatch import Dispatcher
from webhook_sender.metrics import HealthServer, SenderMetrics
from webhook_sender.offsets import OffsetTracker, TopicPartitionKey
from webhook_sender.producing import AsyncProducer
from webhook_sender.records import Source
from webhook_sender.schedule import ready_at_ms, tiers
from webhook_sender.subscriptions import SubscriptionView
from webhook_sender.waiting import DelayQueues, Waiting

log = logging.getLogger(__name__)

BATCH = 500
COMMIT_INTERVAL = 0.2
CATCH_UP_SECONDS = 5.0


class Sender:
    def __init__(
        self,
        settings: Settings,
        *,
        client: Poster | None = None,
        registry: CollectorRegistry | None = None,
        serve_http: bool = True,
    ) -> None:
        self.settings = settings
        self.serde = Serde(settings.schema_registry_url)
        self.topics = build_topics(settings)
        self.tiers = tiers(self.topics.webhooks_retry)
        self._tier_of = {tier.topic.name: tier for tier in self.tiers}
        self.control = ControlPlane(settings, self.serde)
        self.producer = AsyncProducer(settings)
        self.metrics = SenderMetrics(registry)
        self.offsets = OffsetTracker()
        self._client = client
        self._serve_http = serve_http
        self._consumer: Consumer | None = None
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="sender-consumer")
        self._assigned: set[TopicPartitionKey] = set()
        self._paused: set[TopicPartitionKey] = set()
        self._last_commit = 0.0
        self._stopping = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self.dispatcher: Dispatcher | None = None
        self.delays: DelayQueues | None = None
        self.ready = False

    # -- lifecycle ----------------------------------------------------------------------------
    async def run(self) -> None:
        loop = self._loop = asyncio.get_running_loop()
        self.control.start()
        self.producer.start()
        client = self._client or WebhookClient(self.settings)
        subs = SubscriptionView(self.control, self.serde, self.producer)
        self.dispatcher = Dispatcher(
            self.settings, self.serde, self.topics, self.tiers, subs, self.producer, client, self.metrics
        )
        self.delays = DelayQueues(self._on_ready)
        health = HealthServer(self.metrics, lambda: self.ready, self.settings.api_host, self.settings.sender_port)
        if self._serve_http:
            await health.start()
        try:
            if not await loop.run_in_executor(None, self.control.mirror.wait_caught_up, 60.0):
                raise RuntimeError("the control plane did not catch up within 60 s")
            await loop.run_in_executor(self._thread, self._subscribe)
            self.ready = True
            log.info("sender ready")
            backpressure = False
            while not self._stopping.is_set():
                in_flight = self.offsets.in_flight
                self.metrics.uncommitted.set(in_flight)
                if in_flight >= self.settings.webhook_max_in_flight:
                    backpressure = True
                elif in_flight <= self.settings.webhook_max_in_flight // 2:
                    backpressure = False
                batch = await loop.run_in_executor(self._thread, self._step, self.delays.paused, backpressure)
                await self._dispatch(batch)
        finally:
            self.ready = False
            self.delays.close()  # waiting retries stay uncommitted: the next owner reads them again
            await self._drain()
            with contextlib.suppress(Exception):
                await loop.run_in_executor(self._thread, self._close_consumer)
            self.producer.close()
            self.control.stop()
            await health.stop()
            if self._client is None:
                await client.aclose()
            self._thread.shutdown(wait=False)

    def stop(self) -> None:
        self._stopping.set()

    async def _drain(self) -> None:
        """Give deliveries in flight up to one attempt's timeout, at most the shutdown grace, to end so their
        offsets can be committed; one cut short stays uncommitted and is delivered again after the restart."""
        assert self.dispatcher is not None
        tasks = list(self.dispatcher.tasks)
        if tasks:
            grace = min(self.settings.webhook_timeout_seconds + 5, self.settings.shutdown_grace_seconds - 1)
            _done, pending = await asyncio.wait(tasks, timeout=max(grace, 0.5))
            for task in pending:
                task.cancel()

    # -- consumer thread ----------------------------------------------------------------------
    def _subscribe(self) -> None:
        # The default range assignor splits each topic evenly over the senders (cooperative-sticky balances
        # only the total, and may leave a sender with delay tiers and none of the webhooks topic). Its eager
        # rebalances mean records in flight when the group changes may be delivered twice: at least once.
        self._consumer = make_consumer(self.settings, self.settings.sender_group)
        names = [self.topics.webhooks.name, *(tier.topic.name for tier in self.tiers)]
        self._consumer.subscribe(names, on_assign=self._on_assign, on_revoke=self._on_revoke, on_lost=self._on_lost)

    def _on_assign(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        keys = [(p.topic, p.partition) for p in partitions]
        self.offsets.assign(keys)
        self._assigned.update(keys)
        # librdkafka keeps a partition's pause across a rebalance (revoked, then assigned again), and pause/resume
        # only work once the assignment is in place, after this callback: count them paused, so the next step
        # resumes all but those it wants paused. Counting them resumed left a delay partition paused for good.
        self._paused.update(keys)

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        keys = [(p.topic, p.partition) for p in partitions]
        final = self.offsets.revoke(keys)
        if final:
            with contextlib.suppress(KafkaException):
                consumer.commit(offsets=[TopicPartition(t, p, o) for (t, p), o in final.items()], asynchronous=False)
        self._forget(keys)

    def _on_lost(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        keys = [(p.topic, p.partition) for p in partitions]
        self.offsets.revoke(keys)
        self._forget(keys)

    def _forget(self, keys: list[TopicPartitionKey]) -> None:
        self._assigned.difference_update(keys)
        self._paused.difference_update(keys)
        if self._loop is not None and self.delays is not None:
            self._loop.call_soon_threadsafe(self.delays.drop, keys)

    def _step(self, waiting: frozenset[TopicPartitionKey], backpressure: bool) -> list[Message]:
        consumer = self._consumer
        assert consumer is not None
        wanted = set(self._assigned) if backpressure else waiting & self._assigned
        with contextlib.suppress(KafkaException):
            if wanted - self._paused:
                consumer.pause([TopicPartition(t, p) for t, p in wanted - self._paused])
            if self._paused - wanted:
                consumer.resume([TopicPartition(t, p) for t, p in self._paused - wanted])
            self._paused = set(wanted)
        # consume(n, timeout) waits for n records or the timeout: take what is there, else block for one.
        batch = consumer.consume(BATCH, 0)
        if not batch:
            first = consumer.poll(0.1)
            batch = [first, *consumer.consume(BATCH - 1, 0)] if first is not None else []
        if time.monotonic() - self._last_commit >= COMMIT_INTERVAL:
            self._commit()
        return batch

    def _commit(self) -> None:
        self._last_commit = time.monotonic()
        offsets = self.offsets.to_commit()
        if not offsets or self._consumer is None:
            return
        try:
            self._consumer.commit(
                offsets=[TopicPartition(t, p, o) for (t, p), o in offsets.items()], asynchronous=False
            )
        except KafkaException as exc:
            log.warning("commit failed, will retry: %s", exc)
            self.offsets.restore(offsets)

    def _close_consumer(self) -> None:
        if self._consumer is not None:
            self._commit()
            self._consumer.close()
            self._consumer = None

    # -- event loop ---------------------------------------------------------------------------
    async def _caught_up(self, record: dict[str, Any]) -> None:
        """Fan out only once the subscriptions copy includes what the message's writer had seen.

        The API stamps the subscriptions topic's position on test sends and resends (and a producer of
        webhook messages may do the same), so a subscription acknowledged before a message is never
        missed by its fan-out. A copy that cannot catch up within a few seconds does not stop the sender.
        """
        wanted = int(record.get("subscriptionsOffset") or 0)
        if wanted and self.control.mirror.position(self.topics.subscriptions.name, 0) < wanted:
            key = (self.topics.subscriptions.name, 0)
            if not await self.control.mirror.wait_async({key: wanted}, timeout=CATCH_UP_SECONDS):
                log.warning(
                    "subscriptions copy behind offset %d after %ss; fanning out anyway", wanted, CATCH_UP_SECONDS
                )

    async def _dispatch(self, batch: list[Message]) -> None:
        assert self.dispatcher is not None and self.delays is not None
        for msg in batch:
            err = msg.error()
            if err is not None:
                if err.code() != KafkaError._PARTITION_EOF:
                    log.warning("consumer: %s", err)
                continue
            topic, partition, offset = msg.topic(), msg.partition(), msg.offset()
            part = self.offsets.add((topic, partition), offset)
            if part is None:
                continue  # revoked meanwhile

            def finish(part: Any = part, offset: int = offset) -> None:
                self.offsets.finish(part, offset)

            source = Source(topic, partition, offset, msg.key(), lambda part=part: not part.revoked)
            try:
                _name, record = self.serde.decode(msg.value() or b"", expect="WebhookMessage")
            except DecodeError as exc:
                self.dispatcher.dead_letter_undecodable(msg.value(), source, str(exc), finish)
                continue
            if topic == self.topics.webhooks.name:
                await self._caught_up(record)
                self.dispatcher.fan_out(record, source, finish)
                continue
            _kind, written = msg.timestamp()
            ready = ready_at_ms(self._tier_of[topic], written, int(record.get("dueAtMs") or 0))
            self.delays.add((topic, partition), Waiting(record, source, finish, ready))

    def _on_ready(self, item: Waiting) -> None:
        assert self.dispatcher is not None
        self.dispatcher.due(item.record, item.source, item.finish)


def main(settings: Settings | None = None) -> None:
    import signal

    from loyalty_stream.config.collector import tune_collector
    from loyalty_stream.config.logs import configure_logging
    from loyalty_stream.config.loop import use_event_loop

    settings = settings or Settings()
    configure_logging(settings, service="webhook-sender")

    async def run() -> None:
        sender = Sender(settings)
        tune_collector()  # everything is imported and built: what is left is per-delivery garbage
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, sender.stop)
        await sender.run()

    use_event_loop(settings)
    asyncio.run(run())
