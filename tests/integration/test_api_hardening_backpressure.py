"""Back-pressure: with a broker that does not answer (paused, then stopped) a flood of events gets 503s with
Retry-After, the produce queue stays at its bound, and /health keeps answering; then the API recovers.

The test runs its own broker (as test_broker_down does) so that pausing it touches nobody else.
"""

from __future__ import annotations

import asyncio
import re
import signal
import threading
from collections import Counter

import httpx

from loyalty_stream.tools.procs import wait_until
from tests.support.flows import APP_LOGIN_SCHEMA, AUTH, login_event, post
from tests.support.stack import Stack

QUEUE = 50  # api_produce_queue_max_messages
FLOOD = 400


async def _flood(base_url: str, tag: str) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=FLOOD, max_keepalive_connections=FLOOD)
    async with httpx.AsyncClient(base_url=base_url, timeout=60, limits=limits) as client:
        return await asyncio.gather(
            *(
                client.post("/api/DEFAULT/customEvent", json=login_event(event_id=f"{tag}-{n}"), headers=AUTH)
                for n in range(FLOOD)
            )
        )


class HealthProbe:
    """GET /health in a loop on its own connection while the flood runs; records every answer (or failure)."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.answers: list[int | str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(base_url=self.base_url, timeout=5) as client:
            while not self._stop.is_set():
                try:
                    self.answers.append(client.get("/health").status_code)
                except httpx.HTTPError as exc:
                    self.answers.append(type(exc).__name__)
                self._stop.wait(0.05)

    def __enter__(self) -> HealthProbe:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(10)


def _metric(text: str, name: str, labels: str = "") -> float:
    match = re.search(rf"^{re.escape(name + labels)} (\S+)$", text, re.M)
    return float(match[1]) if match else 0.0


def _all_503_with_retry_after(responses: list[httpx.Response]) -> Counter[str]:
    reasons: Counter[str] = Counter()
    for response in responses:
        assert response.status_code == 503, response.text
        assert int(response.headers["Retry-After"]) >= 1
        body = response.json()
        assert body["code"] == 503
        reasons[body["message"]] += 1
    return reasons


def test_a_flood_against_a_slow_or_stopped_broker_gets_quick_503s(own_broker, own_broker_settings, tmp_path) -> None:
    settings = own_broker_settings(produce_timeout_seconds=5.0, api_produce_queue_max_messages=QUEUE)
    api = Stack(settings, tmp_path / "logs").start("api")
    try:
        with httpx.Client(base_url=api.api, timeout=30) as client:
            post(client, "/api/DEFAULT/customEvent/schema", APP_LOGIN_SCHEMA, expect=204)
            assert client.post("/api/DEFAULT/customEvent", json=login_event(event_id="before"), headers=AUTH).is_success

            # 1. A broker that accepts connections but never answers (paused): the queue fills to its bound,
            #    the rest are refused at once, the queued ones time out; /health answers throughout.
            own_broker.signal(signal.SIGSTOP)
            with HealthProbe(api.api) as health:
                responses = asyncio.run(_flood(api.api, "paused"))
                wait_until(lambda: len(health.answers) >= 3, timeout=30, what="/health answers during the flood")
            reasons = _all_503_with_retry_after(responses)
            print("paused broker:", dict(reasons), len(health.answers), "/health answers")
            assert set(health.answers) == {200}, health.answers
            metrics = client.get("/metrics").text
            full = _metric(metrics, "loyalty_api_produce_failures_total", '{reason="queue_full"}')
            timed_out = _metric(metrics, "loyalty_api_produce_failures_total", '{reason="not_acknowledged"}')
            assert full >= FLOOD - QUEUE, reasons  # refused at once: never more than QUEUE were held
            assert timed_out <= QUEUE, reasons
            assert full + timed_out >= FLOOD, reasons
            assert _metric(metrics, "loyalty_api_produce_in_flight") <= QUEUE

            # 2. Resumed: the API accepts events again.
            own_broker.signal(signal.SIGCONT)

            def accepted(tag: str) -> bool:
                return client.post("/api/DEFAULT/customEvent", json=login_event(event_id=tag), headers=AUTH).is_success

            wait_until(lambda: accepted("resumed"), timeout=90, what="the API to accept events after the pause")

            # 3. A stopped broker: every answer a 503 with Retry-After, /health still answering.
            own_broker.stop()
            with HealthProbe(api.api) as health:
                responses = asyncio.run(_flood(api.api, "stopped"))
                wait_until(lambda: len(health.answers) >= 3, timeout=30, what="/health answers during the flood")
            print("stopped broker:", dict(_all_503_with_retry_after(responses)), len(health.answers), "/health answers")
            assert set(health.answers) == {200}, health.answers

            # 4. Back: accepted again.
            own_broker.start()
            wait_until(lambda: accepted("back"), timeout=90, what="the API to accept events after the restart")
    finally:
        api.stop()
