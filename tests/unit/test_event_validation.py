"""One validation of a custom event: the API (400 at the field) and the processor (a dead letter) refuse
the same events, for the same reasons (loyalty_stream/domain/validation.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from ingest_api.intake import event_problems
from ingest_api.models import EventIn
from loyalty_stream.config.settings import Store
from loyalty_stream.domain.events import TRANSACTION_TYPE
from loyalty_stream.domain.ids import transaction_id
from processors.intake import Admitted, Rejected, admit, decode
from schemas.serde import Serde

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
STORE = Store("S", frozenset({"k"}), "Europe/Warsaw")
SCHEMAS: dict[tuple[str, str], dict[str, Any]] = {
    ("S", "visit"): {"fields": [{"name": "minutes", "type": "number"}, {"name": "at", "type": "datetime"}]},
    ("S", "old"): {"fields": [], "active": False},
}
GOOD = {"type": "visit", "eventDate": "2024-05-01T10:00:00", "customerData": {"email": "a@b.c"}, "body": {}}


class _Control:
    schemas = SCHEMAS


def by_api(event: dict[str, Any]) -> list[tuple[str, str]]:
    model = EventIn.model_validate(event)
    return [(p.path, p.code) for p in event_problems(STORE, model, _Control(), NOW)]  # type: ignore[arg-type]


def by_processor(event: dict[str, Any]) -> Admitted | Rejected:
    record = {**event, "storeCode": "S", "body": orjson.dumps(event["body"]).decode()}
    return admit(record, stores={"S": STORE}, schemas=SCHEMAS, topic="t", partition=0, offset=7, now=NOW)


@pytest.mark.parametrize(
    ("change", "api", "reason"),
    [
        ({"type": "nope"}, [("event.type", "unknown_event_type")], "unknown_event_type"),
        ({"type": "old"}, [("event.type", "inactive_event_type")], "unknown_event_type"),
        ({"body": {"minutes": "ten"}}, [("event.body.minutes", "invalid_type")], "invalid_body"),
        ({"body": {"at": "0001-01-01T00:00:00"}}, [("event.body.at", "invalid_type")], "invalid_body"),
        ({"body": {"note": "x" * 256}}, [("event.body.note", "too_long")], "invalid_body"),
        ({"body": {"n": 2**53}}, [("event.body.n", "out_of_range")], "invalid_body"),
        ({"eventDate": "yesterday"}, [("event.eventDate", "invalid_datetime")], "invalid_event_date"),
        ({"eventDate": "2024-05-01T12:06:00Z"}, [("event.eventDate", "future_date")], "future_event_date"),
        ({"eventDate": "1899-12-31T23:00:00Z"}, [("event.eventDate", "too_early")], "invalid_event_date"),
        ({"customerData": {}}, [("event.customerData", "no_identifier")], "missing_identifier"),
    ],
)
def test_api_and_processor_refuse_the_same_event(change: dict[str, Any], api: list[Any], reason: str) -> None:
    event = {**GOOD, **change}
    assert by_api(event) == api
    outcome = by_processor(event)
    assert isinstance(outcome, Rejected) and outcome.reason == reason


def test_a_good_event_passes_both_ways_with_its_date_in_store_time() -> None:
    assert by_api(GOOD) == []
    outcome = by_processor(GOOD)
    assert isinstance(outcome, Admitted)
    assert outcome.event_date == datetime(2024, 5, 1, 8, 0, tzinfo=UTC)  # 10:00 in Warsaw, summer time
    assert outcome.record["customEventId"]


def test_the_dead_letter_names_the_first_problem_in_check_order() -> None:
    outcome = by_processor({**GOOD, "type": "nope", "customerData": {}, "eventDate": "never"})
    assert isinstance(outcome, Rejected) and outcome.reason == "unknown_event_type"
    record = {**GOOD, "storeCode": "S", "customerData": {}, "body": "not json"}
    outcome = admit(record, stores={"S": STORE}, schemas=SCHEMAS, topic="t", partition=0, offset=7, now=NOW)
    assert isinstance(outcome, Rejected) and outcome.reason == "missing_identifier"  # identifiers before the body
    record = {**GOOD, "storeCode": "S", "body": "[1]"}
    outcome = admit(record, stores={"S": STORE}, schemas=SCHEMAS, topic="t", partition=0, offset=7, now=NOW)
    assert outcome == Rejected("invalid_body", "body is not a JSON object")


PURCHASE = {
    "header": {"documentNumber": "INV-1", "purchasedAt": "2024-05-01T10:00:00"},
    "items": [{"sku": "S", "name": "Shoes", "grossValue": 60, "category": "shoes", "quantity": 1}],
    "customerData": {"email": "a@b.c", "name": "Ann"},
}


def test_a_transaction_from_kafka_becomes_an_event_of_the_transaction_type() -> None:
    decoded = decode(Serde(), orjson.dumps({"storeCode": "S", "transaction": PURCHASE}))
    assert not isinstance(decoded, Rejected) and decoded[0] == "Transaction"
    outcome = admit(decoded[1], stores={"S": STORE}, schemas=SCHEMAS, topic="t", partition=0, offset=7, now=NOW)
    assert isinstance(outcome, Admitted)
    assert outcome.record["type"] == TRANSACTION_TYPE
    assert outcome.record["customEventId"] == transaction_id("S", "INV-1")  # the same document: the same id
    assert outcome.record["customerData"] == {"customerId": None, "email": "a@b.c", "phone": None,
                                              "loyaltyCardNumber": None}  # fmt: skip
    assert orjson.loads(outcome.record["body"])["grossValue"] == 60
    assert outcome.event_date == datetime(2024, 5, 1, 8, 0, tzinfo=UTC)  # store time, as eventDate


def test_the_api_and_the_processor_refuse_the_same_transaction() -> None:
    bad = {**PURCHASE, "header": {"purchasedAt": "2024-05-01T10:00:00"}}
    record = {"storeCode": "S", "transaction": orjson.dumps(bad).decode()}
    outcome = admit(record, stores={"S": STORE}, schemas=SCHEMAS, topic="t", partition=0, offset=7, now=NOW)
    assert isinstance(outcome, Rejected) and outcome.reason == "missing_field"
    assert "transaction.header.documentNumber" in outcome.message
