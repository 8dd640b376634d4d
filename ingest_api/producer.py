"""The API's producer: every write awaited until the broker acknowledged it, failures as 503s.

Back-pressure: librdkafka's queue holds at most ``api_produce_queue_max_messages`` records and
``api_produce_queue_max_kbytes`` KiB waiting for the broker. When it is full (a slow or stopped broker,
a flood) a send is refused at once with a 503 and ``Retry-After: 1`` instead of waiting, so memory stays
bounded and requests are answered quickly; each queued record waits at most ``produce_timeout_seconds``
(``message.timeout.ms``), so "never acknowledged" always ends in an answer.
"""

from __future__ import annotations

from ingest_api.errors import BrokerUnavailable
from ingest_api.metrics import PRODUCE_FAILURES, PRODUCE_IN_FLIGHT
from loyalty_stream.config.settings import Settings
from loyalty_stream.kafka.producer import AwaitableProducer, Headers, ProduceFailed

__all__ = ["AckedProducer", "Headers"]


class AckedProducer(AwaitableProducer):
    def __init__(self, settings: Settings) -> None:
        super().__init__(
            settings,
            name="api-producer",
            **{
                "message.timeout.ms": int(settings.produce_timeout_seconds * 1000),
                "queue.buffering.max.messages": settings.api_produce_queue_max_messages,
                "queue.buffering.max.kbytes": settings.api_produce_queue_max_kbytes,
            },
        )

    def start(self) -> None:
        super().start()
        producer = self.raw
        PRODUCE_IN_FLIGHT.set_function(lambda: len(producer))  # librdkafka's queue: waiting or in flight

    async def send(
        self,
        topic: str,
        value: bytes | None,
        *,
        key: bytes | None = None,
        headers: Headers | None = None,
        partition: int | None = None,
    ) -> tuple[int, int]:
        """Produce and wait for the ack; ``BrokerUnavailable`` (503) when the write failed or never queued."""
        if self.brokers_down:
            # Fail fast instead of queueing behind a dead connection: nothing is enqueued, so a 503 is certain.
            PRODUCE_FAILURES.labels("brokers_down").inc()
            raise BrokerUnavailable("no Kafka broker is reachable", retry_after=2)
        try:
            return await super().send(topic, value, key=key, headers=headers, partition=partition)
        except ProduceFailed as exc:
            PRODUCE_FAILURES.labels(exc.reason).inc()
            raise BrokerUnavailable(str(exc), retry_after=1 if exc.reason == "queue_full" else 5) from exc
