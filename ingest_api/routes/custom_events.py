"""POST /api/{storeCode}/customEvent: validate, stamp, write, answer after the broker's ack.

The requests that succeed usually arrive through ``ingest_api/fast_path.py``, which calls the same two
pieces (``intake.event_problems``, ``write_event``) without FastAPI's machinery; this route answers
everything else (and documents the path).
"""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter

from ingest_api.deps import Runtime, RuntimeDep, StoreDep
from ingest_api.errors import BadRequest
from ingest_api.intake import event_problems, event_record
from ingest_api.metrics import EVENTS_ACCEPTED
from ingest_api.models import CustomEventCreated, CustomEventRequest, EventIn
from ingest_api.responses import ERRORS
from loyalty_stream.config.settings import Store
from loyalty_stream.domain.clock import iso_utc

router = APIRouter(tags=["Custom Event"])
PATH = "/api/{storeCode}/customEvent"


async def write_event(runtime: Runtime, store: Store, event: EventIn, now: datetime) -> str:
    """Stamp and write a valid event; its customEventId once the broker acknowledged it (else a 503 error)."""
    key, record = event_record(store, event, runtime.control_offsets(), iso_utc(now))
    value = runtime.serde.encode_for(runtime.topics.custom_events, record)
    await runtime.producer.send(runtime.topics.custom_events.name, value, key=key)
    EVENTS_ACCEPTED.labels(store.code).inc()
    custom_event_id: str = record["customEventId"]
    return custom_event_id


@router.post(PATH, response_model=CustomEventCreated, responses=ERRORS)
async def post_custom_event(body: CustomEventRequest, store: StoreDep, runtime: RuntimeDep) -> CustomEventCreated:
    now = datetime.now(UTC)
    problems = event_problems(store, body.event, runtime.control, now)
    if problems:
        raise BadRequest(problems)
    return CustomEventCreated(customEventId=await write_event(runtime, store, body.event, now))
