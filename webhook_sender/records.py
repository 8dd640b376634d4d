"""The records the sender writes: retries (delay topics), dead letters, attempt-log entries.

All are ``WebhookMessage`` records (``schemas/webhook_message.avsc``):

- a retry carries the message, the subscription it is for, attempts made so far, ``dueAtMs`` and the
  subscription as it was at fan-out (``subscriptionSnapshot``, with its secret: the delay topics hold
  secrets like the subscriptions topic does);
- a dead letter carries the same plus ``reason``, ``lastStatus`` and ``lastError`` (also as headers),
  with the secret removed from the snapshot;
- an attempt-log entry (``loyalty.webhooks.attempts``, key ``storeCode:subscriptionId``) carries one
  attempt's outcome, status, error, requestId and duration, with ``data`` left empty.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from webhook_sender.delivery import Attempt, endpoint_host

SNAPSHOT_FIELDS = ("subscriptionId", "storeCode", "eventName", "url", "headers", "hmacEnabled", "secret")
MESSAGE_FIELDS = ("messageId", "eventName", "storeCode", "createdAt", "data", "customerId")

# Dead-letter reason codes (header ``loyalty-reason`` and field ``reason``).
RETRIES_EXHAUSTED = "retries_exhausted"
NOT_RETRYABLE = "not_retryable"
GONE = "gone"
SUBSCRIPTION_DELETED = "subscription_deleted"
SUBSCRIPTION_DISABLED = "subscription_disabled"
DESTINATION_REFUSED = "destination_refused"
RETRY_AFTER_TOO_LONG = "retry_after_too_long"
UNDECODABLE = "undecodable"


def _always() -> bool:
    return True


@dataclass(frozen=True, slots=True)
class Source:
    """Where a record the sender consumed came from; ``ours()`` turns False once its partition is revoked (its
    new owner reads the record again, so what has not started here is left to it)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    ours: Callable[[], bool] = field(default=_always, compare=False, repr=False)


def snapshot(subscription: dict[str, Any], *, with_secret: bool = True) -> str:
    fields = {k: subscription.get(k) for k in SNAPSHOT_FIELDS if with_secret or k != "secret"}
    return orjson.dumps(fields).decode()


def read_snapshot(text: str | None) -> dict[str, Any] | None:
    if not text:
        return None
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def _base(message: dict[str, Any], subscription: dict[str, Any]) -> dict[str, Any]:
    record = {k: message.get(k) for k in MESSAGE_FIELDS}
    record["subscriptionId"] = subscription["subscriptionId"]
    record["endpointHost"] = endpoint_host(subscription.get("url", ""))
    return record


def retry_record(
    message: dict[str, Any], subscription: dict[str, Any], attempts: int, due_at_ms: int, last: Attempt | None
) -> dict[str, Any]:
    return {
        **_base(message, subscription),
        "attempt": attempts,
        "dueAtMs": due_at_ms,
        "lastStatus": last.status if last else None,
        "lastError": last.error if last else None,
        "subscriptionSnapshot": snapshot(subscription),
    }


@dataclass(frozen=True, slots=True)
class Failure:
    """Why a delivery ends on the dead-letter topic: a reason code, after how many attempts, the last status
    and error."""

    reason: str
    attempts: int
    status: int | None = None
    error: str | None = None


def dead_letter_record(
    message: dict[str, Any], subscription: dict[str, Any] | None, failure: Failure, now_ms: int
) -> dict[str, Any]:
    record = _base(message, subscription) if subscription else {k: message.get(k) for k in MESSAGE_FIELDS}
    if not subscription:
        record["subscriptionId"] = message.get("subscriptionId")
    record.update(
        {
            "attempt": failure.attempts,
            "lastStatus": failure.status,
            "lastError": failure.error,
            "reason": failure.reason,
            "attemptedAtMs": now_ms,
            "subscriptionSnapshot": snapshot(subscription, with_secret=False) if subscription else None,
        }
    )
    return record


def dead_letter_headers(failure: Failure, subscription_id: str | None, source: Source) -> list[tuple[str, bytes]]:
    headers = [
        ("loyalty-reason", failure.reason.encode()),
        ("loyalty-error", (failure.error or failure.reason)[:1000].encode()),
        ("loyalty-attempts", str(failure.attempts).encode()),
        ("loyalty-source-topic", source.topic.encode()),
        ("loyalty-source-partition", str(source.partition).encode()),
        ("loyalty-source-offset", str(source.offset).encode()),
    ]
    if failure.status is not None:
        headers.append(("loyalty-status", str(failure.status).encode()))
    if subscription_id:
        headers.append(("loyalty-subscription-id", subscription_id.encode()))
    return headers


def attempt_record(
    message: dict[str, Any],
    subscription: dict[str, Any],
    number: int,
    result: Attempt,
    now_ms: int,
    next_due_ms: int = 0,
) -> dict[str, Any]:
    return {
        **_base(message, subscription),
        "data": "",
        "attempt": number,
        "dueAtMs": next_due_ms,
        "lastStatus": result.status,
        "lastError": result.error,
        "outcome": result.verdict,
        "requestId": result.request_id,
        "attemptedAtMs": now_ms,
        "durationMs": int(result.seconds * 1000),
    }
