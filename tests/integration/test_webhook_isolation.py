"""A hanging endpoint beside a healthy one, and kill -9 of the sender mid-flight: real processes, real receivers."""

from __future__ import annotations

import sys
import threading
from collections import defaultdict

import httpx

from loyalty_stream.kafka.client import admin
from loyalty_stream.kafka.topics import build_topics
from loyalty_stream.tools.procs import free_port, spawn, stop
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


def test_two_senders_share_the_partitions_and_deliver_everything(stack, make_settings, tmp_path) -> None:
    settings = make_settings(stores=STORES)
    receiver = Receiver().start()
    second = None
    try:
        s = stack("api", "sender", settings=settings)
        env = {**s.env(), "LOYALTY_SENDER_PORT": str(free_port())}
        second = spawn([sys.executable, "-m", "webhook_sender"], env=env, log=tmp_path / "sender-2.log")
        kafka_admin = admin(settings)

        def both_in_the_group() -> bool:
            group = settings.sender_group
            try:
                described = kafka_admin.describe_consumer_groups([group], request_timeout=5)[group].result(timeout=10)
            except Exception:
                return False
            webhooks = build_topics(settings).webhooks.name
            owned = [{tp.topic for tp in m.assignment.topic_partitions} for m in described.members]
            return len(owned) == 2 and all(webhooks in topics for topics in owned)

        wait_for(both_in_the_group, timeout=90, what="both senders to own webhooks partitions")
        with httpx.Client(base_url=s.api, timeout=30) as client:
            subscribe(client, "DEFAULT", "dev-key", receiver.url("/hook"))
        sent = produce(settings, [message("DEFAULT", f"member-{n % 40}", n) for n in range(200)])

        got = receiver.wait_for(lambda rs: {r.json()["messageId"] for r in rs} >= {m["messageId"] for m in sent})
        order: dict[str, list[int]] = defaultdict(list)
        for request in got:
            data = request.json()["data"]
            order[data["member"]["customerId"]].append(data["n"])
        assert all(ns == sorted(ns) for ns in order.values())

        def delivered_by(port: int) -> float:
            text = httpx.get(f"http://127.0.0.1:{port}/metrics").text
            lines = [line for line in text.splitlines() if line.startswith("loyalty_webhook_deliveries_total{")]
            return sum(float(line.rsplit(" ", 1)[1]) for line in lines)

        assert delivered_by(settings.sender_port) > 0
        assert delivered_by(int(env["LOYALTY_SENDER_PORT"])) > 0
    finally:
        if second is not None:
            stop(second)
        receiver.stop()
