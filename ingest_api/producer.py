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
    fail_fast = True

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

    def failed(self, exc: ProduceFailed) -> Exception:
        """Every failure is a 503: the write failed or was never enqueued (never a 200 for what may be lost)."""
        PRODUCE_FAILURES.labels(exc.reason).inc()
        retry_after = {"brokers_down": 2, "queue_full": 1}.get(exc.reason, 5)
        return BrokerUnavailable(str(exc), retry_after=retry_after)
