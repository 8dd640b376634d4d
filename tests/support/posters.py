"""A webhook client for unit tests of the sender's logic: requests answered by a handler, as with httpx's
``MockTransport`` (``handler(httpx.Request) -> httpx.Response``, sync or async, or raising httpx's errors)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from webhook_sender.destinations import ERROR_BODY_BYTES, Answer, TransportFailed


class MockPoster:
    def __init__(self, handler: Any) -> None:
        self._client = httpx.AsyncClient(transport=httpx.MockTransport(handler), follow_redirects=False)

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> Answer:
        try:
            response = await self._client.post(url, content=body, headers=dict(headers))
        except httpx.TimeoutException as exc:
            raise TimeoutError(str(exc)) from exc
        except httpx.HTTPError as exc:
            raise TransportFailed(f"{type(exc).__name__}: {exc}") from exc
        return Answer(response.status_code, response.headers, response.content[:ERROR_BODY_BYTES])

    async def aclose(self) -> None:
        await self._client.aclose()
