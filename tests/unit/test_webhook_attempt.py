"""One attempt against a mock client (httpx's MockTransport underneath): what each kind of answer (or silence)
becomes."""

from __future__ import annotations

import asyncio

import httpx
import orjson
import pytest

from tests.support.posters import MockPoster
from tests.support.samples import WEBHOOK_MESSAGE
from webhook_sender.delivery import Attempt, attempt

MESSAGE = WEBHOOK_MESSAGE
SUBSCRIPTION = {"subscriptionId": "s-1", "url": "https://hooks.example.com/in", "headers": []}


def run(handler, timeout: float = 5.0) -> Attempt:
    async def go() -> Attempt:
        client = MockPoster(handler)
        try:
            return await attempt(client, SUBSCRIPTION, MESSAGE, timeout=timeout)
        finally:
            await client.aclose()

    return asyncio.run(go())


def test_delivered_with_the_envelope_and_a_request_id() -> None:
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(orjson.loads(request.content))
        return httpx.Response(204)

    result = run(handler)
    assert (result.verdict, result.status, result.error) == ("delivered", 204, None)
    assert seen[0]["requestId"] == result.request_id
    assert seen[0]["messageId"] == MESSAGE["messageId"]


def test_a_redirect_is_not_followed_and_not_retried() -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        return httpx.Response(301, headers={"Location": "https://elsewhere.example.com/"})

    result = run(handler)
    assert result.verdict == "dead" and result.status == 301
    assert "redirect not followed" in (result.error or "")
    assert calls == ["/in"]


def test_retry_after_and_error_text_are_kept() -> None:
    result = run(lambda _r: httpx.Response(429, headers={"Retry-After": "7"}, text="slow down"))
    assert (result.verdict, result.status, result.retry_after) == ("retry", 429, 7.0)
    assert result.error == "HTTP 429: slow down"


@pytest.mark.parametrize(
    ("exc", "start"),
    [(httpx.ConnectError("refused"), "connection error"), (httpx.ReadTimeout("slow"), "timeout")],
)
def test_transport_failures_are_retried(exc: Exception, start: str) -> None:
    def handler(_request: httpx.Request) -> httpx.Response:
        raise exc

    result = run(handler)
    assert result.verdict == "retry" and result.status is None
    assert (result.error or "").startswith(start)


def test_the_whole_attempt_is_bounded_by_the_timeout() -> None:
    async def handler(_request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(10)  # an endpoint that never answers
        return httpx.Response(200)

    result = run(handler, timeout=0.2)
    assert result.verdict == "retry" and result.error == "timeout after 0.2s"
    assert result.seconds < 5
