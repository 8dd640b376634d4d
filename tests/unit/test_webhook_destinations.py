"""Destination safety: which addresses are refused, at subscription time and at connect time."""

from __future__ import annotations

import asyncio
import ipaddress
from typing import Any

import pytest

from loyalty_stream.config.destinations import literal_refusal, refusal
from loyalty_stream.config.settings import Settings
from webhook_sender.delivery import attempt
from webhook_sender.destinations import DestinationRefused, GuardedResolver, WebhookClient

MESSAGE = {"messageId": "m-1", "eventName": "AchievementCreated", "storeCode": "S", "createdAt": "now", "data": "{}"}


# Which setting lets a destination through: public ones always, multicast never.
ALLOWED_BY = {
    "8.8.8.8": "public", "2606:4700::1111": "public",
    "127.0.0.1": "loopback", "::1": "loopback", "0.0.0.0": "loopback", "::ffff:127.0.0.1": "loopback",
    "10.1.2.3": "private", "172.16.0.1": "private", "192.168.1.1": "private", "100.64.0.1": "private",
    "169.254.169.254": "private",  # cloud metadata: link-local
    "fe80::1": "private", "fd00::1": "private",
    "224.0.0.1": "nothing",
}  # fmt: skip


@pytest.mark.parametrize("address", sorted(ALLOWED_BY))
@pytest.mark.parametrize(("loopback", "private"), [(False, False), (True, False), (False, True), (True, True)])
def test_address_policy(address: str, loopback: bool, private: bool) -> None:
    allowed_by = ALLOWED_BY[address]
    allowed = allowed_by == "public" or (allowed_by == "loopback" and loopback) or (allowed_by == "private" and private)
    why = refusal(ipaddress.ip_address(address), allow_loopback=loopback, allow_private=private)
    assert (why is None) == allowed, why


def test_literal_ips_are_checked_when_subscribing_names_when_connecting() -> None:
    strict = Settings(webhook_allow_loopback=False, webhook_allow_private=False)
    assert literal_refusal("http://127.0.0.1:9999/hook", strict)
    assert literal_refusal("http://[::1]/hook", strict)
    assert literal_refusal("https://10.0.0.5/hook", strict)
    assert literal_refusal("https://hooks.example.com/x", strict) is None
    assert literal_refusal("http://localhost:9999/x", strict) is None  # a name: refused after resolution
    assert literal_refusal("http://127.0.0.1:9999/hook", Settings(webhook_allow_loopback=True)) is None


def test_names_resolving_to_loopback_are_refused_at_connect_time() -> None:
    async def resolve() -> None:
        await GuardedResolver(Settings(webhook_allow_loopback=False)).resolve("localhost", 9)

    with pytest.raises(DestinationRefused, match="destination refused: localhost resolves to"):
        asyncio.run(resolve())


@pytest.mark.parametrize("url", ["http://localhost:9/x", "http://127.0.0.1:9/x", "http://[::1]:9/x"])
def test_a_refused_destination_is_a_refused_attempt_not_a_retry(url: str) -> None:
    # A name is refused in aiohttp's resolver (wrapped by aiohttp, dug out again); an IP literal, which
    # aiohttp never resolves, before the request.
    async def run() -> str:
        client = WebhookClient(Settings(webhook_allow_loopback=False))
        try:
            result = await attempt(client, {"url": url, "subscriptionId": "s"}, MESSAGE, timeout=5)
        finally:
            await client.aclose()
        return result.verdict

    assert asyncio.run(run()) == "refused"


async def _http_server(answers: list[bytes]) -> tuple[asyncio.Server, int, list[bytes], list[int]]:
    """A raw HTTP/1.1 server on 127.0.0.1 giving ``answers`` in turn; the requests it read, connections made."""
    requests: list[bytes] = []
    connections: list[int] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        while answers:
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(
                next(line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length"))
            )
            requests.append(head + await reader.readexactly(length))
            writer.write(answers.pop(0))
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1], requests, connections


def test_the_client_posts_once_keeps_the_connection_and_follows_no_redirect() -> None:
    answers = [
        b"HTTP/1.1 204 No Content\r\n\r\n",
        b"HTTP/1.1 301 Moved\r\nLocation: http://elsewhere.example.com/\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 429 Slow\r\nRetry-After: 7\r\nContent-Length: 9\r\n\r\nslow down",
    ]

    async def run() -> tuple[list[Any], list[bytes], list[int]]:
        server, port, requests, connections = await _http_server(answers)
        client = WebhookClient(Settings(webhook_allow_loopback=True))
        subscription = {"url": f"http://127.0.0.1:{port}/in", "subscriptionId": "s", "headers": []}
        try:
            results = [await attempt(client, subscription, MESSAGE, timeout=5) for _ in range(3)]
        finally:
            await client.aclose()
            server.close()
        return results, requests, connections

    results, requests, connections = asyncio.run(run())
    assert [(r.verdict, r.status) for r in results] == [("delivered", 204), ("dead", 301), ("retry", 429)]
    assert "redirect not followed" in (results[1].error or "")
    assert (results[2].retry_after, results[2].error) == (7.0, "HTTP 429: slow down")
    assert len(requests) == 3 and len(connections) == 1  # kept alive, the redirect not followed
    assert (
        requests[0].startswith(b"POST /in HTTP/1.1") and b"user-agent: loyalty-stream-webhooks" in requests[0].lower()
    )
    assert requests[0].endswith(b'"eventName":"AchievementCreated","storeCode":"S","createdAt":"now","data":{}}')
