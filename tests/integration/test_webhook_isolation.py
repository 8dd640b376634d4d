"""A hanging endpoint beside a healthy one, and kill -9 of the sender mid-flight: real processes, real receivers."""

from __future__ import annotations

import threading
from collections import defaultdict

import httpx

from tests.integration.test_webhook_helpers import message, produce, subscribe, wait_for
from tests.support.receiver import Receiver

STORES = "DEFAULT:dev-key"
MEMBERS = [f"member-{i}" for i in range(5)]


def test_a_hanging_endpoint_does_not_hold_up_a_healthy_one(stack, make_settings) -> None:
    # Long enough that the hanging endpoint's first attempt cannot time out while the test looks.
    settings = make_settings(stores=STORES, webhook_timeout_seconds=120.0, webhook_retry_schedule="1s")
    release = threading.Event()
    answered: list[str] = []

    def hang(request, _n):
        release.wait(180)
        answered.append(request.json()["messageId"])
        return 200, {}

    hanging, healthy = Receiver(responder=hang).start(), Receiver().start()
    try:
        s = stack("api", "sender", settings=settings)
        with httpx.Client(base_url=s.api, timeout=30) as client:
            slow_id, _ = subscribe(client, "DEFAULT", "dev-key", hanging.url("/never-answers"))
            subscribe(client, "DEFAULT", "dev-key", healthy.url("/ok"))
            sent = produce(settings, [message("DEFAULT", MEMBERS[n % 5], n) for n in range(50)])

            # Every message reaches the healthy endpoint while the other one's first attempts hang.
            got = healthy.wait_for(lambda rs: len(rs) >= 50, timeout=60)
            assert hanging.received, "the hanging endpoint was called"
            assert not release.is_set() and answered == []
            attempts = client.get(
                f"/api/DEFAULT/webhook/subscription/{slow_id}/attempts", headers={"X-AUTH-TOKEN": "dev-key"}
            )
            assert attempts.json()["total"] == 0  # no attempt to it has ended: all are still in flight

            # Per member, the healthy endpoint got them in the order they were produced.
            order: dict[str, list[int]] = defaultdict(list)
            for request in got:
                data = request.json()["data"]
                order[data["member"]["customerId"]].append(data["n"])
            assert all(ns == sorted(ns) for ns in order.values())
            assert sorted(r.json()["messageId"] for r in got) == sorted(m["messageId"] for m in sent)

            # Released, the hanging endpoint answers those same first attempts: they never timed out.
            release.set()
            first = sent[0]["messageId"]

            def first_attempt_delivered() -> bool:
                items = client.get(
                    f"/api/DEFAULT/webhook/subscription/{slow_id}/attempts",
                    params={"messageId": first},
                    headers={"X-AUTH-TOKEN": "dev-key"},
                ).json()["items"]
                return [(e["attempt"], e["outcome"]) for e in items] == [(1, "delivered")]

            wait_for(first_attempt_delivered, what="the hanging first attempt to end as delivered")
            hanging.wait_for(lambda rs: len(rs) >= 50, timeout=60)
    finally:
        release.set()
        hanging.stop()
        healthy.stop()


def test_kill_9_mid_flight_then_restart_delivers_every_message(stack, make_settings) -> None:
    # Every first attempt fails on purpose: keep the circuit breaker out of this durability test.
    settings = make_settings(
        stores=STORES, webhook_retry_schedule="0.5s,1s,2s,2s", webhook_retry_jitter=0.0, webhook_breaker_failures=10**6
    )
    lock = threading.Lock()
    seen: set[str] = set()
    delivered: set[str] = set()

    def first_try_fails(request, _n):
        # Each message fails its first attempt (so some wait on the delay topics when the sender dies).
        message_id = request.json()["messageId"]
        with lock:
            if message_id not in seen:
                seen.add(message_id)
                return 503, {}
            delivered.add(message_id)
        return 200, {}

    receiver = Receiver(responder=first_try_fails).start()
    try:
        s = stack("api", "sender", settings=settings)
        with httpx.Client(base_url=s.api, timeout=30) as client:
            subscribe(client, "DEFAULT", "dev-key", receiver.url("/hook"))
        sent = produce(settings, [message("DEFAULT", MEMBERS[n % 5], n) for n in range(300)])
        ids = {m["messageId"] for m in sent}

        receiver.wait_for(lambda rs: len(rs) >= 100, timeout=60)
        s.kill("sender")  # SIGKILL: no drain, no final commit
        with lock:
            assert delivered < ids, "the sender was killed mid-flight"
        s.start("sender")

        wait_for(lambda: delivered >= ids, timeout=120, what="every message to be delivered after the restart")
    finally:
        receiver.stop()
