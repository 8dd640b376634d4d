"""Custom event schemas: POST /api/{storeCode}/customEvent/schema."""

from __future__ import annotations

from fastapi import APIRouter, Response

from ingest_api.deps import RuntimeDep, StoreDep
from ingest_api.errors import bad_request
from ingest_api.models import CustomEventSchemaRequest
from ingest_api.responses import ERRORS
from loyalty_stream.clock import iso_utc
from loyalty_stream.keys import join_key

router = APIRouter(tags=["Custom Event"])


@router.post(
    "/api/{storeCode}/customEvent/schema",
    status_code=204,
    response_class=Response,
    responses={204: {"description": "Success. No content."}, **ERRORS},
)
async def post_schema(body: CustomEventSchemaRequest, store: StoreDep, runtime: RuntimeDep) -> Response:
    schema = body.customEventSchema
    if (store.code, schema.eventType) in runtime.control.schemas:
        raise bad_request("customEventSchema.eventType", "This event type already exists.", "duplicate")
    names = [f.name for f in schema.schema_.fields]
    if len(names) != len(set(names)):
        raise bad_request("customEventSchema.schema.fields", "Field names must be unique.", "duplicate")
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
    topic = runtime.topics.schemas.name
    _partition, offset = await runtime.producer.send(
        topic, runtime.serde.encode("CustomEventSchema", record), key=join_key(store.code, schema.eventType)
    )
    await runtime.await_own_write(topic, offset)
    return Response(status_code=204)
