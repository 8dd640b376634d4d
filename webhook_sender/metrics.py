"""Prometheus metrics of the sender and its small HTTP server: ``/health``, ``/ready``, ``/metrics``.

Labels are the endpoint's host name (``host``), never a URL, header or secret.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

log = logging.getLogger(__name__)

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class SenderMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.deliveries = Counter("loyalty_webhook_deliveries", "Webhooks delivered (2xx)", ["host"], registry=r)
        self.failures = Counter(
            "loyalty_webhook_failures", "Attempts that did not deliver, by kind", ["host", "kind"], registry=r
        )
        self.retries = Counter("loyalty_webhook_retries", "Deliveries scheduled on a delay topic", ["host"], registry=r)
        self.dead_letters = Counter(
            "loyalty_webhook_dead_letters", "Deliveries dead-lettered", ["host", "reason"], registry=r
        )
        self.latency = Histogram(
            "loyalty_webhook_attempt_seconds",
            "Duration of attempts that got an answer or failed",
            ["host"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.in_flight = Gauge("loyalty_webhook_requests_in_flight", "Requests waiting for an answer", registry=r)
        self.uncommitted = Gauge(
            "loyalty_webhook_uncommitted_messages", "Consumed messages not yet committed", registry=r
        )
        self.circuits_open = Gauge("loyalty_webhook_circuits_open", "Subscriptions whose circuit is open", registry=r)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class HealthServer:
    """A minimal HTTP/1.1 server on the event loop (no framework, no signal handlers of its own)."""

    def __init__(self, metrics: SenderMetrics, ready: Callable[[], bool], host: str, port: int) -> None:
        self._metrics = metrics
        self._ready = ready
        self._host, self._port = host, port
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self._host, self._port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            parts = request.split(b"\r\n", 1)[0].split()
            path = parts[1].split(b"?")[0].decode() if len(parts) > 1 else "/"
            status, body, kind = self._answer(path)
            head = (
                f"HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
            )
            writer.write(head.encode() + body)
            await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()

    def _answer(self, path: str) -> tuple[str, bytes, str]:
        if path == "/health":
            return "200 OK", b'{"status":"ok"}', "application/json"
        if path == "/ready":
            if self._ready():
                return "200 OK", b'{"status":"ready"}', "application/json"
            return "503 Service Unavailable", b'{"status":"starting"}', "application/json"
        if path == "/metrics":
            return "200 OK", self._metrics.render(), CONTENT_TYPE_LATEST
        return "404 Not Found", b'{"code":404,"message":"Not Found"}', "application/json"
