"""Members, matching, parking, idempotency and dead letters, through the real API and processor (issue 4)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from loyalty_stream.domain.ids import custom_event_id
from schemas.serde import Serde
from tests.conftest import settings_for
from tests.support.flows import AUTH, post
from tests.support.stack import Stack
from tests.support.topics import TopicReader, latest_outcomes, produce

ORDER_SCHEMA = {
    "customEventSchema": {
        "eventType": "order",
        "name": "Order",
        "schema": {"fields": [{"name": "amount", "type": "number", "description": "Order value"}]},
    }
}


def counting(event_type: str, goal: int = 100) -> dict:
    return {
        "achievement": {
            "active": True,
            "translations": {"en": {"name": f"count {event_type}"}},
            "activity": {"operator": "", "data": None},
            "rules": [
                {
                    "trigger": "custom_event",
                    "type": "direct",
                    "event": event_type,
                    "aggregation": {"type": "quantity"},
                    "completeRule": {"periodGoal": goal, "period": {"type": "overall"}},
                    "translations": {"en": {"name": "count"}},
                }
            ],
        }
    }


def order(customer: dict, event_id: str | None = None, amount: float = 10) -> dict:
    event = {
        "type": "order",
        "eventDate": (datetime.now(UTC) - timedelta(seconds=5)).isoformat(),
        "customerData": customer,
        "body": {"amount": amount},
    }
    if event_id:
        event["eventId"] = event_id
    return {"event": event}


def email() -> str:
    return f"m-{uuid.uuid4().hex[:10]}@example.com"


@dataclass
class Pipeline:
    stack: Stack
    client: httpx.Client
    outcomes: TopicReader

    def event(self, body: dict) -> str:
        return post(self.client, "/api/DEFAULT/customEvent", body)["customEventId"]

    def register(self, **customer: str) -> str:
        return post(self.client, "/api/DEFAULT/member", {"customer": customer})["customerId"]

    def outcome(self, event_id: str, status: str | set[str], timeout: float = 60) -> dict:
        wanted = {status} if isinstance(status, str) else status
        self.outcomes.wait_for(
            lambda _r: latest_outcomes(self.outcomes).get(event_id, {}).get("status") in wanted,
            timeout,
            what=f"outcome {wanted} of {event_id}",
        )
        return latest_outcomes(self.outcomes)[event_id]


def _pipeline(kafka, tmp_path_factory, **overrides) -> Iterator[Pipeline]:
    settings = settings_for(kafka, tmp_path_factory.mktemp("intake"), **overrides)
    stack = Stack(settings, tmp_path_factory.mktemp("intake-logs")).start("api", "processor")
    outcomes = TopicReader(settings, stack.settings.topic_prefix + "custom-event-outcomes")
    with httpx.Client(base_url=stack.api, timeout=30) as client:
        post(client, "/api/DEFAULT/customEvent/schema", ORDER_SCHEMA, expect=204)
        post(client, "/api/DEFAULT/achievement", counting("order"))
        yield Pipeline(stack, client, outcomes)
    outcomes.close()
    stack.stop()


@pytest.fixture(scope="module")
def pipeline(kafka, tmp_path_factory) -> Iterator[Pipeline]:
    yield from _pipeline(kafka, tmp_path_factory)


def test_registration_then_event_back_to_back(pipeline: Pipeline) -> None:
    address = email()
    customer_id = pipeline.register(email=address)
    outcome = pipeline.outcome(pipeline.event(order({"email": address})), "counted")
    assert outcome["customerId"] == customer_id


def test_event_then_registration_back_to_back(pipeline: Pipeline) -> None:
    address = email()
    event_id = pipeline.event(order({"email": address}))
    customer_id = pipeline.register(email=address)
    outcome = pipeline.outcome(event_id, "counted")
    assert outcome["customerId"] == customer_id


def test_achievement_created_then_event_right_after_counts(pipeline: Pipeline) -> None:
    address = email()
    pipeline.register(email=address)
    event_type = f"visit_{uuid.uuid4().hex[:6]}"
    post(
        pipeline.client,
        "/api/DEFAULT/customEvent/schema",
        {"customEventSchema": {"eventType": event_type, "name": "Visit", "schema": {}}},
        expect=204,
    )
    achievement = post(pipeline.client, "/api/DEFAULT/achievement", counting(event_type))["achievementId"]
    body = {
        "event": {"type": event_type, "eventDate": datetime.now(UTC).isoformat(), "customerData": {"email": address}}
    }
    outcome = pipeline.outcome(pipeline.event(body), "counted")
    assert outcome["changedAchievements"] == [achievement]


def test_identifier_case_rules(pipeline: Pipeline) -> None:
    tag = uuid.uuid4().hex[:8]
    customer_id = pipeline.register(
        email=f"  John.{tag}@Example.COM ", phone=f"+48 (600) {tag[:3]}-{tag[3:6]}", loyaltyCardNumber=f"Card-{tag}"
    )
    by_email = pipeline.event(order({"email": f"john.{tag}@example.com"}))
    by_phone = pipeline.event(order({"phone": f"+48600{tag[:3]}{tag[3:6]}"}))
    by_card = pipeline.event(order({"loyaltyCardNumber": f"Card-{tag}"}))
    wrong_case_card = pipeline.event(order({"loyaltyCardNumber": f"card-{tag}"}))
    for event_id in (by_email, by_phone, by_card):
        assert pipeline.outcome(event_id, "counted")["customerId"] == customer_id
    assert pipeline.outcome(wrong_case_card, "parked")["reason"] == "member_not_registered"


def test_duplicate_identifiers_are_refused(pipeline: Pipeline) -> None:
    address = email()
    pipeline.register(email=address)
    response = pipeline.client.post("/api/DEFAULT/member", json={"customer": {"email": address.upper()}}, headers=AUTH)
    assert response.status_code == 400
    assert [e["path"] for e in response.json()["errors"]] == ["customer.email"]


def test_concurrent_registrations_of_one_email(pipeline: Pipeline) -> None:
    address = email()

    async def both() -> list[int]:
        async with httpx.AsyncClient(base_url=pipeline.stack.api, timeout=30) as client:
            responses = await asyncio.gather(
                *(
                    client.post(
                        "/api/DEFAULT/member", json={"customer": {"email": address, "firstName": str(n)}}, headers=AUTH
                    )
                    for n in range(2)
                )
            )
        return sorted(r.status_code for r in responses)

    assert asyncio.run(both()) == [200, 400]


def test_ambiguous_member_is_dead_lettered(pipeline: Pipeline) -> None:
    first, tag = email(), uuid.uuid4().hex[:9]
    pipeline.register(email=first)
    pipeline.register(email=email(), phone=f"+1{int(tag, 16) % 10**9:09d}")
    event_id = pipeline.event(order({"email": first, "phone": f"+1{int(tag, 16) % 10**9:09d}"}))
    outcome = pipeline.outcome(event_id, "dead_lettered")
    assert outcome["reason"] == "ambiguous_member"
    dlq = TopicReader(pipeline.stack.settings, pipeline.stack.settings.topic_prefix + "custom-events.dlq")
    dlq.wait_for(
        lambda rs: any(
            r.headers.get("loyalty-reason") == "ambiguous_member"
            and r.record
            and r.record.get("customEventId") == event_id
            for r in rs
        ),
        what="DLQ record",
    )
    dlq.close()


def test_same_event_id_five_times_http_and_kafka_counted_once(pipeline: Pipeline) -> None:
    settings = pipeline.stack.settings
    address = email()
    customer_id = pipeline.register(email=address)
    key = f"order-{uuid.uuid4().hex}"
    expected = custom_event_id("DEFAULT", key)
    assert pipeline.event(order({"email": address}, event_id=key)) == expected
    assert pipeline.event(order({"email": address}, event_id=key, amount=99)) == expected  # body differs: same event
    topic = settings.topic_prefix + "custom-events"
    as_json = {"storeCode": "DEFAULT", **order({"email": address}, event_id=key)["event"]}
    produce(settings, topic, json.dumps(as_json).encode(), key=b"DEFAULT:x")
    produce(settings, topic, json.dumps(as_json).encode())
    avro = {**as_json, "body": json.dumps(as_json["body"]), "customerData": {"email": address}}
    produce(settings, topic, Serde().encode("CustomEvent", avro))
    # A later, different event shows where the count stands once all five copies were processed.
    marker = pipeline.event(order({"email": address}, event_id=f"{key}-after"))
    pipeline.outcome(marker, "counted")
    progress = TopicReader(settings, settings.topic_prefix + "achievement-progress")
    reads = progress.wait_for(lambda rs: any(r.record["triggerId"] == marker for r in rs if r.record), what="marker")
    mine = [r.record for r in reads if r.record and r.record["customerId"] == customer_id]
    assert {r["triggerId"] for r in mine} == {expected, marker}
    assert len({r["messageId"] for r in mine if r["triggerId"] == expected}) == 1
    final = next(r for r in mine if r["triggerId"] == marker)
    assert final["rules"][0]["currentPeriodValue"] == 2  # the five copies counted once, plus the marker
    progress.close()


MALFORMED = [
    (b"\x07garbage", "unknown_framing"),
    (b"{not json", "invalid_json"),
    (b"\xc3\x01" + b"\x01" * 8 + b"xx", "unknown_schema"),
    (
        json.dumps(
            {
                "storeCode": "NOPE",
                "type": "order",
                "eventDate": "2024-01-01T00:00:00Z",
                "customerData": {"email": "a@b.c"},
            }
        ).encode(),
        "unknown_store",
    ),
    (
        json.dumps(
            {"storeCode": "DEFAULT", "eventDate": "2024-01-01T00:00:00Z", "customerData": {"email": "a@b.c"}}
        ).encode(),
        "missing_field",
    ),
    (
        json.dumps(
            {
                "storeCode": "DEFAULT",
                "type": "no_schema",
                "eventDate": "2024-01-01T00:00:00Z",
                "customerData": {"email": "a@b.c"},
            }
        ).encode(),
        "unknown_event_type",
    ),
    (
        json.dumps(
            {
                "storeCode": "DEFAULT",
                "type": "order",
                "eventDate": "2024-01-01T00:00:00Z",
                "customerData": {"email": "a@b.c"},
                "body": {"amount": "ten"},
            }
        ).encode(),
        "invalid_body",
    ),
    (
        json.dumps(
            {
                "storeCode": "DEFAULT",
                "type": "order",
                "eventDate": "2999-01-01T00:00:00Z",
                "customerData": {"email": "a@b.c"},
            }
        ).encode(),
        "future_event_date",
    ),
    (
        json.dumps(
            {"storeCode": "DEFAULT", "type": "order", "eventDate": "2024-01-01T00:00:00Z", "customerData": {}}
        ).encode(),
        "missing_identifier",
    ),
    (
        json.dumps(
            {"storeCode": "DEFAULT", "type": "order", "eventDate": "not a date", "customerData": {"email": "a@b.c"}}
        ).encode(),
        "invalid_event_date",
    ),
    (b"", "empty_value"),
]


def test_malformed_kafka_records_are_dead_lettered_and_processing_goes_on(pipeline: Pipeline) -> None:
    settings = pipeline.stack.settings
    topic = settings.topic_prefix + "custom-events"
    tag = uuid.uuid4().hex.encode()
    for n, (value, _reason) in enumerate(MALFORMED):
        produce(settings, topic, value, key=tag + str(n).encode())
    address = email()
    pipeline.register(email=address)
    pipeline.outcome(pipeline.event(order({"email": address})), "counted")
    dlq = TopicReader(settings, settings.topic_prefix + "custom-events.dlq")
    reads = dlq.wait_for(
        lambda rs: len([r for r in rs if (r.key or b"").startswith(tag)]) >= len(MALFORMED),
        what="every malformed record",
    )
    reasons = {r.key: r.headers["loyalty-reason"] for r in reads if (r.key or b"").startswith(tag)}
    assert reasons == {tag + str(n).encode(): reason for n, (_v, reason) in enumerate(MALFORMED)}
    for read in reads:
        if (read.key or b"").startswith(tag):
            assert read.headers["loyalty-source-topic"] == topic and "loyalty-source-offset" in read.headers
    dlq.close()


@pytest.fixture(scope="module")
def short_parking(kafka, tmp_path_factory) -> Iterator[Pipeline]:
    yield from _pipeline(kafka, tmp_path_factory, parking_max_age_hours=2 / 3600, parking_sweep_seconds=1.0)


def test_unknown_member_lands_on_unmatched_after_expiry(short_parking: Pipeline) -> None:
    event_id = short_parking.event(order({"email": email()}))
    assert short_parking.outcome(event_id, {"parked", "unmatched"})["status"] in {"parked", "unmatched"}
    assert short_parking.outcome(event_id, "unmatched")["reason"] == "parking_expired"
    settings = short_parking.stack.settings
    unmatched = TopicReader(settings, settings.topic_prefix + "custom-events.unmatched")
    unmatched.wait_for(
        lambda rs: any(r.record and r.record.get("customEventId") == event_id for r in rs), what="the expired event"
    )
    unmatched.close()
