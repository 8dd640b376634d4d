"""A confluent-kafka producer (idempotent, acks=all) whose writes can be awaited until the broker acknowledges.

No network in ``__init__``; ``start`` opens it with a poll thread, ``close`` flushes. ``send`` returns the
record's (partition, offset) once acknowledged, or raises ``ProduceFailed`` saying why not: the queue was
full, the record was not enqueued, or the broker never acknowledged it within ``message.timeout.ms``.
The API turns that into a 503; the webhook sender tries again.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence
from typing import Any, Literal

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from loyalty_stream.config.settings import Settings
from loyalty_stream.domain.errors import LoyaltyError
from loyalty_stream.kafka.client import producer as make_producer

Headers = Sequence[tuple[str, bytes]]
Failure = Literal["brokers_down", "queue_full", "not_enqueued", "not_acknowledged"]


class ProduceFailed(LoyaltyError, RuntimeError):
    def __init__(self, reason: Failure, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class AwaitableProducer:
    # Refuse a send at once while librdkafka reports every broker down, instead of queueing it behind a dead
    # connection (nothing is enqueued then, so the refusal is certain).
    fail_fast = False

    def __init__(self, settings: Settings, *, name: str = "producer", **config: Any) -> None:
        self._settings = settings
        self._name = name
        self._config = config
        self._producer: Producer | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.brokers_down = False  # set by librdkafka's "all brokers down", cleared by a metadata probe

    def start(self) -> None:
        self._producer = make_producer(self._settings, **{**self._config, "error_cb": self._on_error})
        self._thread = threading.Thread(target=self._poll, name=f"{self._name}-poll", daemon=True)
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
        """Produce and wait for the broker's acknowledgement; return (partition, offset). A failure raises
        ``failed(ProduceFailed)``: the ProduceFailed itself unless a subclass answers it otherwise."""
        if self.fail_fast and self.brokers_down:
            raise self.failed(ProduceFailed("brokers_down", "no Kafka broker is reachable"))
        loop = asyncio.get_running_loop()
        future: asyncio.Future[tuple[int, int]] = loop.create_future()

        def delivered(err: KafkaError | None, msg: Message) -> None:
            loop.call_soon_threadsafe(_settle, future, err, msg)

        kwargs: dict[str, Any] = {"key": key, "value": value, "headers": list(headers or []), "on_delivery": delivered}
        if partition is not None:
            kwargs["partition"] = partition
        try:
            try:
                self.raw.produce(topic, **kwargs)
            except BufferError as exc:
                raise ProduceFailed("queue_full", "the producer queue is full") from exc
            except KafkaException as exc:
                raise ProduceFailed("not_enqueued", f"the write was not enqueued: {exc}") from exc
            return await future
        except ProduceFailed as exc:
            failure = self.failed(exc)
            if failure is exc:
                raise
            raise failure from exc

    def failed(self, exc: ProduceFailed) -> Exception:
        """What a failed send raises."""
        return exc

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
        future.set_exception(
            ProduceFailed("not_acknowledged", f"the broker did not acknowledge the write: {err.str()}")
        )
    else:
        future.set_result((msg.partition(), msg.offset()))
