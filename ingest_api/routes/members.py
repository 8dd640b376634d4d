"""Members: POST /member, PUT and DELETE /member/{member}, answered once the processor claimed the change.

The API sends a MemberCommand and waits for the processor's reply (``ingest_api.claims``): a 200 means the
identifiers are the member's, so two concurrent registrations of one email give one 200 and one 400.
"""

from __future__ import annotations

import uuid
from typing import Any

import orjson
from fastapi import APIRouter, Response

from ingest_api.deps import MemberRef, RuntimeDep, StoreDep
from ingest_api.errors import BadRequest, FieldProblem, NotFound
from ingest_api.member_ref import find_member
from ingest_api.models import MemberCreated, MemberRequest, MemberUpdated, MemberUpdateRequest
from ingest_api.responses import ERRORS, NOT_FOUND
from ingest_api.strict import json_problems, rfc3339
from loyalty_stream.config.settings import Store
from loyalty_stream.domain.clock import iso_utc

router = APIRouter(tags=["Member"])

COLUMNS = ("email", "phone", "loyaltyCardNumber", "firstName", "lastName")


FIELDS = (*COLUMNS, "active", "registeredAt")


def member_record(
    store: str, customer_id: str, customer: dict[str, Any], base: dict[str, Any] | None
) -> dict[str, Any]:
    """The Member record: ``customer`` over ``base``; fields we have no column for go under ``attributes``."""
    base = base or {}
    now = iso_utc()
    attributes = orjson.loads(base.get("attributes") or "{}")
    attributes.update({k: v for k, v in customer.items() if k not in FIELDS})
    merged = {k: customer[k] if k in customer else base.get(k) for k in FIELDS}
    return {
        **merged,
        "storeCode": store,
        "customerId": customer_id,
        "active": merged["active"] is not False,
        "registeredAt": merged["registeredAt"] or now,
        "updatedAt": now,
        "version": base.get("version", 0),
        "attributes": orjson.dumps(attributes).decode(),
    }


def _checked(customer: dict[str, Any], store: Store) -> dict[str, Any]:
    """The customer's fields, extra ones included, within the limits of ``ingest_api.strict``; registeredAt
    as an RFC 3339 date-time (no offset = store time)."""
    problems = json_problems(customer, "customer")
    if customer.get("registeredAt") is not None:
        registered = rfc3339(customer["registeredAt"], store.tz)
        if registered is None:
            problems.append(FieldProblem("customer.registeredAt", "This value is not a valid datetime.", "invalid"))
        customer["registeredAt"] = registered
    if problems:
        raise BadRequest(problems)
    return customer


def _problems(reply: dict[str, Any]) -> BadRequest:
    return BadRequest([FieldProblem(e["path"], e["message"], e.get("code", "invalid")) for e in reply["errors"]])


@router.post(
    "/api/{storeCode}/member", response_model=MemberCreated, response_model_exclude_none=True, responses=ERRORS
)
async def post_member(body: MemberRequest, store: StoreDep, runtime: RuntimeDep) -> MemberCreated:
    customer = _checked(body.customer.model_dump(exclude_none=True), store)
    customer_id = str(uuid.uuid4())
    record = member_record(store.code, customer_id, customer, None)
    reply = await runtime.member_commands.send("register", store.code, customer_id, record)
    if not reply["accepted"]:
        raise _problems(reply)
    return MemberCreated(customerId=customer_id, email=customer.get("email"))


@router.put("/api/{storeCode}/member/{member}", response_model=MemberUpdated, responses={**ERRORS, **NOT_FOUND})
async def put_member(
    member: MemberRef, body: MemberUpdateRequest, store: StoreDep, runtime: RuntimeDep
) -> MemberUpdated:
    existing = find_member(runtime.members.index, store.code, member)
    customer = _checked(body.customer.model_dump(exclude_unset=True), store)
    record = member_record(store.code, existing["customerId"], customer, existing)
    reply = await runtime.member_commands.send("update", store.code, existing["customerId"], record)
    if not reply["accepted"]:
        if any(e.get("code") == "not_found" for e in reply["errors"]):
            raise NotFound()
        raise _problems(reply)
    return MemberUpdated(customerId=existing["customerId"])


@router.delete(
    "/api/{storeCode}/member/{member}",
    status_code=204,
    response_class=Response,
    responses={204: {"description": "Deleted."}, **ERRORS, **NOT_FOUND},
)
async def delete_member(member: MemberRef, store: StoreDep, runtime: RuntimeDep) -> Response:
    existing = find_member(runtime.members.index, store.code, member)
    await runtime.member_commands.send("delete", store.code, existing["customerId"], None)
    return Response(status_code=204)
