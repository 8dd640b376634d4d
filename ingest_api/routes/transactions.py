"""POST /api/{storeCode}/transaction, GET /api/{storeCode}/transaction and GET …/transaction/{transaction}:
Open Loyalty's transactions as a trigger of achievements.

POST takes Open Loyalty's ``PostTransaction`` body unchanged, checks it with the one validation the processor
applies too (``loyalty_stream/domain/transactions.py``), writes a ``Transaction`` record to the input topic and
answers ``{transactionId}`` once the broker acknowledged it. The transactionId is the UUIDv5 of the store and
``header.documentNumber``: the same document again is the same transaction, counted once. The lists read the
outcomes read model, where a transaction appears once the processor has decided it (docs/api.md).
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from ingest_api.bodies import (
    TransactionAssigned,
    TransactionAssignIn,
    TransactionAssignRequest,
    TransactionCreated,
    TransactionList,
    TransactionOut,
    TransactionRequest,
)
from ingest_api.deps import PathId, Runtime, RuntimeDep, StoreDep
from ingest_api.errors import BadRequest, NotFound, bad_request
from ingest_api.listing import CUSTOMER_DATA_FIELDS, field, parse_list_query
from ingest_api.outcome_store import transactions_space
from ingest_api.responses import ERRORS, NOT_FOUND
from ingest_api.routes.batch import model_body
from ingest_api.strict import field_problems, rfc3339
from loyalty_stream.config.settings import Store
from loyalty_stream.domain.clock import iso_utc
from loyalty_stream.domain.identity import identifiers_of
from loyalty_stream.domain.ids import transaction_id
from loyalty_stream.domain.transactions import customer_identifiers, transaction_problems
from loyalty_stream.kafka.keys import identifier_key, join_key

router = APIRouter(tags=["Transactions"])
LIST = "/api/{storeCode}/transaction"
ITEM = "/api/{storeCode}/transaction/{transaction}"
FIELDS = {
    "transactionId": field("transactionId", "id"),
    "customerId": field("customerId", "id"),
    "matched": field("matched", "bool"),
    "channelId": field("channelId", "id"),
    "header:documentNumber": field("header:documentNumber"),
    "header:documentType": field("header:documentType"),
    "header:linkedDocumentNumber": field("header:linkedDocumentNumber"),
    "header:purchasePlace": field("header:purchasePlace"),
    "header:purchasedAt": field("header:purchasedAt", "datetime"),
    **CUSTOMER_DATA_FIELDS,
    "createdAt": field("createdAt", "datetime"),
    "outcome": field("outcome"),
    "reason": field("reason"),
}


def _transaction_of(raw: bytes) -> Any:
    """The ``transaction`` object of a strict-JSON body ``{"transaction": {...}}``; 400 otherwise."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise bad_request("body", "The request body is not valid JSON.", "invalid_json") from None
    if not isinstance(data, dict) or "transaction" not in data:
        raise bad_request("transaction", "This value should not be blank.", "required")
    extra = [key for key in data if key != "transaction"]
    if extra:
        raise bad_request(extra[0], "This field was not expected.", "extra_field")
    return data["transaction"]


def transaction_record(
    store: Store, transaction: dict[str, Any], control_offsets: dict[str, int], created_at: str
) -> tuple[bytes, dict[str, Any]]:
    """(partition key, Transaction record): keyed like a custom event by its member's first identifier, so a
    member's transactions and events stay in one partition in order; without one, by its document."""
    tid = transaction_id(store.code, transaction["header"]["documentNumber"])
    record = {
        "storeCode": store.code,
        "transaction": orjson.dumps(transaction).decode(),
        "transactionId": tid,
        "createdAt": created_at,
        "controlOffsets": control_offsets,
    }
    identifiers = identifiers_of(customer_identifiers(transaction), store.identifier_order)
    if identifiers:
        kind, value = identifiers[0]
        return identifier_key(store.code, kind, value), record
    return join_key(store.code, f"transaction/{tid}"), record


