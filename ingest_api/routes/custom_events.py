"""POST /api/{storeCode}/customEvent: validate, stamp, write, answer after the broker's ack."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter

from ingest_api.deps import RuntimeDep, StoreDep
from ingest_api.errors import BadRequest
from ingest_api.intake import event_problems, event_record
from ingest_api.metrics import EVENTS_ACCEPTED
from ingest_api.models import CustomEventCreated, CustomEventRequest
from ingest_api.responses import ERRORS

router = APIRouter(tags=["Custom Event"])


@router.post("/api/{storeCode}/customEvent", response_model=CustomEventCreated, responses=ERRORS)
async def post_custom_event(body: CustomEventRequest, store: StoreDep, runtime: RuntimeDep) -> CustomEventCreated:
    now = datetime.now(UTC)
    problems = event_problems(store, body.event, runtime.control, now)
    if problems:
        raise BadRequest(problems)
    key, record = event_record(store, body.event, runtime.control_offsets(), now)
    value = runtime.serde.encode_for(runtime.topics.custom_events, record)
    await runtime.producer.send(runtime.topics.custom_events.name, value, key=key)
    EVENTS_ACCEPTED.labels(store.code).inc()
    return CustomEventCreated(customEventId=record["customEventId"])
