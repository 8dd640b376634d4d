"""Webhook subscriptions as Open Loyalty has them: POST/GET …/webhook/subscription, GET/PUT/DELETE …/{id}.

Subscriptions live on the compacted subscriptions topic (key ``storeCode:subscriptionId``, a tombstone
deletes); every sender mirrors it, so changes apply without a restart. Each write is answered only
once this instance's copy includes it (read-your-writes for the GETs that follow). Secrets are
returned once (create, rotation) and never in a GET.
"""

from __future__ import annotations

import base64
import secrets
import uuid
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Query, Request, Response

from ingest_api.deps import Runtime, RuntimeDep, StoreDep
from ingest_api.errors import NotFound, bad_request
from ingest_api.models import (
    WEBHOOK_EVENT_NAMES,
    SearchableTotal,
    WebhookHeaderIn,
    WebhookSubscriptionCreated,
    WebhookSubscriptionDetails,
    WebhookSubscriptionList,
    WebhookSubscriptionRequest,
    WebhookSubscriptionUpdateRequest,
)
from ingest_api.responses import ERRORS, NOT_FOUND
from loyalty_stream.config.destinations import literal_refusal
from loyalty_stream.domain.clock import iso_utc
from loyalty_stream.kafka.keys import join_key

router = APIRouter(tags=["Webhook subscription"])
ONE = "/api/{storeCode}/webhook/subscription/{webhookSubscription}"
NO_CONTENT = {204: {"description": "Success. No content."}}


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def checked_url(url: str, runtime: Runtime) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise bad_request("webhookSubscription.url", "This value is not a valid URL.", "invalid_url")
    why = literal_refusal(url, runtime.settings)
    if why:
        raise bad_request("webhookSubscription.url", f"This destination is not allowed: {why}.", "url_not_allowed")
    return url


def header_list(
    headers: list[WebhookHeaderIn], header_name: str | None, header_value: str | None
) -> list[dict[str, str]]:
    out = [h.model_dump() for h in headers]
    if header_name and header_value is not None:  # the deprecated single-header form
        out.append({"headerName": header_name, "headerValue": header_value})
    return out


def find(runtime: Runtime, store: str, subscription_id: str) -> dict[str, Any]:
    record = runtime.control.subscriptions.get((store, subscription_id))
    if record is None:
        raise NotFound()
    return record


async def write(runtime: Runtime, store: str, subscription_id: str, record: dict[str, Any] | None) -> None:
    """Put (or with None, delete) a subscription and wait until this instance's copy has it."""
    topic = runtime.topics.subscriptions.name
    value = runtime.serde.encode_for(runtime.topics.subscriptions, record) if record is not None else None
    _partition, offset = await runtime.producer.send(topic, value, key=join_key(store, subscription_id))
    await runtime.await_own_write(topic, offset)


def details(record: dict[str, Any]) -> WebhookSubscriptionDetails:
    return WebhookSubscriptionDetails(
        webhookSubscriptionId=record["subscriptionId"],
        eventName=record["eventName"],
        url=record["url"],
        headers=record.get("headers") or [],
        createdAt=record.get("createdAt"),
        hmacEnabled=bool(record.get("hmacEnabled")),
        status="disabled" if record.get("status") == "disabled" else "active",
        statusReason=record.get("statusReason"),
        updatedAt=record.get("updatedAt"),
    )


@router.post(
    "/api/{storeCode}/webhook/subscription",
    response_model=WebhookSubscriptionCreated,
    response_model_exclude_none=True,
    responses=ERRORS,
)
async def post_subscription(
    body: WebhookSubscriptionRequest, store: StoreDep, runtime: RuntimeDep
) -> WebhookSubscriptionCreated:
    sub = body.webhookSubscription
    if sub.eventName not in WEBHOOK_EVENT_NAMES:
        raise bad_request(
            "webhookSubscription.eventName",
            f"Unknown event name. Served: {', '.join(WEBHOOK_EVENT_NAMES)}.",
            "unknown_event",
        )
    subscription_id = str(uuid.uuid4())
    secret = new_secret() if sub.hmacEnabled else None
    now = iso_utc()
    record = {
        "storeCode": store.code,
        "subscriptionId": subscription_id,
        "eventName": sub.eventName,
        "url": checked_url(sub.url, runtime),
        "headers": header_list(sub.headers, sub.headerName, sub.headerValue),
        "hmacEnabled": sub.hmacEnabled,
        "secret": secret,
        "status": "active",
        "statusReason": None,
        "createdAt": now,
        "updatedAt": now,
    }
    await write(runtime, store.code, subscription_id, record)
    return WebhookSubscriptionCreated(webhookSubscriptionId=subscription_id, secret=secret)


