"""The sender's producer: writes whose broker acknowledgement can be awaited, retried until they land.

A delivery only counts as finished (and its source offset as committable) once its retry or dead
letter is acknowledged by the broker (acks=all, idempotent). When a write fails (broker away longer
than ``message.timeout.ms``), ``send_acked`` tries again with a growing pause, so an outage delays
commits but never drops a retry or a dead letter.
"""

from __future__ import annotations

import asyncio
import logging

from confluent_kafka import KafkaException

from loyalty_stream.config.settings import Settings
from loyalty_stream.kafka.producer import AwaitableProducer, Headers, ProduceFailed

__all__ = ["AsyncProducer", "ProduceFailed"]

log = logging.getLogger(__name__)


class AsyncProducer(AwaitableProducer):
    def __init__(self, settings: Settings) -> None:
        super().__init__(settings, name="sender-producer", **{"queue.buffering.max.messages": 500000})

    def send_nowait(self, topic: str, value: bytes | None, *, key: bytes | None = None) -> None:
        """Fire and forget (the attempt log): a lost entry loses a log line, never a message."""
        try:
            self.raw.produce(topic, value=value, key=key)
        except (BufferError, KafkaException) as exc:
            log.warning("attempt log entry dropped: %s", exc)

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
