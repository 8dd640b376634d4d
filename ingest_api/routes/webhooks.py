"""Webhook subscriptions: POST /api/{storeCode}/webhook/subscription."""

from __future__ import annotations

import base64
import secrets
import uuid
from urllib.parse import urlsplit

from fastapi import APIRouter

from ingest_api.deps import RuntimeDep, StoreDep
from ingest_api.errors import bad_request
from ingest_api.models import WEBHOOK_EVENT_NAMES, WebhookSubscriptionCreated, WebhookSubscriptionRequest
from ingest_api.responses import ERRORS
from loyalty_stream.clock import iso_utc
from loyalty_stream.keys import join_key

router = APIRouter(tags=["Webhook subscription"])


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


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
    parts = urlsplit(sub.url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise bad_request("webhookSubscription.url", "This value is not a valid URL.", "invalid_url")
    headers = [h.model_dump() for h in sub.headers]
    if sub.headerName and sub.headerValue is not None:  # the deprecated single-header form
        headers.append({"headerName": sub.headerName, "headerValue": sub.headerValue})
    subscription_id = str(uuid.uuid4())
    secret = new_secret() if sub.hmacEnabled else None
    now = iso_utc()
    record = {
        "storeCode": store.code,
        "subscriptionId": subscription_id,
        "eventName": sub.eventName,
        "url": sub.url,
        "headers": headers,
        "hmacEnabled": sub.hmacEnabled,
        "secret": secret,
        "status": "active",
        "statusReason": None,
        "createdAt": now,
        "updatedAt": now,
    }
    topic = runtime.topics.subscriptions.name
    _partition, offset = await runtime.producer.send(
        topic, runtime.serde.encode("WebhookSubscription", record), key=join_key(store.code, subscription_id)
    )
    await runtime.await_own_write(topic, offset)
    return WebhookSubscriptionCreated(webhookSubscriptionId=subscription_id, secret=secret)