@router.post(
    LIST,
    response_model=TransactionCreated,
    responses=ERRORS,
    openapi_extra=model_body(TransactionRequest),
)
async def post_transaction(request: Request, store: StoreDep, runtime: RuntimeDep) -> TransactionCreated:
    """Register a transaction; its rules count it once the processor has matched it to a member (by
    ``customerData``; a transaction naming nobody stays unmatched, a member unknown yet is waited for as
    custom events are)."""
    transaction = _transaction_of(await request.body())
    now = datetime.now(UTC)
    _facts, _moment, problems = transaction_problems(transaction, store.tz, now)
    if problems:
        raise BadRequest(field_problems(problems, "transaction"))
    key, record = transaction_record(store, transaction, runtime.control_offsets(), iso_utc(now))
    value = runtime.serde.encode_for(runtime.topics.custom_events, record, "Transaction")
    await runtime.producer.send(runtime.topics.custom_events.name, value, key=key)
    return TransactionCreated(transactionId=record["transactionId"])


ASSIGN = "/api/{storeCode}/transaction/assign"
_HEADER = ("documentNumber", "documentType", "linkedDocumentNumber", "purchasedAt", "purchasePlace", "labels")
# Assignments written and not yet decided by the processor (one API process: docs/decisions.md).
_assigning: dict[tuple[str, str], float] = {}
ASSIGN_PENDING_SECONDS = 300.0


def _mark_assigning(key: tuple[str, str], now: float) -> None:
    """Note an assignment written at ``now``, dropping those older than ASSIGN_PENDING_SECONDS: the processor
    decided them long ago, so they refuse nothing any more, and kept they would grow without end. The dict is
    in the order of ``now`` (an entry written again moves to the end), so the expired ones are at its front."""
    while _assigning:
        oldest, at = next(iter(_assigning.items()))
        if now - at < ASSIGN_PENDING_SECONDS:
            break
        del _assigning[oldest]
    _assigning.pop(key, None)
    _assigning[key] = now


