"""An idempotent, acks=all confluent-kafka producer whose sends can be awaited until the broker acks.

No network in ``__init__``; ``start`` begins the poll thread, ``close`` flushes. A send either returns
the record's (partition, offset) after the broker acknowledged it, or raises ``BrokerUnavailable``
when the write definitely failed or was never enqueued: the API turns that into a 503.

Back-pressure: librdkafka's queue holds at most ``api_produce_queue_max_messages`` records and
``api_produce_queue_max_kbytes`` KiB waiting for the broker. When it is full (a slow or stopped broker,
a flood) a send is refused at once with a 503 and ``Retry-After: 1`` instead of waiting, so memory stays
bounded and requests are answered quickly; each queued record waits at most ``produce_timeout_seconds``.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from ingest_api.errors import BrokerUnavailable
from ingest_api.metrics import PRODUCE_FAILURES, PRODUCE_IN_FLIGHT
from loyalty_stream.kafka import producer as make_producer
from loyalty_stream.settings import Settings

Headers = Sequence[tuple[str, bytes]]


class AckedProducer:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._producer: Producer | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.brokers_down = False  # set by librdkafka's "all brokers down", cleared by a metadata probe

    def start(self) -> None:
        # message.timeout.ms bounds how long a record may wait for the broker: past it, the delivery
        # report says it failed, so "never acknowledged" always ends in an answer.
        timeout_ms = int(self._settings.produce_timeout_seconds * 1000)
        self._producer = make_producer(
            self._settings,
            **{
                "message.timeout.ms": timeout_ms,
                "queue.buffering.max.messages": self._settings.api_produce_queue_max_messages,
                "queue.buffering.max.kbytes": self._settings.api_produce_queue_max_kbytes,
                "error_cb": self._on_error,
            },
        )
        producer = self._producer
        PRODUCE_IN_FLIGHT.set_function(lambda: len(producer))  # librdkafka's queue: waiting or in flight
        self._thread = threading.Thread(target=self._poll, name="producer-poll", daemon=True)
        self._thread.start()

    def _on_error(self, err: KafkaError) -> None:
        if err.code() == KafkaError._ALL_BROKERS_DOWN:
            self.brokers_down = True

    def _poll(self) -> None:
        assert self._producer is not None
        last_probe = 0.0
        while not self._stop.is_set():
            self._producer.poll(0.05)
            if self.brokers_down and time.monotonic() - last_probe > 1.0:
                last_probe = time.monotonic()
                try:
                    self._producer.list_topics(timeout=1.0)
                    self.brokers_down = False
                except KafkaException:
                    pass

    @property
    def raw(self) -> Producer:
        if self._producer is None:
            raise RuntimeError("producer not started")
        return self._producer

    async def send(
        self,
        topic: str,
        value: bytes | None,
        *,
        key: bytes | None = None,
        headers: Headers | None = None,
        partition: int | None = None,
    ) -> tuple[int, int]:
        """Produce and wait for the broker's acknowledgement; return (partition, offset)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[tuple[int, int]] = loop.create_future()

        def delivered(err: KafkaError | None, msg: Message) -> None:
            loop.call_soon_threadsafe(_settle, future, err, msg)

        if self.brokers_down:
            # Fail fast instead of queueing behind a dead connection: nothing is enqueued, so a 503 is certain.
            PRODUCE_FAILURES.labels("brokers_down").inc()
            raise BrokerUnavailable("no Kafka broker is reachable", retry_after=2)
        kwargs: dict[str, Any] = {"key": key, "value": value, "headers": list(headers or []), "on_delivery": delivered}
        if partition is not None:
            kwargs["partition"] = partition
        try:
            self.raw.produce(topic, **kwargs)
        except BufferError as exc:
            PRODUCE_FAILURES.labels("queue_full").inc()
            raise BrokerUnavailable("the producer queue is full", retry_after=1) from exc
        except KafkaException as exc:
            PRODUCE_FAILURES.labels("not_enqueued").inc()
            raise BrokerUnavailable(f"the write was not enqueued: {exc}") from exc
        try:
            return await future
        except BrokerUnavailable:
            PRODUCE_FAILURES.labels("not_acknowledged").inc()
            raise

    def close(self, timeout: float = 10.0) -> None:
        if self._producer is not None:
            self._producer.flush(timeout)
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)


def _settle(future: asyncio.Future[tuple[int, int]], err: KafkaError | None, msg: Message) -> None:
    if future.done():
        return
    if err is not None:
        future.set_exception(BrokerUnavailable(f"the broker did not acknowledge the write: {err.str()}"))
    else:
        future.set_result((msg.partition(), msg.offset()))