@router.get(
    "/api/{storeCode}/webhook/subscription",
    response_model=WebhookSubscriptionList,
    response_model_exclude_none=True,
    responses=ERRORS,
)
async def list_subscriptions(
    request: Request,
    store: StoreDep,
    runtime: RuntimeDep,
    url: str | None = None,
    eventName: str | None = None,
    createdAt: str | None = None,
    page: Annotated[int, Query(alias="_page", ge=1)] = 1,
    per_page: Annotated[int, Query(alias="_itemsOnPage", ge=1, le=50)] = 10,
) -> WebhookSubscriptionList:
    everything = runtime.control.store_items(runtime.control.subscriptions, store.code)
    chosen = [
        r
        for r in everything
        if (url is None or url in r["url"])
        and (eventName is None or r["eventName"] == eventName)
        and (createdAt is None or (r.get("createdAt") or "").startswith(createdAt.replace("+00:00", "")))
    ]
    # _orderBy[field]=asc|desc (deepObject); default: oldest first
    order = [(k[len("_orderBy[") : -1], v) for k, v in request.query_params.items() if k.startswith("_orderBy[")]
    field, direction = order[0] if order else ("createdAt", "asc")
    field = {"webhookSubscriptionId": "subscriptionId"}.get(field, field)
    chosen.sort(key=lambda r: (str(r.get(field) or ""), r["subscriptionId"]), reverse=direction == "desc")
    window = chosen[(page - 1) * per_page : page * per_page]
    return WebhookSubscriptionList(
        items=[details(r) for r in window], total=SearchableTotal(all=len(everything), filtered=len(chosen))
    )


@router.get(
    ONE, response_model=WebhookSubscriptionDetails, response_model_exclude_none=True, responses=ERRORS | NOT_FOUND
)
async def get_subscription(
    webhookSubscription: str, store: StoreDep, runtime: RuntimeDep
) -> WebhookSubscriptionDetails:
    return details(find(runtime, store.code, webhookSubscription))


@router.put(ONE, status_code=204, response_class=Response, responses=NO_CONTENT | ERRORS | NOT_FOUND)
async def put_subscription(
    webhookSubscription: str, body: WebhookSubscriptionUpdateRequest, store: StoreDep, runtime: RuntimeDep
) -> Response:
    record = dict(find(runtime, store.code, webhookSubscription))
    sub = body.webhookSubscription
    record["url"] = checked_url(sub.url, runtime)
    record["headers"] = header_list(sub.headers, sub.headerName, sub.headerValue)
    if sub.hmacEnabled is False:
        record.update(hmacEnabled=False, secret=None, previousSecret=None, previousSecretExpiresAtMs=0)
    elif sub.hmacEnabled and not record.get("secret"):
        raise bad_request(
            "webhookSubscription.hmacEnabled",
            f"Signing needs a secret: POST {ONE}/secret creates one and returns it.",
            "secret_required",
        )
    record["updatedAt"] = iso_utc()
    await write(runtime, store.code, webhookSubscription, record)
    return Response(status_code=204)


@router.delete(ONE, status_code=204, response_class=Response, responses=NO_CONTENT | ERRORS | NOT_FOUND)
async def delete_subscription(webhookSubscription: str, store: StoreDep, runtime: RuntimeDep) -> Response:
    find(runtime, store.code, webhookSubscription)
    await write(runtime, store.code, webhookSubscription, None)
    return Response(status_code=204)
