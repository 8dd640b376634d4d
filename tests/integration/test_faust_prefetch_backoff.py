"""faust_compat fix 7: the worker's aiokafka fetcher has no prefetch backoff, so a changelog partition faust
never reads (it pauses them after recovery only in its own books) cannot hold every fetch back 100 ms
(processors/faust_compat.py)."""

from __future__ import annotations

import asyncio

import faust

from loyalty_stream.tools.localkafka import LocalBroker
from processors import faust_compat


def test_the_started_worker_consumer_has_no_prefetch_backoff(kafka: LocalBroker) -> None:
    # importing faust_compat installed its patches, as the processor's start does
    async def started_backoff() -> float:
        app = faust.App("prefetch-backoff", broker=f"kafka://{kafka.bootstrap}", autodiscover=False)
        consumer = app.consumer._thread._create_worker_consumer(app.transport)
        await consumer.start()
        try:
            return float(consumer._fetcher._prefetch_backoff)
        finally:
            await consumer.stop()

    assert asyncio.run(started_backoff()) == faust_compat.PREFETCH_BACKOFF_SECONDS < 0.1