def _given(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


def _stored_transaction(facts: dict[str, Any], customer_id: str) -> dict[str, Any]:
    """The PostTransaction object of a recorded transaction, now naming its member."""
    transaction: dict[str, Any] = {
        "header": {k: facts[k] for k in _HEADER if facts.get(k) is not None},
        "items": [_given(item) for item in facts.get("items") or []],
        "customerData": {"customerId": customer_id},
    }
    if facts.get("channelId"):
        transaction["channelId"] = facts["channelId"]
    return transaction


# The assign form's fields, by the identifier each names.
_ASSIGNEE_FIELDS = {"customerId": "customerId", "loyaltyCardNumber": "customerLoyaltyCardNumber",
                    "phone": "customerPhoneNumber"}  # fmt: skip


def _assignee(runtime: Runtime, store: Store, assign: TransactionAssignIn) -> str:
    named = {kind: value for kind, name in _ASSIGNEE_FIELDS.items() if (value := getattr(assign, name))}
    if not named:
        raise bad_request("assign.customerId", "One of customerId, customerLoyaltyCardNumber or customerPhoneNumber "
                          "is required.", "required")  # fmt: skip
    resolution = runtime.members.index.resolve(store.code, named)
    if resolution.ambiguous or resolution.customer_id is None:
        message = "The identifiers name different members." if resolution.ambiguous else "No member matches."
        raise bad_request(f"assign.{_ASSIGNEE_FIELDS[next(iter(named))]}", message, "member_not_found")
    return resolution.customer_id


@router.post(ASSIGN, response_model=TransactionAssigned, responses=ERRORS)
async def assign_transaction(
    body: TransactionAssignRequest, store: StoreDep, runtime: RuntimeDep
) -> TransactionAssigned:
    """Match an unmatched transaction (no ``customerData``, or its member never registered in time) with a member;
    its rules then count it for that member. A transaction already matched, or still waiting for the member its
    ``customerData`` names, is refused (400)."""
    runtime.views.require_loaded()
    assign = body.assign
    tid = transaction_id(store.code, assign.transactionDocumentNumber)
    record = runtime.views.outcomes.get(transactions_space(store.code), tid)
    path = "assign.transactionDocumentNumber"
    if record is None:
        raise bad_request(path, "No transaction has this document number.", "not_found")
    pending = _assigning.get((store.code, tid))
    if record.get("customerId") or (pending is not None and time.monotonic() - pending < ASSIGN_PENDING_SECONDS):
        raise bad_request(path, "The transaction is already assigned to a member.", "already_assigned")
    if record["status"] == "parked":
        raise bad_request(path, "The transaction waits for the member its customerData names.", "parked")
    customer_id = _assignee(runtime, store, assign)
    transaction = _stored_transaction(orjson.loads(record.get("body") or "{}"), customer_id)
    key, written = transaction_record(store, transaction, runtime.control_offsets(), iso_utc())
    _mark_assigning((store.code, tid), time.monotonic())
    try:
        value = runtime.serde.encode_for(runtime.topics.custom_events, written, "Transaction")
        await runtime.producer.send(runtime.topics.custom_events.name, value, key=key)
    except BaseException:
        _assigning.pop((store.code, tid), None)
        raise
    return TransactionAssigned(transactionId=tid, customerId=customer_id)


def transaction_view(record: dict[str, Any], store: Store) -> dict[str, Any]:
    """An outcome of a transaction as the contract's Transaction, plus ``outcome``, ``reason``, ``reasons`` and
    ``changedAchievements``; ``header.purchasedAt`` in store time with its offset."""
    facts = orjson.loads(record.get("body") or "{}")
    # purchasedAt from the record's eventDate, rendered in store time (the facts keep it as it was sent)
    header = {k: facts[k] for k in _HEADER if k != "purchasedAt" and facts.get(k) is not None}
    purchased = rfc3339(record.get("eventDate"), store.tz)
    if purchased is not None:
        header["purchasedAt"] = purchased
    item: dict[str, Any] = {
        "transactionId": record["customEventId"],
        "matched": bool(record.get("customerId")),
        "grossValue": facts.get("grossValue", 0),
        "header": header,
        "items": [_given(i) for i in facts.get("items") or []],
        "customerData": _given(record.get("customerData") or {}),
        "outcome": record["status"],
        "reason": record.get("reason"),
        "reasons": dict(record.get("reasons") or {}),
        "changedAchievements": list(record.get("changedAchievements") or []),
    }
    item.update(_given({"customerId": record.get("customerId"), "channelId": facts.get("channelId"),
                        "createdAt": record.get("createdAt")}))  # fmt: skip
    return item


@router.get(LIST, response_model=TransactionList, responses=ERRORS)
async def list_transactions(request: Request, store: StoreDep, runtime: RuntimeDep) -> JSONResponse:
    """Open Loyalty's filters that fit (``transactionId``, ``customerId``, ``matched``, ``header:documentNumber``,
    ``header:documentType``, ``customerData:email``, …) plus ``outcome`` and ``reason``; sorted by
    ``createdAt``."""
    query = parse_list_query(request.query_params, FIELDS, tz=store.tz, sortable=("createdAt",), scroll=True)
    runtime.views.require_loaded()
    document = query.eq("header:documentNumber")
    direct = query.eq("transactionId") or (document and transaction_id(store.code, document))
    body = await asyncio.to_thread(
        runtime.views.outcomes.query,
        transactions_space(store.code),
        query,
        lambda record: transaction_view(record, store),
        direct,
    )
    if isinstance(body.get("scroll"), dict):
        body["scroll"] = body["scroll"].get("next")  # the contract's scroll is the cursor itself
    return JSONResponse(body)


@router.get(ITEM, response_model=TransactionOut, responses={**ERRORS, **NOT_FOUND})
async def get_transaction(transaction: PathId, store: StoreDep, runtime: RuntimeDep) -> JSONResponse:
    runtime.views.require_loaded()
    record = runtime.views.outcomes.get(transactions_space(store.code), transaction.strip().lower())
    if record is None:
        raise NotFound()
    return JSONResponse(transaction_view(record, store))
