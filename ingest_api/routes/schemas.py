"""Custom event schemas: POST/GET /api/{storeCode}/customEvent/schema, GET/PUT …/schema/{customEventSchema},
POST …/schema/{eventType}/active.

Schemas live on the one-partition compacted schemas topic keyed ``storeCode:eventType``; ``eventType`` is
immutable (it is the key). Every write is read back into this instance's copy before the answer, so the
next event this API accepts is validated against it.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from ingest_api.bodies import CustomEventSchemaList, CustomEventSchemaOut, CustomEventSchemaUpdateRequest
from ingest_api.bodies import SchemaActivationRequest as ActivationRequest
from ingest_api.deps import PathId, Runtime, RuntimeDep, StoreDep
from ingest_api.errors import NotFound, bad_request
from ingest_api.listing import field, page_of, parse_list_query
from ingest_api.models import CustomEventSchemaRequest, SchemaField
from ingest_api.responses import ERRORS, NOT_FOUND
from loyalty_stream.config.settings import Store
from loyalty_stream.domain.clock import iso_utc
from loyalty_stream.domain.events import TRANSACTION_TYPE
from loyalty_stream.kafka.keys import join_key

router = APIRouter(tags=["Custom Event"])

LIST = "/api/{storeCode}/customEvent/schema"
ITEM = "/api/{storeCode}/customEvent/schema/{customEventSchema}"
ACTIVE = "/api/{storeCode}/customEvent/schema/{eventType}/active"
NO_CONTENT = {204: {"description": "Success. No content."}}
LIST_FIELDS = {
    "eventType": field("eventType"),
    "name": field("name"),
    "active": field("active", "bool"),
    "createdAt": field("createdAt", "datetime"),
}


def schema_view(record: dict[str, Any]) -> dict[str, Any]:
    """The contract's CustomEventSchema."""
    view = {
        "eventType": record["eventType"],
        "name": record["name"],
        "schema": {"fields": [dict(f) for f in record.get("fields", [])]},
        "active": bool(record.get("active", True)),
    }
    if record.get("createdAt"):
        view["createdAt"] = record["createdAt"]
    return view


def _unique_fields(fields: list[SchemaField]) -> None:
    names = [f.name for f in fields]
    if len(names) != len(set(names)):
        raise bad_request("customEventSchema.schema.fields", "Field names must be unique.", "duplicate")


def _stored(runtime: Runtime, store: Store, event_type: str) -> dict[str, Any]:
    record = runtime.control.schemas.get((store.code, event_type))
    if record is None:
        raise NotFound()
    return record


async def _write(runtime: Runtime, store: Store, record: dict[str, Any]) -> None:
    topic = runtime.topics.schemas.name
    _partition, offset = await runtime.producer.send(
        topic, runtime.serde.encode_for(runtime.topics.schemas, record), key=join_key(store.code, record["eventType"])
    )
    await runtime.await_own_write(topic, offset)


@router.post(LIST, status_code=204, response_class=Response, responses={**NO_CONTENT, **ERRORS})
async def post_schema(body: CustomEventSchemaRequest, store: StoreDep, runtime: RuntimeDep) -> Response:
    schema = body.customEventSchema
    if (store.code, schema.eventType) in runtime.control.schemas:
        raise bad_request("customEventSchema.eventType", "This event type already exists.", "duplicate")
    if schema.eventType == TRANSACTION_TYPE:  # transactions travel as events of this type (docs/decisions.md)
        raise bad_request("customEventSchema.eventType", "This event type is reserved for transactions.", "reserved")
    _unique_fields(schema.schema_.fields)
    now = iso_utc()
    record = {
        "storeCode": store.code,
        "eventType": schema.eventType,
        "name": schema.name,
        "fields": [f.model_dump() for f in schema.schema_.fields],
        "active": schema.active.isActive if schema.active else True,
        "createdAt": now,
        "updatedAt": now,
    }
    await _write(runtime, store, record)
    return Response(status_code=204)


@router.get(LIST, response_model=CustomEventSchemaList, responses=ERRORS)
async def list_schemas(request: Request, store: StoreDep, runtime: RuntimeDep) -> JSONResponse:
    query = parse_list_query(request.query_params, LIST_FIELDS, tz=store.tz, sortable=tuple(LIST_FIELDS))
    items = [schema_view(r) for r in runtime.control.store_items(runtime.control.schemas, store.code)]
    return JSONResponse(page_of(items, query.ordered_by("createdAt"), LIST_FIELDS, id_of=lambda i: i["eventType"]))


@router.get(ITEM, response_model=CustomEventSchemaOut, responses={**ERRORS, **NOT_FOUND})
async def get_schema(customEventSchema: PathId, store: StoreDep, runtime: RuntimeDep) -> JSONResponse:
    return JSONResponse(schema_view(_stored(runtime, store, customEventSchema)))


@router.put(ITEM, status_code=204, response_class=Response, responses={**NO_CONTENT, **ERRORS, **NOT_FOUND})
async def put_schema(
    customEventSchema: PathId, body: CustomEventSchemaUpdateRequest, store: StoreDep, runtime: RuntimeDep
) -> Response:
    """Name, fields and active change; eventType cannot (a different one in the body → 400)."""
    current = _stored(runtime, store, customEventSchema)
    update = body.customEventSchema
    if update.eventType is not None and update.eventType != customEventSchema:
        raise bad_request("customEventSchema.eventType", "The event type cannot be changed.", "immutable")
    _unique_fields(update.schema_.fields)
    record = {
        **current,
        "name": update.name,
        "fields": [f.model_dump() for f in update.schema_.fields],
        "active": update.active.isActive if update.active else current.get("active", True),
        "updatedAt": iso_utc(),
    }
    await _write(runtime, store, record)
    return Response(status_code=204)


@router.post(ACTIVE, status_code=204, response_class=Response, responses={**NO_CONTENT, **ERRORS, **NOT_FOUND})
async def activate_schema(eventType: PathId, body: ActivationRequest, store: StoreDep, runtime: RuntimeDep) -> Response:
    """Activate or deactivate: events of an inactive type are refused (400 / dead letter)."""
    current = _stored(runtime, store, eventType)
    await _write(runtime, store, {**current, "active": body.active, "updatedAt": iso_utc()})
    return Response(status_code=204)
