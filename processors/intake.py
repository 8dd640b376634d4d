"""Decode and validate one record of the input topic. No Kafka here: the agent calls ``admit``.

Every record ends as an ``Admitted`` event or a ``Rejected`` one carrying the dead-letter reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from loyalty_stream.config.settings import Store
from loyalty_stream.domain.events import TRANSACTION_TYPE
from loyalty_stream.domain.ids import custom_event_id, source_event_id, transaction_id
from loyalty_stream.domain.transactions import customer_identifiers, transaction_problems
from loyalty_stream.domain.validation import custom_event_problems
from schemas.serde import DecodeError, Serde


@dataclass(frozen=True, slots=True)
class Rejected:
    reason: str  # dead-letter reason code
    message: str


@dataclass(frozen=True, slots=True)
class Admitted:
    store: Store
    record: dict[str, Any]  # CustomEvent record, customEventId set, body as a JSON string
    body: dict[str, Any]
    event_date: datetime


def _record_from_json(value: dict[str, Any]) -> dict[str, Any]:
    """The JSON form is the HTTP ``event`` object plus ``storeCode`` (or the Avro field names)."""
    event = value.get("event", value)
    body = event.get("body", {})
    return {
        "storeCode": value.get("storeCode", event.get("storeCode")),
        "type": event.get("type"),
        "eventDate": event.get("eventDate"),
        "customerData": event.get("customerData") or {},
        "body": body if isinstance(body, str) else orjson.dumps(body).decode(),
        "eventId": event.get("eventId"),
        "customEventId": event.get("customEventId"),
        "createdAt": event.get("createdAt"),
        "controlOffsets": event.get("controlOffsets") or {},
    }


def _transaction_from_json(value: dict[str, Any]) -> dict[str, Any]:
    """The JSON form of a transaction is the HTTP body (``{"transaction": {...}}``) plus ``storeCode``."""
    transaction = value["transaction"]
    return {
        "storeCode": value.get("storeCode"),
        "transaction": transaction if isinstance(transaction, str) else orjson.dumps(transaction).decode(),
        "transactionId": value.get("transactionId"),
        "createdAt": value.get("createdAt"),
        "controlOffsets": value.get("controlOffsets") or {},
    }


def decode(serde: Serde, value: bytes | None) -> tuple[str, dict[str, Any]] | Rejected:
    """(record type, record) of an input-topic value: a CustomEvent or a Transaction (Avro or JSON) or our
    ProcessorSignal."""
    try:
        name, record = serde.decode(value, allow_json=True)
    except DecodeError as exc:
        return Rejected(exc.reason, str(exc))
    if name == "json":
        if "transaction" in record:
            return "Transaction", _transaction_from_json(record)
        return "CustomEvent", _record_from_json(record)
    if name not in ("CustomEvent", "ProcessorSignal", "Transaction"):
        return Rejected("unexpected_record_type", f"a {name} record does not belong on the input topic")
    return name, record


def _text(record: dict[str, Any], field: str, max_len: int = 255) -> str | None:
    value = record.get(field)
    return value if isinstance(value, str) and 0 < len(value) <= max_len else None


# Which problem names an event's dead letter when it has several: the order the checks were made in
# before the API and the processor shared one validation.
_REASON_ORDER = ("unknown_event_type", "missing_field", "invalid_event_date", "future_event_date",
                 "missing_identifier", "invalid_body")  # fmt: skip


def admit(
    record: dict[str, Any],
    *,
    stores: dict[str, Store],
    schemas: dict[tuple[str, str], dict[str, Any]],
    topic: str,
    partition: int,
    offset: int,
    now: datetime,
) -> Admitted | Rejected:
    """Check a decoded CustomEvent against its store and schema (the one validation the API applies too,
    loyalty_stream/domain/validation.py); assign its customEventId. A Transaction is checked by its own
    validation and becomes an event of the transaction type (``admit_transaction``)."""
    store_code = record.get("storeCode")
    store = stores.get(store_code) if isinstance(store_code, str) else None
    if store is None:
        return Rejected("unknown_store", f"unknown store {store_code!r}")
    if "transaction" in record:
        return admit_transaction(record, store, now)
    event_type = _text(record, "type")
    if event_type is None:
        return Rejected("missing_field", "type is missing or not a 1..255 character string")
    try:
        body = orjson.loads(record.get("body") or "{}")
    except orjson.JSONDecodeError as exc:
        body, not_json = None, Rejected("invalid_body", f"body is not JSON: {exc}")
    else:
        not_json = None if isinstance(body, dict) else Rejected("invalid_body", "body is not a JSON object")
    customer = record.get("customerData")
    event_date, problems = custom_event_problems(
        event_type=event_type,
        event_date=record.get("eventDate"),
        customer_data=customer if isinstance(customer, dict) else {},
        body=body if not_json is None else None,
        schema=schemas.get((store.code, event_type)),
        tz=store.tz,
        now=now,
    )
    if problems:
        reason = min((p.reason for p in problems), key=_REASON_ORDER.index)
        return Rejected(reason, "; ".join(f"{p.path}: {p.message}" for p in problems if p.reason == reason))
    if not_json is not None:  # after the others: a body that is not JSON was checked last
        return not_json
    assert event_date is not None and isinstance(body, dict)
    event_id = record.get("eventId")
    if event_id is not None and _text(record, "eventId") is None:
        return Rejected("invalid_event_id", "eventId must be 1..255 characters")
    if not record.get("customEventId"):
        record = {
            **record,
            "customEventId": custom_event_id(store.code, event_id)
            if event_id
            else source_event_id(topic, partition, offset),
        }
    return Admitted(store, record, body, event_date)


_TRANSACTION_REASONS = ("missing_field", "invalid_event_date", "future_event_date", "invalid_transaction")


def admit_transaction(record: dict[str, Any], store: Store, now: datetime) -> Admitted | Rejected:
    """A Transaction record as the event the pipeline carries: type ``TRANSACTION_TYPE``, the facts transaction
    rules see as its body, ``header.purchasedAt`` as its date, and the transactionId of its document number as
    its customEventId (so the same document again is the same transaction, counted once)."""
    try:
        raw = orjson.loads(record.get("transaction") or "null")
    except orjson.JSONDecodeError as exc:
        return Rejected("invalid_transaction", f"transaction is not JSON: {exc}")
    facts, moment, problems = transaction_problems(raw, store.tz, now)
    if problems or facts is None or moment is None:
        reason = min((p.reason for p in problems), key=_TRANSACTION_REASONS.index, default="invalid_transaction")
        return Rejected(reason, "; ".join(f"transaction.{p.path}: {p.message}" for p in problems if p.reason == reason))
    event = {
        "storeCode": store.code,
        "type": TRANSACTION_TYPE,
        "eventDate": raw["header"]["purchasedAt"],
        "customerData": customer_identifiers(raw),
        "body": orjson.dumps(facts).decode(),
        "eventId": None,
        "customEventId": transaction_id(store.code, facts["documentNumber"]),
        "createdAt": record.get("createdAt"),
        "controlOffsets": record.get("controlOffsets") or {},
    }
    return Admitted(store, event, facts, moment)
