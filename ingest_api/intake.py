"""Turning an accepted HTTP event into its CustomEvent record (shared by the single and batch endpoints)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import orjson

from ingest_api.errors import FieldProblem
from ingest_api.models import EventIn
from ingest_api.strict import EARLIEST_EVENT_DATE, json_problems, parse_datetime
from loyalty_stream.config.settings import Store
from loyalty_stream.domain.clock import iso_utc
from loyalty_stream.domain.identity import identifiers_of
from loyalty_stream.domain.ids import custom_event_id
from loyalty_stream.domain.validation import body_problems
from loyalty_stream.replicas.controlplane import ControlPlane

FUTURE_TOLERANCE = timedelta(minutes=5)


def _body_date_problems(
    body: dict[str, Any], fields: list[dict[str, Any]], store: Store, prefix: str, flagged: set[str]
) -> list[FieldProblem]:
    """Declared datetime fields must be instants the calendar can convert (year 1 east of UTC is not)."""
    problems = []
    for spec in fields:
        path, value = f"{prefix}.{spec['name']}", body.get(spec["name"])
        if spec["type"] == "datetime" and isinstance(value, str) and path not in flagged:
            try:
                parse_datetime(value, store.tz)
            except ValueError:
                problems.append(FieldProblem(path, "This value is not a valid datetime.", "invalid_type"))
    return problems


def event_problems(
    store: Store, event: EventIn, control: ControlPlane, now: datetime, prefix: str = "event"
) -> list[FieldProblem]:
    """Everything wrong with an event the models accepted: schema, body types, date, identifiers."""
    problems: list[FieldProblem] = []
    schema = control.schemas.get((store.code, event.type))
    if schema is None:
        problems.append(
            FieldProblem(f"{prefix}.type", f'Custom event type "{event.type}" has no schema.', "unknown_event_type")
        )
    elif not schema.get("active", True):
        problems.append(
            FieldProblem(f"{prefix}.type", f'Custom event type "{event.type}" is not active.', "inactive_event_type")
        )
    else:
        problems += [
            FieldProblem(p, m, "invalid_type")
            for p, m in body_problems(event.body, schema["fields"], prefix=f"{prefix}.body")
        ]
        flagged = {p.path for p in problems}
        problems += _body_date_problems(event.body, schema["fields"], store, f"{prefix}.body", flagged)
    problems += json_problems(event.body, f"{prefix}.body")  # strings, keys, numbers, nesting (ingest_api.strict)
    try:
        event_date = parse_datetime(event.eventDate, store.tz)
        if event_date - now > FUTURE_TOLERANCE:
            problems.append(
                FieldProblem(
                    f"{prefix}.eventDate", "The event date is more than 5 minutes in the future.", "future_date"
                )
            )
        elif event_date < EARLIEST_EVENT_DATE:
            problems.append(
                FieldProblem(f"{prefix}.eventDate", "The event date is before 1900-01-01T00:00:00Z.", "too_early")
            )
    except ValueError:
        problems.append(FieldProblem(f"{prefix}.eventDate", "This value is not a valid datetime.", "invalid_datetime"))
    if not identifiers_of(event.customerData.model_dump()):
        problems.append(
            FieldProblem(
                f"{prefix}.customerData",
                "One of customerId, email, phone or loyaltyCardNumber is required.",
                "no_identifier",
            )
        )
    return problems


def event_record(
    store: Store, event: EventIn, control_offsets: dict[str, int], now: datetime
) -> tuple[bytes, dict[str, Any]]:
    """(partition key, CustomEvent record). The key is the first identifier in the store's order, so
    every event of one identifier stays in one partition, in order."""
    customer = event.customerData.model_dump()
    kind, value = identifiers_of(customer, store.identifier_order)[0]
    event_id = custom_event_id(store.code, event.eventId) if event.eventId else str(uuid.uuid4())
    record = {
        "storeCode": store.code,
        "type": event.type,
        "eventDate": event.eventDate,
        "customerData": customer,
        "body": orjson.dumps(event.body).decode(),
        "eventId": event.eventId,
        "customEventId": event_id,
        "createdAt": iso_utc(now),
        "controlOffsets": control_offsets,
    }
    return f"{store.code}:{kind}:{value}".encode(), record
