"""One delivery attempt and what its result means for the next step.

Verdicts: ``delivered`` (2xx); ``retry`` (timeout, connection error, 408, 429, 5xx); ``dead`` (3xx,
since redirects are not followed, and other 4xx); ``gone`` (410: the subscription is disabled);
``refused`` (the destination's address is not allowed). The sender adds ``deferred`` for attempts it
skips while an endpoint's circuit is open.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, Literal
from urllib.parse import urlsplit

from webhook_sender.destinations import ERROR_BODY_BYTES, Poster, TransportFailed, refused_reason
from webhook_sender.envelope import envelope, request_headers

Verdict = Literal["delivered", "retry", "dead", "gone", "refused", "deferred"]
RETRIED_STATUSES = {408, 429}


@dataclass(frozen=True, slots=True)
class Attempt:
    verdict: Verdict
    status: int | None
    error: str | None
    retry_after: float | None = None
    seconds: float = 0.0
    request_id: str | None = None
    counts: bool = True  # False: the sender did not try (endpoint busy); not an attempt, never toward the DLQ


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """``Retry-After`` as seconds from now: delta-seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - (time.time() if now is None else now))
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


def endpoint_host(url: str) -> str:
    return urlsplit(url).hostname or "unknown"


async def attempt(
    client: Poster,
    subscription: dict[str, Any],
    message: dict[str, Any],
    *,
    timeout: float,
    secrets: Sequence[str] | None = None,
) -> Attempt:
    """POST the envelope once; the whole attempt (DNS, connect, send, answer) gets at most ``timeout``."""
    request_id = str(uuid.uuid4())
    body = envelope(message, request_id)
    headers = request_headers(subscription, message["messageId"], body, int(time.time()), secrets)
    started = time.perf_counter()

    def took() -> float:
        return time.perf_counter() - started

    try:
        async with asyncio.timeout(timeout):
            answer = await client.post(subscription["url"], body, headers)
    except TimeoutError:
        return Attempt("retry", None, f"timeout after {timeout:g}s", seconds=took(), request_id=request_id)
    except (TransportFailed, OSError) as exc:
        why = refused_reason(exc)
        if why:
            return Attempt("refused", None, why, seconds=took(), request_id=request_id)
        return Attempt(
            "retry", None, f"connection error: {type(exc).__name__}: {exc}"[:500], seconds=took(), request_id=request_id
        )
    status = answer.status
    error = None
    if not 200 <= status < 300:
        error = f"HTTP {status}"
        if 300 <= status < 400 and answer.headers.get("location"):
            error += " (redirect not followed)"
        snippet = answer.head[:ERROR_BODY_BYTES].decode("utf-8", "replace").strip()
        if snippet:
            error += f": {snippet}"
    return Attempt(
        classify(status), status, error, retry_after_seconds(answer.headers.get("Retry-After")), took(), request_id
    )
