"""The bytes and headers of one delivery attempt: Open Loyalty's envelope, Standard Webhooks signature."""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from typing import Any

import orjson


def envelope(message: dict[str, Any]) -> bytes:
    """{messageId, requestId, eventName, storeCode, createdAt, data}; requestId is new per attempt."""
    return orjson.dumps(
        {
            "messageId": message["messageId"],
            "requestId": str(uuid.uuid4()),
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


def request_headers(subscription: dict[str, Any], message_id: str, body: bytes, timestamp: int) -> dict[str, str]:
    headers = {"Content-Type": "application/json", "User-Agent": "loyalty-stream-webhooks/0.1"}
    for header in subscription.get("headers") or []:
        headers[header["headerName"]] = header["headerValue"]
    if subscription.get("hmacEnabled") and subscription.get("secret"):
        headers.update(
            {
                "webhook-id": message_id,
                "webhook-timestamp": str(timestamp),
                "webhook-signature": sign(subscription["secret"], message_id, timestamp, body),
            }
        )
    return headers
