"""Members: POST /member (and /member/batch), PUT and DELETE /member/{member}, answered once the processor
claimed the change.

The API sends a MemberCommand and waits for the processor's reply (``ingest_api.claims``): a 200 means the
identifiers are the member's, so two concurrent registrations of one email give one 200 and one 400.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import orjson
from fastapi import APIRouter, Request, Response
from pydantic import ValidationError

from ingest_api.bodies import MemberBatchRequest, MemberBatchResponse
from ingest_api.deps import MemberRef, RuntimeDep, StoreDep
from ingest_api.errors import BadRequest, BrokerUnavailable, FieldProblem, NotFound
from ingest_api.member_ref import find_member
from ingest_api.models import CustomerIn, MemberCreated, MemberRequest, MemberUpdated, MemberUpdateRequest
from ingest_api.responses import ERRORS, NOT_FOUND
from ingest_api.routes.batch import (
    batch_answer,
    inlined_body_schema,
    json_body,
    model_problems,
    parse_batch,
    unavailable,
)
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


MAX_BATCH_MEMBERS = 1000
BATCH_PATH = "/api/{storeCode}/member/batch"


def _item_path(prefix: str, path: str) -> str:
    # POST /member's paths start at its body's "customer"; a batch item's start at members[i].
    if path == "customer" or path.startswith("customer."):
        return prefix + path.removeprefix("customer")
    return f"{prefix}.{path}"


def _item_errors(prefix: str, problems: list[FieldProblem]) -> dict[str, Any]:
    return {"errors": [FieldProblem(_item_path(prefix, p.path), p.message, p.code).body() for p in problems]}


@router.post(
    BATCH_PATH,
    response_model=MemberBatchResponse,
    responses=ERRORS,
    openapi_extra=json_body(inlined_body_schema(MemberBatchRequest, "members", CustomerIn, MAX_BATCH_MEMBERS)),
)
async def post_member_batch(request: Request, store: StoreDep, runtime: RuntimeDep) -> Response:
    """Ours, not Open Loyalty's: up to 1,000 registrations in one request (an import from an upstream system),
    each one exactly POST /member (claimed by the processor before it is answered; a repeated identifier,
    also within the batch, is refused at its item), answered together in request order."""
    members = parse_batch(await request.body(), MemberBatchRequest, "members", MAX_BATCH_MEMBERS)
    results: list[dict[str, Any]] = [{} for _ in members]
    claims: dict[int, Any] = {}
    for index, raw in enumerate(members):
        prefix = f"members[{index}]"
        try:
            customer = _checked(CustomerIn.model_validate(raw).model_dump(exclude_none=True), store)
        except ValidationError as exc:
            results[index] = {"errors": [p.body() for p in model_problems(prefix, exc)]}
            continue
        except BadRequest as exc:
            results[index] = _item_errors(prefix, exc.problems)
            continue
        customer_id = str(uuid.uuid4())
        record = member_record(store.code, customer_id, customer, None)
        results[index] = {"customerId": customer_id, "email": customer.get("email")}
        # Started in request order: the claims agent decides them in that order.
        claims[index] = asyncio.ensure_future(runtime.member_commands.send("register", store.code, customer_id, record))
    retry_after: int | None = None
    replies = await asyncio.gather(*claims.values(), return_exceptions=True)
    for index, reply in zip(claims, replies, strict=True):
        if isinstance(reply, BrokerUnavailable):
            results[index], wait = unavailable(f"members[{index}]", reply)
            retry_after = max(retry_after or 0, wait)
        elif isinstance(reply, BaseException):
            raise reply
        elif not reply["accepted"]:
            results[index] = _item_errors(f"members[{index}]", _problems(reply).problems)
        elif results[index]["email"] is None:
            del results[index]["email"]
    return batch_answer(results, retry_after)


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
