"""``POST /api/{storeCode}/customEvent`` without FastAPI's machinery, for the requests that succeed.

In the ingest benchmark's profile FastAPI's routing, dependency solving and exception layers were half of
every single-event request's CPU (docs/benchmarks.md). This pure ASGI layer takes that one request as far as
it can without an answer other than 200, with the route's own pieces: the body guard's size limit and strict
JSON, the route's pydantic model, the domain's validation (``intake.event_problems``), the key
check and the store's rate limit (``deps``), and the write (``routes/custom_events.write_event``).

Whatever would not be a 200 (a body too large or chunked, not JSON, invalid; an unknown store, a missing or
wrong key; no token left) is handed, body and all, to the full app, whose route answers it as it always has:
one implementation of every error. Nothing happens before the hand-over that the route would do again (no
token is taken on a refusal, nothing is written), so the answer is the one the route alone would give.
Once a token is taken the request is ours: the write, then 200, or the producer's 503 in the same shape.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import orjson
from fastapi import FastAPI
from pydantic import ValidationError
from starlette.types import ASGIApp, Receive, Scope, Send

from ingest_api.body_guard import ClientGone, is_json, read_limited, replay, request_chunks
from ingest_api.deps import Runtime, authenticate
from ingest_api.errors import ApiError, error_response
from ingest_api.intake import event_problems
from ingest_api.models import CustomEventRequest
from ingest_api.routes.custom_events import PATH, router, write_event

_EVENT_PATH = re.compile(r"^/api/([A-Za-z0-9_-]{1,64})/customEvent$")  # deps.STORE_CODE
_JSON = [(b"content-type", b"application/json")]
_ROUTE = next(r for r in router.routes if getattr(r, "path", None) == PATH)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return None


class FastEvents:
    """Pure ASGI middleware in front of the body guard (``app.create_app`` places it)."""

    def __init__(self, app: ASGIApp, fastapi: FastAPI) -> None:
        self.app = app
        self._fastapi = fastapi

    @property
    def runtime(self) -> Runtime:
        runtime: Runtime = self._fastapi.state.runtime
        return runtime

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        matched = _EVENT_PATH.match(scope["path"]) if scope["type"] == "http" and scope["method"] == "POST" else None
        if matched is None:
            await self.app(scope, receive, send)
            return
        runtime = self.runtime
        limit = runtime.settings.api_max_body_bytes
        length = _header(scope, b"content-length")
        if length is None or not length.isdigit() or int(length) > limit:
            await self.app(scope, receive, send)  # chunked or too large: the body guard decides
            return
        try:
            body = await read_limited(request_chunks(receive), length, limit)
        except ClientGone:
            return
        if not await self._answered(runtime, matched[1], body, scope, receive, send):
            await self.app(scope, replay(body, receive), send)

    async def _answered(
        self, runtime: Runtime, store_code: str, body: bytes, scope: Scope, receive: Receive, send: Send
    ) -> bool:
        """True once this request is answered; False (nothing done) to hand it to the full app."""
        store = runtime.settings.store_map.get(store_code)
        if store is None or not is_json(_header(scope, b"content-type")):
            return False
        try:
            request = CustomEventRequest.model_validate(orjson.loads(body))
        except (orjson.JSONDecodeError, ValidationError):
            return False
        now = datetime.now(UTC)
        if event_problems(store, request.event, runtime.control, now):
            return False
        try:
            authenticate(runtime.settings, store_code, _header(scope, b"x-auth-token"))
            runtime.rate_limiter.check(store.code)
        except ApiError:
            return False  # the route refuses it the same way; a refused check took no token
        scope["route"] = _ROUTE  # for the metrics middleware's label (it reads ``scope["route"]``)
        try:
            custom_event_id = await write_event(runtime, store, request.event, now)
        except ApiError as error:
            await error_response(error)(scope, receive, send)
            return True
        answer = orjson.dumps({"customEventId": custom_event_id})
        headers = [(b"content-length", str(len(answer)).encode()), *_JSON]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": answer})
        return True
