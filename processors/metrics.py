"""The processor's Prometheus metrics, served with /health and /ready on the faust web server."""

from __future__ import annotations

from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

REGISTRY = CollectorRegistry()
EVENTS_IN = Counter("loyalty_processor_records_in_total", "Records consumed", ["topic", "store"], registry=REGISTRY)
EVENTS_OUT = Counter("loyalty_processor_records_out_total", "Records produced", ["topic", "store"], registry=REGISTRY)
DEAD_LETTERS = Counter("loyalty_dead_letters_total", "Input records dead-lettered", ["reason"], registry=REGISTRY)
OUTCOMES = Counter(
    "loyalty_event_outcomes_total", "Accepted events by outcome", ["store", "status", "reason"], registry=REGISTRY
)
PROCESSING = Histogram(
    "loyalty_processing_seconds",
    "Time to handle one batch of records, its records and table writes on the broker included",
    ["agent"],
    registry=REGISTRY,
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
BATCH_SIZE = Histogram(
    "loyalty_processor_batch_records",
    "Records an agent handled in one batch",
    ["agent"],
    registry=REGISTRY,
    buckets=(1, 10, 50, 100, 250, 500, 1000, 2000, 5000),
)
DUPLICATES = Counter(
    "loyalty_processor_duplicates_total",
    "Events recognised as already applied: re-delivered (at or below the member's watermark) or a repeated "
    "customEventId (processors/dedup.py)",
    ["kind"],
    registry=REGISTRY,
)
EVENT_AGE = Histogram(
    "loyalty_event_age_seconds",
    "From acceptance (createdAt) to evaluation",
    registry=REGISTRY,
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
COMMIT_STALLS = Counter(
    "loyalty_processor_commit_stalls_total",
    "Partitions whose commit faust could no longer move; each made the worker ask for a rebalance",
    ["topic"],
    registry=REGISTRY,
)
LAG = Gauge("loyalty_consumer_lag", "Records not yet consumed", ["topic", "partition"], registry=REGISTRY)


def install_pages(app: Any, ready: Any) -> None:
    """/health (process up), /ready (assigned and loaded), /metrics (Prometheus, lag refreshed per scrape)."""

    @app.page("/health")
    async def health(web: Any, request: Any) -> Any:
        return web.json({"status": "ok"})

    @app.page("/ready")
    async def readiness(web: Any, request: Any) -> Any:
        ok = ready()
        return web.json({"status": "ready" if ok else "not ready"}, status=200 if ok else 503)

    @app.page("/metrics")
    async def metrics(web: Any, request: Any) -> Any:
        consumer = app.consumer
        for tp in consumer.assignment():
            position = await consumer.position(tp)
            if position is not None:
                LAG.labels(tp.topic, str(tp.partition)).set(max(0, consumer.highwater(tp) - position))
        # aiohttp wants the charset apart from the content type
        return web.bytes(generate_latest(REGISTRY), content_type=CONTENT_TYPE_LATEST.split(";")[0])
