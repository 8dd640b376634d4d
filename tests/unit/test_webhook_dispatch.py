"""The dispatcher's decisions with a mock HTTP transport and an in-memory producer and subscription view."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import orjson

from loyalty_stream.config.settings import Settings
from loyalty_stream.kafka.topics import build_topics
from schemas.serde import Serde
from tests.support.posters import MockPoster
from tests.support.waiting import until
from webhook_sender.breaker import CircuitBreaker
from webhook_sender.delivery import Attempt
from webhook_sender.dispatch import Delivery, Dispatcher
from webhook_sender.lanes import Lane
from webhook_sender.metrics import SenderMetrics
from webhook_sender.records import Source
from webhook_sender.schedule import tiers

SETTINGS = Settings(
    webhook_retry_schedule="1s,8s",
    webhook_retry_jitter=0.0,
    webhook_breaker_failures=2,
    webhook_endpoint_backlog=5,
    topic_prefix="u.",
)
TOPICS = build_topics(SETTINGS)
SERDE = Serde()
MESSAGE = {
    "messageId": "m-1",
    "eventName": "AchievementCreated",
    "storeCode": "S",
    "createdAt": "2024-05-01T00:00:00.000Z",
    "data": '{"a": 1}',
    "customerId": "c-1",
}


def subscription(sid: str = "sub-1", url: str = "https://hooks.example.com/in") -> dict[str, Any]:
    return {"subscriptionId": sid, "storeCode": "S", "eventName": "AchievementCreated", "url": url, "headers": []}


class FakeProducer:
    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any], dict[str, bytes]]] = []
        self.logged: list[dict[str, Any]] = []

    async def send_acked(self, topic: str, value: bytes | None, *, key: bytes | None = None, headers=None):
        self.sent.append((topic, SERDE.decode(value or b"", expect="WebhookMessage")[1], dict(headers or [])))
        return 0, len(self.sent)

    def send_nowait(self, topic: str, value: bytes | None, *, key: bytes | None = None) -> None:
        self.logged.append(SERDE.decode(value or b"", expect="WebhookMessage")[1])


class FakeSubscriptions:
    def __init__(self, *subs: dict[str, Any]) -> None:
        self.subs = {s["subscriptionId"]: {**s, "status": "active"} for s in subs}
        self.disabled: list[str] = []

    def get(self, store: str, sid: str):
        record = self.subs.get(sid)
        if record is None:
            return "deleted", None
        return record["status"], record

    def for_event(self, store: str, event: str):
        return [s for s in self.subs.values() if s["status"] == "active"]

    async def disable(self, store: str, sid: str, reason: str) -> bool:
        self.disabled.append(sid)
        self.subs[sid]["status"] = "disabled"
        return True


def dispatcher(handler, subs: FakeSubscriptions) -> tuple[Dispatcher, FakeProducer, list[httpx.Request]]:
    requests: list[httpx.Request] = []

    def record(request: httpx.Request):
        requests.append(request)
        return handler(request)

    client = MockPoster(record)
    producer = FakeProducer()
    d = Dispatcher(SETTINGS, SERDE, TOPICS, tiers(TOPICS.webhooks_retry), subs, producer, client, SenderMetrics())
    return d, producer, requests


def deliver(d: Dispatcher, attempts: int = 0, sub: dict[str, Any] | None = None) -> list[int]:
    finished: list[int] = []
    source = Source(TOPICS.webhooks.name, 0, 7, b"S:c-1")
    d.submit(Delivery(dict(MESSAGE), sub or subscription(), attempts, source, b"S:c-1", lambda: finished.append(1)))
    return finished


async def settle(d: Dispatcher) -> None:
    while d.tasks:
        await asyncio.gather(*list(d.tasks))


def test_a_retryable_failure_goes_to_the_tier_that_fits_with_the_snapshot() -> None:
    async def go():
        d, producer, _ = dispatcher(lambda _r: httpx.Response(503), FakeSubscriptions(subscription()))
        before = int(time.time() * 1000)
        finished = deliver(d)
        await settle(d)
        return producer, finished, before

    producer, finished, before = asyncio.run(go())
    [(topic, record, _headers)] = producer.sent
    assert topic == TOPICS.webhooks_retry[0].name  # 1 s: the 1s tier
    assert record["attempt"] == 1 and record["lastStatus"] == 503
    assert before + 1000 <= record["dueAtMs"] <= int(time.time() * 1000) + 1000
    assert orjson.loads(record["subscriptionSnapshot"])["url"] == "https://hooks.example.com/in"
    assert finished == [1]
    assert [(e["attempt"], e["outcome"]) for e in producer.logged] == [(1, "retry")]


def test_after_the_last_attempt_it_is_dead_lettered_with_the_last_error() -> None:
    async def go():
        d, producer, _ = dispatcher(lambda _r: httpx.Response(500, text="boom"), FakeSubscriptions(subscription()))
        finished = deliver(d, attempts=2)  # the third and last attempt
        await settle(d)
        return producer, finished

    producer, finished = asyncio.run(go())
    [(topic, record, headers)] = producer.sent
    assert topic == TOPICS.webhooks_dlq.name
    assert (record["reason"], record["attempt"], record["lastStatus"]) == ("retries_exhausted", 3, 500)
    assert record["lastError"] == "HTTP 500: boom"
    assert headers["loyalty-reason"] == b"retries_exhausted" and headers["loyalty-status"] == b"500"
    assert headers["loyalty-source-offset"] == b"7"
    assert finished == [1]


def test_gone_disables_the_subscription_and_dead_letters() -> None:
    async def go():
        subs = FakeSubscriptions(subscription())
        d, producer, _ = dispatcher(lambda _r: httpx.Response(410), subs)
        deliver(d)
        await settle(d)
        deliver(d)  # the next one finds it disabled: no request
        await settle(d)
        return subs, producer

    subs, producer = asyncio.run(go())
    assert subs.disabled == ["sub-1"]
    assert [r["reason"] for _t, r, _h in producer.sent] == ["gone", "subscription_disabled"]


def test_a_deleted_subscription_gets_no_request() -> None:
    async def go():
        d, producer, requests = dispatcher(lambda _r: httpx.Response(200), FakeSubscriptions())
        deliver(d, attempts=1)
        await settle(d)
        return producer, requests

    producer, requests = asyncio.run(go())
    assert requests == []
    assert [r["reason"] for _t, r, _h in producer.sent] == ["subscription_deleted"]


def test_an_open_circuit_defers_without_a_request() -> None:
    async def go():
        d, producer, requests = dispatcher(lambda _r: httpx.Response(503), FakeSubscriptions(subscription()))
        for _ in range(3):
            deliver(d)
            await settle(d)
        return producer, requests

    producer, requests = asyncio.run(go())
    assert len(requests) == 2  # the breaker opened after two failures
    outcomes = [e["outcome"] for e in producer.logged]
    assert outcomes == ["retry", "retry", "deferred"]
    assert producer.sent[-1][1]["lastError"].startswith("circuit open")


def test_what_waits_when_its_partition_is_revoked_is_left_to_the_new_owner() -> None:
    async def go():
        gate = asyncio.Event()
        revoked = [False]

        async def hang(_request):
            await gate.wait()
            return httpx.Response(200)

        d, producer, requests = dispatcher(hang, FakeSubscriptions(subscription()))
        finished: list[int] = []
        for offset in range(SETTINGS.webhook_endpoint_concurrency + 3):  # 3 wait behind the lane's 8
            source = Source(TOPICS.webhooks.name, 0, offset, b"S:c-1", lambda: not revoked[0])
            d.submit(Delivery(dict(MESSAGE), subscription(), 0, source, None, lambda: finished.append(1)))
        await until(lambda: len(requests) >= SETTINGS.webhook_endpoint_concurrency, what="the lane's slots in flight")
        revoked[0] = True
        gate.set()
        await settle(d)
        source = Source(TOPICS.webhooks.name, 0, 99, b"S:c-1", lambda: not revoked[0])
        d.submit(Delivery(dict(MESSAGE), subscription(), 0, source, None, lambda: finished.append(1)))
        await settle(d)
        return requests, producer, finished

    requests, producer, finished = asyncio.run(go())
    concurrency = SETTINGS.webhook_endpoint_concurrency
    assert len(requests) == concurrency  # those in flight finish; the waiting ones and the late one are not sent
    assert len(finished) == concurrency
    assert not [r for _topic, r, _headers in producer.sent if r.get("lastError")]  # nothing deferred either


def _fill_a_slow_lane(*, beside_one_with_room: bool) -> tuple[list[dict[str, Any]], FakeProducer]:
    """One more than a slow endpoint's backlog offered to it (its requests hang until the end), optionally
    beside a second endpoint with one delivery of its own in flight; (deferred attempts, producer)."""

    async def go():
        gate = asyncio.Event()

        async def hang(_request):
            await gate.wait()
            return httpx.Response(200)

        sub, other = subscription(), subscription("sub-2", "https://other.example.com/in")
        d, producer, _ = dispatcher(hang, FakeSubscriptions(sub, other))
        d.lanes[f"{sub['subscriptionId']} {sub['url']}"].rate = 0.1  # a slow endpoint: it holds its backlog
        if beside_one_with_room:
            deliver(d, sub=other)
        for _ in range(SETTINGS.webhook_endpoint_backlog + 2):
            deliver(d, sub=sub)
        await asyncio.sleep(0.05)
        deferred = [e for e in producer.logged if e["outcome"] == "deferred"]
        gate.set()
        await settle(d)
        return deferred, producer

    return asyncio.run(go())


def test_a_full_backlog_beside_an_endpoint_with_room_defers_instead_of_queueing() -> None:
    before = int(time.time() * 1000)
    deferred, producer = _fill_a_slow_lane(beside_one_with_room=True)
    assert len(deferred) == 2
    delivered = sum(1 for e in producer.logged if e["outcome"] == "delivered")
    assert delivered == SETTINGS.webhook_endpoint_backlog + 1  # the slow endpoint's backlog, and the other's one
    # not an attempt: a burst to a busy endpoint must not walk the retry schedule to the DLQ untried
    scheduled = [r for _topic, r, _headers in producer.sent if r.get("lastError") == "endpoint backlog full"]
    assert len(scheduled) == 2 and all(r["attempt"] == 0 for r in scheduled)
    assert all(r["dueAtMs"] >= before + 1000 for r in scheduled)  # the lane's rate is not known yet: 1 s


def test_a_full_backlog_with_no_other_endpoint_to_let_through_waits_in_memory() -> None:
    # Every lane with work is full: the sender is what cannot keep up, and a deferral would only add work.
    deferred, producer = _fill_a_slow_lane(beside_one_with_room=False)
    assert deferred == [] and producer.sent == []
    assert sum(1 for e in producer.logged if e["outcome"] == "delivered") == SETTINGS.webhook_endpoint_backlog + 2


def test_a_deferral_lands_on_the_tier_its_wait_fits_whole() -> None:
    # A lane busy for 7 s more: the 5 s tier, due when that tier's wait ends (never a hop to the 1 s tier).
    async def go():
        d, producer, _ = dispatcher(lambda _r: httpx.Response(200), FakeSubscriptions(subscription()))
        source = Source(TOPICS.webhooks.name, 0, 7, b"S:c-1")
        delivery = Delivery(dict(MESSAGE), subscription(), 0, source, b"S:c-1", lambda: None)
        busy = Attempt("deferred", None, "endpoint backlog full", 7.0, counts=False)
        for _ in range(20):  # the tier is chosen once: a millisecond passing on the way must not change it
            await d._conclude(delivery, busy)
            await asyncio.sleep(0.001)
        return producer

    producer = asyncio.run(go())
    five = next(t for t in tiers(TOPICS.webhooks_retry) if t.delay_ms == 5000)
    assert {topic for topic, _record, _headers in producer.sent} == {five.topic.name}


def test_a_lane_estimates_when_it_is_half_empty_from_its_finishing_rate() -> None:
    lane = Lane(concurrency=8, backlog=100, breaker=CircuitBreaker())
    assert lane.wait_estimate() == 1.0  # nothing finished yet
    lane.rate, lane.pending = 25.0, 100
    assert lane.wait_estimate() == 2.0  # 50 of the 100 finished at 25/s
    lane.rate = 1000.0
    assert lane.wait_estimate() == 1.0  # at least a second
    lane.rate = 0.5
    assert lane.wait_estimate() == 10.0  # at most what a full lane holds (HOLD_SECONDS)


def test_a_healthy_fast_lane_holds_what_it_finishes_in_ten_seconds_a_slow_or_failing_one_its_backlog() -> None:
    breaker = CircuitBreaker()
    lane = Lane(concurrency=8, backlog=100, breaker=breaker, ceiling=10_000)
    assert lane.capacity == 10_000  # rate not known yet: the ceiling (what it cannot start in time goes back)
    lane.rate = 500.0
    assert lane.capacity == 5_000
    lane.rate = 5_000.0
    assert lane.capacity == 10_000  # never more than the ceiling (half the sender's in-flight budget)
    lane.rate = 4.0
    assert lane.capacity == 100  # a slow endpoint: its backlog, as before
    lane.rate = 500.0
    breaker.record(False, "HTTP 500")
    assert lane.capacity == 100  # its last attempt failed: no more held in memory
    lane.pending = 100
    assert lane.full


def test_fan_out_finishes_once_every_subscription_is_done() -> None:
    async def go():
        subs = FakeSubscriptions(
            subscription("a", "https://a.example.com/"), subscription("b", "https://b.example.com/")
        )
        d, _producer, requests = dispatcher(
            lambda r: httpx.Response(200 if r.url.host == "a.example.com" else 400), subs
        )
        finished: list[int] = []
        d.fan_out(dict(MESSAGE), Source(TOPICS.webhooks.name, 0, 1, b"S:c-1"), lambda: finished.append(1))
        await settle(d)
        return finished, requests

    finished, requests = asyncio.run(go())
    assert finished == [1]
    assert sorted(r.url.host for r in requests) == ["a.example.com", "b.example.com"]


def test_a_record_not_yet_due_hops_to_a_shorter_tier() -> None:
    async def go():
        d, producer, requests = dispatcher(lambda _r: httpx.Response(200), FakeSubscriptions(subscription()))
        record = {**MESSAGE, "subscriptionId": "sub-1", "attempt": 1, "dueAtMs": int(time.time() * 1000) + 7000}
        finished: list[int] = []
        d.due(record, Source(TOPICS.webhooks_retry[2].name, 0, 3, b"S:c-1"), lambda: finished.append(1))
        await settle(d)
        return producer, requests, finished

    producer, requests, finished = asyncio.run(go())
    assert requests == [] and finished == [1]
    assert producer.sent[0][0] == TOPICS.webhooks_retry[1].name  # ~7 s left: the 5s tier
