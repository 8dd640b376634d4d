"""Every service answers /health, /ready and /metrics, and the metrics move under the getting-started flow."""

from __future__ import annotations

import json
import subprocess
import sys

import httpx

from loyalty_stream.tools.procs import wait_until
from tests.support.flows import AUTH, getting_started, login_event, post
from tests.support.metrics import metric
from tests.support.topics import produce


def test_health_ready_and_metrics_move(stack, receiver) -> None:
    s = stack()
    settings = s.settings
    processor = f"http://127.0.0.1:{settings.processor_web_port}"
    sender = f"http://127.0.0.1:{settings.sender_port}"
    with httpx.Client(base_url=s.api, timeout=30) as client:
        getting_started(client, receiver.url())
        post(client, "/api/DEFAULT/customEvent", login_event(event_id="ops-1"))
        # a body with whitespace, as the README's curl sends it: re-serialised by the strict JSON check,
        # still counted under its route
        pretty = json.dumps(login_event(event_id="ops-2"), indent=2)
        headers = {**AUTH, "Content-Type": "application/json"}
        assert client.post("/api/DEFAULT/customEvent", content=pretty, headers=headers).status_code == 200
        receiver.wait_for(lambda r: len(r) >= 1)
        for base in (s.api, processor, sender):
            assert httpx.get(f"{base}/health", timeout=5).status_code == 200
        wait_until(lambda: client.get("/ready").status_code == 200, timeout=60, what="API ready")
        assert httpx.get(f"{processor}/ready", timeout=5).status_code == 200

        api_metrics = client.get("/metrics").text
        assert metric(api_metrics, "loyalty_api_events_accepted_total", store="DEFAULT") >= 1
        assert (
            metric(api_metrics, "loyalty_api_requests_total", route="/api/{storeCode}/customEvent", status="200") >= 2
        )
        assert metric(api_metrics, "loyalty_api_requests_total", route="unmatched") == 0

    def processor_counted() -> bool:
        text = httpx.get(f"{processor}/metrics", timeout=5).text
        return metric(text, "loyalty_event_outcomes_total", status="counted") >= 1 and "loyalty_consumer_lag" in text

    wait_until(processor_counted, timeout=30, what="processor metrics")
    sender_text = httpx.get(f"{sender}/metrics", timeout=5).text
    assert metric(sender_text, "loyalty_webhook_deliveries_total") >= 1

    # a malformed record shows up in the DLQ tail and the dead-letter counter
    produce(settings, settings.topic_prefix + "custom-events", b"\x07not a record", key=b"ops-bad")
    tail = subprocess.run(
        [sys.executable, "-m", "loyalty_stream.tools.cli", "dlq", "events", "--from-beginning", "--limit", "1"],
        env=s.env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert tail.returncode == 0, tail.stderr
    assert "unknown_framing" in tail.stdout and "key=ops-bad" in tail.stdout
    wait_until(
        lambda: (
            metric(
                httpx.get(f"{processor}/metrics", timeout=5).text,
                "loyalty_dead_letters_total",
                reason="unknown_framing",
            )
            >= 1
        ),
        timeout=30,
        what="dead-letter counter",
    )
