"""Turning an accepted HTTP event into its CustomEvent record (shared by the single and batch endpoints).

What is wrong with an event is decided by the domain's one validation (``loyalty_stream/domain/validation.py``),
the same the processor applies to events produced straight to Kafka.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import orjson

from ingest_api.errors import FieldProblem
from ingest_api.models import EventIn
from ingest_api.strict import field_problems
from loyalty_stream.config.settings import Store
from loyalty_stream.domain.identity import identifiers_of
from loyalty_stream.domain.ids import custom_event_id
from loyalty_stream.domain.validation import custom_event_problems
from loyalty_stream.kafka.keys import identifier_key
from loyalty_stream.replicas.controlplane import ControlPlane


def event_problems(
    store: Store, event: EventIn, control: ControlPlane, now: datetime, prefix: str = "event"
) -> list[FieldProblem]:
    """Everything wrong with an event the models accepted: schema, body types, date, identifiers."""
    _date, problems = custom_event_problems(
        event_type=event.type,
        event_date=event.eventDate,
        customer_data=event.customer,
        body=event.body,
        schema=control.schemas.get((store.code, event.type)),
        tz=store.tz,
        now=now,
    )
    return field_problems(problems, prefix)


def event_record(
    store: Store, event: EventIn, control_offsets: dict[str, int], created_at: str
) -> tuple[bytes, dict[str, Any]]:
    """(partition key, CustomEvent record); ``created_at`` is ``iso_utc`` of the request's time. The key is
    the first identifier in the store's order, so every event of one identifier stays in one partition, in
    order."""
    customer = event.customer
    event_id = custom_event_id(store.code, event.eventId) if event.eventId else str(uuid.uuid4())
    record = {
        "storeCode": store.code,
        "type": event.type,
        "eventDate": event.eventDate,
        "customerData": customer,
        "body": orjson.dumps(event.body).decode(),
        "eventId": event.eventId,
        "customEventId": event_id,
        "createdAt": created_at,
        "controlOffsets": control_offsets,
    }
    kind, value = identifiers_of(customer, store.identifier_order)[0]
    return identifier_key(store.code, kind, value), record
