"""The sender's producer: writes whose broker acknowledgement can be awaited, retried until they land.

A delivery only counts as finished (and its source offset as committable) once its retry or dead
letter is acknowledged by the broker (acks=all, idempotent). When a write fails (broker away longer
than ``message.timeout.ms``), ``send_acked`` tries again with a growing pause, so an outage delays
commits but never drops a retry or a dead letter.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Sequence

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from loyalty_stream.kafka import producer as make_producer
from loyalty_stream.settings import Settings

log = logging.getLogger(__name__)
Headers = Sequence[tuple[str, bytes]]


class ProduceFailed(RuntimeError):
    pass


class AsyncProducer:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._producer: Producer | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._producer = make_producer(self._settings, **{"queue.buffering.max.messages": 500000})
        self._thread = threading.Thread(target=self._poll, name="sender-producer-poll", daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        assert self._producer is not None
        while not self._stop.is_set():
            self._producer.poll(0.05)

    @property
    def raw(self) -> Producer:
        if self._producer is None:
            raise RuntimeError("producer not started")
        return self._producer

    def send_nowait(self, topic: str, value: bytes | None, *, key: bytes | None = None) -> None:
        """Fire and forget (the attempt log): a lost entry loses a log line, never a message."""
        try:
            self.raw.produce(topic, value=value, key=key)
        except (BufferError, KafkaException) as exc:
            log.warning("attempt log entry dropped: %s", exc)

    async def send(
        self, topic: str, value: bytes | None, *, key: bytes | None = None, headers: Headers | None = None
    ) -> tuple[int, int]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[tuple[int, int]] = loop.create_future()

        def delivered(err: KafkaError | None, msg: Message) -> None:
            loop.call_soon_threadsafe(_settle, future, err, msg)

        try:
            self.raw.produce(topic, value=value, key=key, headers=list(headers or []), on_delivery=delivered)
        except (BufferError, KafkaException) as exc:
            raise ProduceFailed(f"not enqueued: {exc}") from exc
        return await future

    async def send_acked(
        self, topic: str, value: bytes | None, *, key: bytes | None = None, headers: Headers | None = None
    ) -> tuple[int, int]:
        """``send`` until the broker acknowledges it."""
        pause = 0.2
        while True:
            try:
                return await self.send(topic, value, key=key, headers=headers)
            except ProduceFailed as exc:
                log.warning("write to %s failed, trying again in %.1fs: %s", topic, pause, exc)
                await asyncio.sleep(pause)
                pause = min(pause * 2, 10.0)

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
        future.set_exception(ProduceFailed(err.str()))
    else:
        future.set_result((msg.partition(), msg.offset()))
