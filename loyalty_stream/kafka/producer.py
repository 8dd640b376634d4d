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
            self._produce(topic, **kwargs)
            return await future
        except ProduceFailed as exc:
            failure = self.failed(exc)
            if failure is exc:
                raise
            raise failure from exc

    def _produce(self, topic: str, **kwargs: Any) -> None:
        try:
            self.raw.produce(topic, **kwargs)
        except BufferError as exc:
            raise ProduceFailed("queue_full", "the producer queue is full") from exc
        except KafkaException as exc:
            raise ProduceFailed("not_enqueued", f"the write was not enqueued: {exc}") from exc

    async def send_all(self, topic: str, records: Sequence[tuple[bytes | None, bytes]]) -> list[Exception | None]:
        """Produce ``(key, value)`` records in order and wait until the broker answered each: per record None
        (acknowledged) or what ``send`` would have raised. One future and one delivery callback for the lot,
        settled from the poll thread when the last answer arrives: a batch of a thousand costs one wake-up of
        the loop, not a thousand tasks, futures and closures. A failed delivery is matched to its record by
        value (identical records are interchangeable)."""
        if self.fail_fast and self.brokers_down:
            return [self.failed(ProduceFailed("brokers_down", "no Kafka broker is reachable"))] * len(records)
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        results: list[Exception | None] = [None] * len(records)
        unacknowledged: list[tuple[bytes, KafkaError]] = []
        lock = threading.Lock()
        waiting = [len(records)]  # records without an answer yet (the poll thread and this one both count down)

        def answered(count: int) -> None:
            with lock:
                waiting[0] -= count
                last = waiting[0] == 0
            if last:
                loop.call_soon_threadsafe(_settle_all, done)

        def delivered(err: KafkaError | None, msg: Message) -> None:
            if err is not None:
                unacknowledged.append((msg.value() or b"", err))
            answered(1)

        refused = 0
        for index, (key, value) in enumerate(records):
            try:
                self._produce(topic, key=key, value=value, on_delivery=delivered)
            except ProduceFailed as exc:
                results[index] = self.failed(exc)
                refused += 1
        if refused:
            answered(refused)
        if records:
            await done
        if unacknowledged:
            by_value: dict[bytes, list[int]] = {}
            for index, (_key, value) in enumerate(records):
                if results[index] is None:
                    by_value.setdefault(value, []).append(index)
            for value, err in unacknowledged:
                results[by_value[value].pop()] = self.failed(_unacknowledged(err))
        return results

    def failed(self, exc: ProduceFailed) -> Exception:
        """What a failed send raises."""
        return exc

    def close(self, timeout: float = 10.0) -> None:
        if self._producer is not None:
            self._producer.flush(timeout)
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)


def _unacknowledged(err: KafkaError) -> ProduceFailed:
    return ProduceFailed("not_acknowledged", f"the broker did not acknowledge the write: {err.str()}")


def _settle(future: asyncio.Future[tuple[int, int]], err: KafkaError | None, msg: Message) -> None:
    if future.done():
        return
    if err is not None:
        future.set_exception(_unacknowledged(err))
    else:
        future.set_result((msg.partition(), msg.offset()))


def _settle_all(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
