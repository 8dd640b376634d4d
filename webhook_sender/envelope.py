"""The bytes and headers of one delivery attempt: Open Loyalty's envelope, Standard Webhooks signature."""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from collections.abc import Sequence
from typing import Any

import orjson

USER_AGENT = "loyalty-stream-webhooks/0.1"
# Headers of ours that a subscription's own headers cannot replace.
RESERVED_HEADERS = frozenset(
    {"content-type", "content-length", "host", "webhook-id", "webhook-timestamp", "webhook-signature"}
)


def envelope(message: dict[str, Any], request_id: str | None = None) -> bytes:
    """{messageId, requestId, eventName, storeCode, createdAt, data}; requestId is new per attempt."""
    return orjson.dumps(
        {
            "messageId": message["messageId"],
            "requestId": request_id or str(uuid.uuid4()),
            "eventName": message["eventName"],
            "storeCode": message["storeCode"],
            "createdAt": message["createdAt"],
            "data": orjson.loads(message["data"]),
        }
    )


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """Standard Webhooks: v1,<base64 HMAC-SHA256 of "id.timestamp.body"> with the base64 key after whsec_."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    digest = hmac.new(key, f"{message_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def request_headers(
    subscription: dict[str, Any],
    message_id: str,
    body: bytes,
    timestamp: int,
    secrets: Sequence[str] | None = None,
) -> dict[str, str]:
    """The subscription's headers, then ours. With HMAC on, one signature per secret (space-separated).

    ``secrets`` defaults to the subscription's own; during a rotation the sender passes the new and the
    old one, and a Standard Webhooks verifier accepts the request if any signature matches its secret.
    """
    headers: dict[str, str] = {}
    for header in subscription.get("headers") or []:
        if header["headerName"].lower() not in RESERVED_HEADERS:
            headers[header["headerName"]] = header["headerValue"]
    headers.setdefault("User-Agent", USER_AGENT)
    headers["Content-Type"] = "application/json"
    keys = list(secrets) if secrets is not None else [subscription["secret"]] if subscription.get("secret") else []
    if subscription.get("hmacEnabled") and keys:
        headers.update(
            {
                "webhook-id": message_id,
                "webhook-timestamp": str(timestamp),
                "webhook-signature": " ".join(sign(key, message_id, timestamp, body) for key in keys),
            }
        )
    return headers
