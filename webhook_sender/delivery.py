"""One delivery attempt and what its result means for the next step (delivered, retry, give up)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, Literal

import httpx

from webhook_sender.envelope import envelope, request_headers

Verdict = Literal["delivered", "retry", "dead", "gone"]
RETRIED_STATUSES = {408, 429}


@dataclass(frozen=True, slots=True)
class Attempt:
    verdict: Verdict
    status: int | None
    error: str | None
    retry_after: float | None = None
    seconds: float = 0.0


def retry_after_seconds(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


def classify(status: int) -> Verdict:
    if 200 <= status < 300:
        return "delivered"
    if status == 410:
        return "gone"
    if status in RETRIED_STATUSES or status >= 500:
        return "retry"
    return "dead"  # 3xx (redirects are not followed) and other 4xx


async def attempt(client: httpx.AsyncClient, subscription: dict[str, Any], message: dict[str, Any]) -> Attempt:
    body = envelope(message)
    headers = request_headers(subscription, message["messageId"], body, int(time.time()))
    started = time.perf_counter()
    try:
        response = await client.post(subscription["url"], content=body, headers=headers, follow_redirects=False)
    except httpx.TimeoutException as exc:
        return Attempt("retry", None, f"timeout: {exc!r}", seconds=time.perf_counter() - started)
    except httpx.HTTPError as exc:
        return Attempt("retry", None, f"connection error: {exc!r}", seconds=time.perf_counter() - started)
    return Attempt(
        classify(response.status_code),
        response.status_code,
        None if response.is_success else response.text[:500],
        retry_after_seconds(response.headers.get("Retry-After")),
        time.perf_counter() - started,
    )
