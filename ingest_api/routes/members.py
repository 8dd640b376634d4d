"""Members: POST /api/{storeCode}/member."""

from __future__ import annotations

import uuid

import orjson
from fastapi import APIRouter

from ingest_api.deps import RuntimeDep, StoreDep
from ingest_api.errors import BadRequest, FieldProblem
from ingest_api.models import MemberCreated, MemberRequest
from ingest_api.responses import ERRORS
from loyalty_stream.clock import iso_utc
from loyalty_stream.keys import join_key

router = APIRouter(tags=["Member"])

_COLUMNS = ("email", "phone", "loyaltyCardNumber", "firstName", "lastName")


@router.post("/api/{storeCode}/member", response_model=MemberCreated, responses=ERRORS)
async def post_member(body: MemberRequest, store: StoreDep, runtime: RuntimeDep) -> MemberCreated:
    customer = body.customer.model_dump(exclude_none=True)
    customer_id = str(uuid.uuid4())
    taken = runtime.members.index.conflicts(store.code, customer_id, customer)
    if taken:
        raise BadRequest(
            [FieldProblem(f"customer.{kind}", "This value is already used.", "already_used") for kind in taken]
        )
    now = iso_utc()
    record = {
        "storeCode": store.code,
        "customerId": customer_id,
        **{k: customer.get(k) for k in _COLUMNS},
        "active": True,
        "registeredAt": customer.get("registeredAt") or now,
        "updatedAt": now,
        "attributes": orjson.dumps({k: v for k, v in customer.items() if k not in _COLUMNS}).decode(),
    }
    await runtime.producer.send(
        runtime.topics.members.name, runtime.serde.encode("Member", record), key=join_key(store.code, customer_id)
    )
    return MemberCreated(customerId=customer_id, email=customer.get("email"))
