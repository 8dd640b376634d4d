"""The API's Prometheus metrics: requests by route and status, latency, accepted events by store."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from fastapi import APIRouter, FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

REGISTRY = CollectorRegistry()
REQUESTS = Counter("loyalty_api_requests_total", "HTTP requests", ["method", "route", "status"], registry=REGISTRY)
LATENCY = Histogram("loyalty_api_request_seconds", "HTTP request latency", ["method", "route"], registry=REGISTRY,
                    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10))
EVENTS_ACCEPTED = Counter("loyalty_api_events_accepted_total", "Custom events acknowledged by Kafka", ["store"],
                          registry=REGISTRY)

PRODUCE_IN_FLIGHT = Gauge("loyalty_api_produce_in_flight", "Records sent to Kafka and not yet acknowledged",
                          registry=REGISTRY)
PRODUCE_FAILURES = Counter("loyalty_api_produce_failures_total",
                           "Writes answered 503: queue_full, brokers_down, not_enqueued, not_acknowledged",
                           ["reason"], registry=REGISTRY)

router = APIRouter(tags=["Operations"])


@router.get("/metrics", include_in_schema=False)
async def metrics() -> Response:
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


def install(app: FastAPI) -> None:
    @app.middleware("http")
    async def measure(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        name = getattr(route, "path", "unmatched")  # the template, not the raw path: bounded label values
        LATENCY.labels(request.method, name).observe(time.perf_counter() - started)
        REQUESTS.labels(request.method, name, str(response.status_code)).inc()
        return response

    app.include_router(router)
