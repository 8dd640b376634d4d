"""Webhook operations beyond Open Loyalty's contract (ours; listed in our OpenAPI, never in theirs).

- ``POST …/subscription/{id}/secret``: a new signing secret, returned once; the old one keeps signing
  alongside it for ``webhook_secret_grace_hours``;
- ``POST …/subscription/{id}/enable``: re-enable a subscription the sender disabled after a 410;
- ``POST …/subscription/{id}/test``: send a ``WebhookTest`` message to this subscription now;
- ``GET …/subscription/{id}/attempts``: its delivery-attempt log, newest first;
- ``GET …/webhook/deadLetter``: the store's dead letters, newest first;
- ``POST …/webhook/deadLetter/{messageId}/resend`` and ``POST …/webhook/deadLetter/resend`` (a partition
  and offset range): put dead letters back on the webhooks topic, each for its own subscription as it
  is now, with its attempts starting again.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, FastAPI, Query, Request, Response

from ingest_api.deps import Runtime, RuntimeDep, StoreDep
from ingest_api.errors import NotFound, bad_request
from ingest_api.models import (
    DeadLetterList,
    DeadLetterOut,
    DeadLetterRangeIn,
    ResendResult,
    ResendSkipped,
    WebhookAttemptList,
    WebhookAttemptOut,
    WebhookSecretOut,
    WebhookTestSent,
)
from ingest_api.responses import ERRORS, NOT_FOUND
from ingest_api.routes.webhooks import ONE, find, new_secret, write
from ingest_api.webhook_ledger import WebhookLedger
from loyalty_stream.domain.clock import iso_utc
from loyalty_stream.kafka.keys import join_key
from schemas.serde import DecodeError


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    runtime: Runtime = app.state.runtime
    ledger = WebhookLedger(runtime.settings, runtime.serde)
    ledger.start()
    app.state.webhook_ledger = ledger
    try:
        yield
    finally:
        ledger.stop()


router = APIRouter(tags=["Webhook operations"], lifespan=lifespan)
DEAD = "/api/{storeCode}/webhook/deadLetter"
NO_CONTENT = {204: {"description": "Success. No content."}}


async def synced_ledger(request: Request) -> WebhookLedger:
    ledger: WebhookLedger = request.app.state.webhook_ledger
    await ledger.sync()
    return ledger


def _iso(ms: int | None) -> str | None:
    return iso_utc(datetime.fromtimestamp(ms / 1000, UTC)) if ms else None


def _page(items: list[Any], page: int, per_page: int) -> list[Any]:
    return items[(page - 1) * per_page : page * per_page]


@router.post(ONE + "/secret", response_model=WebhookSecretOut, responses=ERRORS | NOT_FOUND)
async def rotate_secret(webhookSubscription: str, store: StoreDep, runtime: RuntimeDep) -> WebhookSecretOut:
    record = dict(find(runtime, store.code, webhookSubscription))
    secret = new_secret()
    grace_ms = int(runtime.settings.webhook_secret_grace_hours * 3600 * 1000)
    previous = record.get("secret") if record.get("hmacEnabled") else None
    record.update(
        hmacEnabled=True,
        secret=secret,
        previousSecret=previous,
        previousSecretExpiresAtMs=int(time.time() * 1000) + grace_ms if previous else 0,
        updatedAt=iso_utc(),
    )
    await write(runtime, store.code, webhookSubscription, record)
    return WebhookSecretOut(webhookSubscriptionId=webhookSubscription, secret=secret)


@router.post(ONE + "/enable", status_code=204, response_class=Response, responses=NO_CONTENT | ERRORS | NOT_FOUND)
async def enable(webhookSubscription: str, store: StoreDep, runtime: RuntimeDep) -> Response:
    record = dict(find(runtime, store.code, webhookSubscription))
    if record.get("status", "active") != "active":
        record.update(status="active", statusReason=None, updatedAt=iso_utc())
        await write(runtime, store.code, webhookSubscription, record)
    return Response(status_code=204)


async def _send(runtime: Runtime, record: dict[str, Any], key: bytes) -> None:
    """Onto the webhooks topic, stamped with the subscriptions this instance has seen or written, so the
    sender fans it out only once its own copy has them too."""
    record["subscriptionsOffset"] = runtime.control_offsets()[runtime.topics.subscriptions.name]
    await runtime.producer.send(
        runtime.topics.webhooks.name, runtime.serde.encode_for(runtime.topics.webhooks, record), key=key
    )


@router.post(ONE + "/test", response_model=WebhookTestSent, responses=ERRORS | NOT_FOUND)
async def test_send(webhookSubscription: str, store: StoreDep, runtime: RuntimeDep) -> WebhookTestSent:
    subscription = find(runtime, store.code, webhookSubscription)
    if subscription.get("status", "active") != "active":
        raise bad_request("webhookSubscription", "The subscription is disabled: enable it first.", "disabled")
    message_id = str(uuid.uuid4())
    data = {
        "webhookSubscriptionId": webhookSubscription,
        "eventName": subscription["eventName"],
        "message": "A test webhook from loyalty-stream.",
    }
    record = {
        "messageId": message_id,
        "eventName": "WebhookTest",
        "storeCode": store.code,
        "createdAt": iso_utc(),
        "data": orjson.dumps(data).decode(),
        "subscriptionId": webhookSubscription,
    }
    await _send(runtime, record, join_key(store.code, webhookSubscription))
    return WebhookTestSent(messageId=message_id)


@router.get(ONE + "/attempts", response_model=WebhookAttemptList, responses=ERRORS | NOT_FOUND)
async def attempts(
    request: Request,
    webhookSubscription: str,
    store: StoreDep,
    runtime: RuntimeDep,
    messageId: str | None = None,
    page: Annotated[int, Query(alias="_page", ge=1)] = 1,
    per_page: Annotated[int, Query(alias="_itemsOnPage", ge=1, le=100)] = 100,
) -> WebhookAttemptList:
    find(runtime, store.code, webhookSubscription)
    ledger = await synced_ledger(request)
    entries = [
        e for e in ledger.attempts(store.code, webhookSubscription) if messageId is None or e["messageId"] == messageId
    ]
    items = [
        WebhookAttemptOut(
            messageId=e["messageId"],
            requestId=e.get("requestId"),
            eventName=e["eventName"],
            attempt=e.get("attempt") or 0,
            outcome=e.get("outcome") or "",
            status=e.get("lastStatus"),
            error=e.get("lastError"),
            attemptedAt=_iso(e.get("attemptedAtMs")) or "",
            durationMs=e.get("durationMs") or 0,
            nextAttemptAt=_iso(e.get("dueAtMs")),
        )
        for e in _page(entries, page, per_page)
    ]
    return WebhookAttemptList(items=items, total=len(entries))


def _dead_out(partition: int, offset: int, r: dict[str, Any]) -> DeadLetterOut:
    return DeadLetterOut(
        messageId=r["messageId"],
        subscriptionId=r.get("subscriptionId"),
        eventName=r["eventName"],
        customerId=r.get("customerId"),
        reason=r.get("reason"),
        lastStatus=r.get("lastStatus"),
        lastError=r.get("lastError"),
        attempts=r.get("attempt") or 0,
        deadAt=_iso(r.get("attemptedAtMs")),
        partition=partition,
        offset=offset,
    )


@router.get(DEAD, response_model=DeadLetterList, responses=ERRORS)
async def dead_letters(
    request: Request,
    store: StoreDep,
    messageId: str | None = None,
    subscriptionId: str | None = None,
    reason: str | None = None,
    page: Annotated[int, Query(alias="_page", ge=1)] = 1,
    per_page: Annotated[int, Query(alias="_itemsOnPage", ge=1, le=100)] = 50,
) -> DeadLetterList:
    ledger = await synced_ledger(request)
    chosen = [
        d
        for d in ledger.dead_letters(store.code)
        if (messageId is None or d.record["messageId"] == messageId)
        and (subscriptionId is None or d.record.get("subscriptionId") == subscriptionId)
        and (reason is None or d.record.get("reason") == reason)
    ]
    items = [_dead_out(d.partition, d.offset, d.record) for d in _page(chosen, page, per_page)]
    return DeadLetterList(items=items, total=len(chosen))


async def _resend(
    runtime: Runtime, store: str, found: list[tuple[bytes | None, bytes | None]], result: ResendResult
) -> ResendResult:
    """Each dead letter back onto the webhooks topic, for its subscription only, attempts from zero."""
    for key, value in found:
        try:
            _name, record = runtime.serde.decode(value or b"", expect="WebhookMessage")
        except DecodeError:
            continue
        if record["storeCode"] != store:
            continue
        subscription = runtime.control.subscriptions.get((store, record.get("subscriptionId") or ""))
        if subscription is None:
            result.skipped.append(ResendSkipped(messageId=record["messageId"], reason="subscription_deleted"))
            continue
        if subscription.get("status", "active") != "active":
            result.skipped.append(ResendSkipped(messageId=record["messageId"], reason="subscription_disabled"))
            continue
        fresh = {k: record.get(k) for k in ("messageId", "eventName", "storeCode", "createdAt", "data", "customerId")}
        fresh["subscriptionId"] = record["subscriptionId"]
        await _send(runtime, fresh, key or join_key(store, record["subscriptionId"]))
        result.resent += 1
        result.messageIds.append(record["messageId"])
    return result


def _read(ledger: WebhookLedger, partition: int, start: int, end: int) -> list[tuple[int, bytes | None, bytes | None]]:
    return list(ledger.read_dead_letters(partition, start, end))


@router.post(DEAD + "/{messageId}/resend", response_model=ResendResult, responses=ERRORS | NOT_FOUND)
async def resend_message(
    request: Request, messageId: str, store: StoreDep, runtime: RuntimeDep, subscriptionId: str | None = None
) -> ResendResult:
    """Every dead letter of this message (one per subscription it failed for, or only ``subscriptionId``'s)."""
    ledger = await synced_ledger(request)
    wanted = [
        d
        for d in ledger.dead_letters(store.code)
        if d.record["messageId"] == messageId
        and (subscriptionId is None or d.record.get("subscriptionId") == subscriptionId)
    ]
    if not wanted:
        raise NotFound()
    latest: dict[str | None, Any] = {}
    for d in wanted:  # newest first: one resend per subscription
        latest.setdefault(d.record.get("subscriptionId"), d)
    loop = asyncio.get_running_loop()
    found = []
    for d in latest.values():
        rows = await loop.run_in_executor(None, _read, ledger, d.partition, d.offset, d.offset + 1)
        found += [(key, value) for _offset, key, value in rows]
    return await _resend(runtime, store.code, found, ResendResult(resent=0, messageIds=[]))


@router.post(DEAD + "/resend", response_model=ResendResult, responses=ERRORS)
async def resend_range(request: Request, body: DeadLetterRangeIn, store: StoreDep, runtime: RuntimeDep) -> ResendResult:
    """The store's dead letters in ``[fromOffset, toOffset)`` of one DLQ partition, optionally filtered."""
    ledger: WebhookLedger = request.app.state.webhook_ledger
    if body.partition >= runtime.topics.webhooks_dlq.partitions:
        raise bad_request("partition", "No such partition of the dead-letter topic.", "invalid_partition")
    end = body.toOffset if body.toOffset is not None else 2**62
    rows = await asyncio.get_running_loop().run_in_executor(None, _read, ledger, body.partition, body.fromOffset, end)
    found = []
    for _offset, key, value in rows:
        try:
            _name, record = runtime.serde.decode(value or b"", expect="WebhookMessage")
        except DecodeError:
            continue
        if (body.subscriptionId is None or record.get("subscriptionId") == body.subscriptionId) and (
            body.reason is None or record.get("reason") == body.reason
        ):
            found.append((key, value))
    return await _resend(runtime, store.code, found, ResendResult(resent=0, messageIds=[]))
