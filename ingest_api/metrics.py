"""The API's Prometheus metrics: requests by route and status, latency, accepted events by store."""

from __future__ import annotations

import time

from fastapi import APIRouter, FastAPI, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REGISTRY = CollectorRegistry()
REQUESTS = Counter("loyalty_api_requests_total", "HTTP requests", ["method", "route", "status"], registry=REGISTRY)
LATENCY = Histogram(
    "loyalty_api_request_seconds",
    "HTTP request latency",
    ["method", "route"],
    registry=REGISTRY,
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10),
)
EVENTS_ACCEPTED = Counter(
    "loyalty_api_events_accepted_total", "Custom events acknowledged by Kafka", ["store"], registry=REGISTRY
)

PRODUCE_IN_FLIGHT = Gauge(
    "loyalty_api_produce_in_flight", "Records sent to Kafka and not yet acknowledged", registry=REGISTRY
)
PRODUCE_FAILURES = Counter(
    "loyalty_api_produce_failures_total",
    "Writes answered 503: queue_full, brokers_down, not_enqueued, not_acknowledged",
    ["reason"],
    registry=REGISTRY,
)

router = APIRouter(tags=["Operations"])


@router.get("/metrics", include_in_schema=False)
async def metrics() -> Response:
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


class Measure:
    """Requests and latency by route template and status, as a pure ASGI middleware: starlette's
    ``BaseHTTPMiddleware`` (``@app.middleware``) costs a task group and memory streams per request, which
    the ingest benchmark's profile showed as a large share of each single-event request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # an exception before any response is what the server turns into a 500

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            # the route template, not the raw path: bounded label values
            name = getattr(scope.get("route"), "path", "unmatched")
            LATENCY.labels(scope["method"], name).observe(time.perf_counter() - started)
            REQUESTS.labels(scope["method"], name, str(status)).inc()


def install(app: FastAPI) -> None:
    app.add_middleware(Measure)
    app.include_router(router)
