"""Every request body, before any route sees it: bounded in size (413) and strict JSON (400).

- **Size.** ``LOYALTY_API_MAX_BODY_BYTES`` (1 MiB) per request, ``LOYALTY_API_BATCH_MAX_BYTES`` (5 MiB) for
  ``POST /customEvent/batch`` and ``POST /member/batch``. A declared ``Content-Length`` over the limit is
  refused before a byte is read; a chunked body is counted while it streams in and refused as soon as it
  passes the limit, so the API never holds more than the limit of any request.
- **Strict JSON.** A JSON body (``Content-Type`` ``application/json`` / ``*+json``, or none) must be
  RFC 8259 JSON: no ``NaN``/``Infinity`` literals, no number that overflows to infinity, no lone UTF-16
  surrogate in a string, UTF-8 only. Python's ``json`` accepts all of those and they would fail later
  (Avro and JSON encoders refuse them: a 500). The body is parsed with orjson and handed on re-encoded,
  so integers past 64 bits arrive as (finite) floats. Anything else is 400 at path ``body``.
  The batch endpoints parse their bodies with orjson themselves and get them as sent.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from email.message import Message as _MimeHeader

import orjson
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ingest_api.errors import ApiError, PayloadTooLarge, bad_request, error_response
from loyalty_stream.config.settings import Settings
from loyalty_stream.domain.errors import LoyaltyError

BATCH_PATH = re.compile(r"^/api/[^/]+/(customEvent|member)/batch/?$")


class ClientGone(LoyaltyError):
    """The client disconnected before its body was complete: nobody to answer."""


def too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"Request body too large: the limit is {limit} bytes")


async def read_limited(chunks: AsyncIterator[bytes], declared: str | None, limit: int) -> bytes:
    """The whole body, refused with 413 as soon as it is known to exceed ``limit`` (declared or streamed)."""
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_large(limit)
    parts, size = [], 0
    async for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise too_large(limit)
        parts.append(chunk)
    return b"".join(parts)


async def request_chunks(receive: Receive) -> AsyncIterator[bytes]:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone()
        if message["type"] == "http.request":
            yield message.get("body", b"")
            if not message.get("more_body", False):
                return


def is_json(content_type: str | None) -> bool:
    """As FastAPI decides whether to parse a body as JSON: no content type, or application/json or */*+json."""
    if not content_type or content_type == "application/json":
        return True
    header = _MimeHeader()
    header["content-type"] = content_type
    subtype = header.get_content_subtype()
    return header.get_content_maintype() == "application" and (subtype == "json" or subtype.endswith("+json"))


def strict_json(body: bytes) -> bytes:
    """``body`` parsed as strict JSON and re-encoded; 400 at ``body`` if it is not."""
    try:
        return orjson.dumps(orjson.loads(body))
    except orjson.JSONDecodeError as exc:
        raise bad_request("body", f"The request body is not valid JSON: {exc}", "invalid_json") from None


class BodyGuard:
    """Pure ASGI middleware: reads the body under its limit, checks it, replays it to the app."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.max_bytes = settings.api_max_body_bytes
        self.batch_max_bytes = settings.api_batch_max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        batch = BATCH_PATH.match(scope["path"]) is not None
        headers = Headers(scope=scope)
        try:
            limit = self.batch_max_bytes if batch else self.max_bytes
            body = await read_limited(request_chunks(receive), headers.get("content-length"), limit)
            if body and not batch and is_json(headers.get("content-type")):
                checked = strict_json(body)
                if len(checked) != len(body):
                    # in place: a copy would hide the matched route from the metrics middleware above us
                    scope["headers"] = _with_length(scope["headers"], len(checked))
                body = checked
        except ClientGone:
            return
        except ApiError as error:
            await error_response(error)(scope, receive, send)
            return
        await self.app(scope, replay(body, receive), send)


def replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that gives the body already read, then what the server sends next (the disconnect)."""
    replayed = False

    async def again() -> Message:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # after the body: wait for the disconnect, as the server would

    return again


def _with_length(raw: list[tuple[bytes, bytes]], length: int) -> list[tuple[bytes, bytes]]:
    kept = [(k, v) for k, v in raw if k.lower() != b"content-length"]
    return [*kept, (b"content-length", str(length).encode())]
