"""GET /api/{storeCode}/customEvent and GET /api/{storeCode}/customEvent/{customEvent}: accepted events with
what became of them (docs/domain.md §0), from the outcomes read model (``ingest_api.views``).

An event appears once the processor has decided it (counted, no_effect, parked, unmatched or
dead_lettered): a moment after POST /customEvent answered, longer if the processor lags. It stays
listed as long as the outcomes topic keeps it (``LOYALTY_CUSTOM_EVENTS_RETENTION_HOURS``).
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from ingest_api.bodies import CustomEventList, CustomEventOut
from ingest_api.deps import PathId, Runtime, RuntimeDep, StoreDep
from ingest_api.errors import NotFound
from ingest_api.listing import CUSTOMER_DATA_FIELDS, field, parse_list_query
from ingest_api.responses import ERRORS, NOT_FOUND
from ingest_api.views import event_view
from loyalty_stream.config.settings import Store

router = APIRouter(tags=["Custom Event"])

LIST = "/api/{storeCode}/customEvent"
ITEM = "/api/{storeCode}/customEvent/{customEvent}"
FIELDS = {
    "customEventId": field("customEventId", "id"),
    "customerId": field("customerId", "id"),
    "type": field("type"),
    "eventName": field("eventName"),
    "eventId": field("eventId"),
    **CUSTOMER_DATA_FIELDS,
    "createdAt": field("createdAt", "datetime"),
    "eventDate": field("eventDate", "datetime"),
    "outcome": field("outcome"),
    "reason": field("reason"),
}


def _renderer(runtime: Runtime, store: Store) -> Any:
    def render(record: dict[str, Any]) -> dict[str, Any]:
        schema = runtime.control.schemas.get((store.code, record["type"]))
        return event_view(record, store, schema["name"] if schema else None)

    return render


@router.get(LIST, response_model=CustomEventList, responses=ERRORS)
async def list_custom_events(request: Request, store: StoreDep, runtime: RuntimeDep) -> JSONResponse:
    """Filters as Open Loyalty's (``type``, ``customerId``, ``eventId``, ``customerData:email``, …) plus
    ``outcome`` and ``reason``; sorted by ``createdAt`` (``_orderBy[createdAt]=desc`` for newest first)."""
    query = parse_list_query(request.query_params, FIELDS, tz=store.tz, sortable=("createdAt",), scroll=True)
    runtime.views.require_loaded()
    outcomes = runtime.views.outcomes
    body = await asyncio.to_thread(outcomes.query, store.code, query, _renderer(runtime, store))
    return JSONResponse(body)


@router.get(ITEM, response_model=CustomEventOut, responses={**ERRORS, **NOT_FOUND})
async def get_custom_event(customEvent: PathId, store: StoreDep, runtime: RuntimeDep) -> JSONResponse:
    runtime.views.require_loaded()
    record = runtime.views.outcomes.get(store.code, customEvent.strip().lower())
    if record is None:
        raise NotFound()
    return JSONResponse(_renderer(runtime, store)(record))
