"""POST /api/{storeCode}/customEvent/batch: many events in one request, each treated like POST /customEvent.

Ours, not Open Loyalty's. The body ``{"events": [event, …]}`` holds 1..``LOYALTY_API_BATCH_MAX_EVENTS``
events of the single endpoint's ``event`` shape and at most ``LOYALTY_API_BATCH_MAX_BYTES`` bytes (more:
413, checked by ``ingest_api.body_guard`` on Content-Length and while the body streams in). Every event
is validated on its own; the valid ones are all produced at once and their acknowledgements awaited
together. The answer is 200 whenever the request itself is well-formed, with one result per event in
request order: ``{"customEventId"}`` once the broker acknowledged it, or ``{"errors": [...]}`` in Open
Loyalty's error-item shape with paths from the request root (``events[3].body.minutes``). An event whose
write was not acknowledged gets one error with code ``"503"``: retry it (with its ``eventId`` that is
always safe), and the answer carries ``Retry-After``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, TypeVar

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, ValidationError

from ingest_api.bodies import CustomEventBatchRequest, CustomEventBatchResponse
from ingest_api.deps import Runtime, RuntimeDep, StoreDep
from ingest_api.errors import BadRequest, BrokerUnavailable, FieldProblem, bad_request
from ingest_api.intake import event_problems, event_record
from ingest_api.models import EventIn
from ingest_api.responses import ERRORS
from loyalty_stream.config.settings import Store
from loyalty_stream.domain.clock import iso_utc

router = APIRouter(tags=["Custom Event"])
PATH = "/api/{storeCode}/customEvent/batch"
_Batch = TypeVar("_Batch", bound=BaseModel)


def inline_refs(schema: Any, defs: dict[str, Any]) -> Any:
    """A JSON schema with its local ``$defs`` references inlined (for ``openapi_extra``, which has no $defs)."""
    if isinstance(schema, dict):
        ref = schema.get("$ref", "")
        if ref.startswith("#/$defs/"):
            return inline_refs(defs[ref.removeprefix("#/$defs/")], defs)
        return {k: inline_refs(v, defs) for k, v in schema.items() if k != "$defs"}
    if isinstance(schema, list):
        return [inline_refs(v, defs) for v in schema]
    return schema


def json_body(schema: dict[str, Any]) -> dict[str, Any]:
    """``openapi_extra`` documenting a route that reads its JSON body itself (strictly, with orjson)."""
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


def model_body(model: type[BaseModel]) -> dict[str, Any]:
    """``json_body`` of a model's JSON schema, its ``$defs`` inlined."""
    schema = model.model_json_schema()
    return json_body(inline_refs(schema, schema.get("$defs", {})))


def inlined_body_schema(body: type[BaseModel], field: str, item: type[BaseModel], max_items: int) -> dict[str, Any]:
    """A batch body's JSON schema with its items' schema inlined (``openapi_extra`` has no ``$defs``)."""
    item_schema = item.model_json_schema()
    schema = body.model_json_schema()
    schema["properties"][field]["items"] = inline_refs(item_schema, item_schema.get("$defs", {}))
    schema["properties"][field]["maxItems"] = max_items
    return schema


_BODY_SCHEMA = inlined_body_schema(CustomEventBatchRequest, "events", EventIn, 1000)


def _path(prefix: str, loc: tuple[Any, ...]) -> str:
    out = prefix
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def model_problems(prefix: str, exc: ValidationError) -> list[FieldProblem]:
    return [
        FieldProblem(_path(prefix, tuple(e.get("loc", ()))), str(e.get("msg", "Invalid value.")), str(e.get("type")))
        for e in exc.errors()
    ]


def parse_batch(raw: bytes, model: type[_Batch], field: str, max_items: int) -> list[Any]:
    """The items of a batch body ``{field: [...]}``, parsed strictly with orjson; 400 for a body that is not
    JSON, has no list at ``field``, or holds none or more than ``max_items``."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise bad_request("body", "The request body is not valid JSON.", "invalid_json") from None
    try:
        items: list[Any] = getattr(model.model_validate(data), field)
    except ValidationError as exc:
        problems = model_problems("", exc) if isinstance(data, dict) else [FieldProblem(field, "Field required")]
        raise BadRequest(problems) from None
    if not 1 <= len(items) <= max_items:
        raise bad_request(field, f"A batch holds 1 to {max_items} {field}.", "count")
    return items


def unavailable(index_path: str, exc: BrokerUnavailable) -> tuple[dict[str, Any], int]:
    """A batch item whose write was not acknowledged: its 503 error, and the Retry-After it asks for."""
    return {"errors": [FieldProblem(index_path, exc.message, "503").body()]}, exc.retry_after or 1


def batch_answer(results: list[dict[str, Any]], retry_after: int | None) -> Response:
    """200 with one result per item; rendered by orjson (json.dumps of a thousand results showed in the profile)."""
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    return Response(orjson.dumps({"items": results}), media_type="application/json", headers=headers)


def _validate(store: Store, runtime: Runtime, raw: Any, index: int, now: datetime) -> EventIn | list[FieldProblem]:
    prefix = f"events[{index}]"
    try:
        event = EventIn.model_validate(raw)
    except ValidationError as exc:
        return model_problems(prefix, exc)
    return event_problems(store, event, runtime.control, now, prefix=prefix) or event


@router.post(
    PATH,
    response_model=CustomEventBatchResponse,
    responses=ERRORS,
    openapi_extra=json_body(_BODY_SCHEMA),
)
async def post_batch(request: Request, store: StoreDep, runtime: RuntimeDep) -> Response:
    settings = runtime.settings
    # The body guard has bounded the body to api_batch_max_bytes; it is parsed here, strictly, with orjson.
    events = parse_batch(await request.body(), CustomEventBatchRequest, "events", settings.api_batch_max_events)
    now = datetime.now(UTC)
    offsets, created_at = runtime.control_offsets(), iso_utc(now)
    results: list[dict[str, Any]] = [{} for _ in events]
    written: list[int] = []  # indexes of the valid events, in request order (so one key's events stay in order)
    records: list[tuple[bytes | None, bytes]] = []
    for index, raw in enumerate(events):
        checked = _validate(store, runtime, raw, index, now)
        if isinstance(checked, list):
            results[index] = {"errors": [p.body() for p in checked]}
            continue
        key, record = event_record(store, checked, offsets, created_at)
        records.append((key, runtime.serde.encode_for(runtime.topics.custom_events, record)))
        results[index] = {"customEventId": record["customEventId"]}
        written.append(index)
    retry_after: int | None = None
    outcomes = await runtime.producer.send_all(runtime.topics.custom_events.name, records)
    for index, outcome in zip(written, outcomes, strict=True):
        if isinstance(outcome, Exception):
            if not isinstance(outcome, BrokerUnavailable):
                raise outcome
            results[index], wait = unavailable(f"events[{index}]", outcome)
            retry_after = max(retry_after or 0, wait)
    return batch_answer(results, retry_after)
