"""Destination safety: which addresses are refused, at subscription time and at connect time."""

from __future__ import annotations

import asyncio
import ipaddress

import httpcore
import httpx
import pytest

from loyalty_stream.config.destinations import literal_refusal, refusal
from loyalty_stream.config.settings import Settings
from webhook_sender.delivery import attempt
from webhook_sender.destinations import GuardedBackend, PoolPerOrigin, make_client

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
    backend = GuardedBackend(Settings(webhook_allow_loopback=False))

    async def connect() -> None:
        await backend.connect_tcp("localhost", 9, timeout=1)

    with pytest.raises(httpcore.ConnectError, match="destination refused"):
        asyncio.run(connect())


def test_a_refused_destination_is_a_refused_attempt_not_a_retry() -> None:
    async def run() -> str:
        client = make_client(Settings(webhook_allow_loopback=False))
        try:
            result = await attempt(client, {"url": "http://localhost:9/x", "subscriptionId": "s"}, MESSAGE, timeout=5)
        finally:
            await client.aclose()
        return result.verdict

    assert asyncio.run(run()) == "refused"


def test_each_origin_gets_its_own_guarded_pool() -> None:
    # make_client swaps httpx's private connection pool for one with the guarded backend: if an httpx
    # release moves that attribute, this fails instead of silently dropping the destination check.
    client = make_client(Settings())
    transport = client._transport
    assert isinstance(transport, PoolPerOrigin)
    a = transport.pool(httpx.URL("https://a.example.com/x"))
    assert transport.pool(httpx.URL("https://a.example.com/y")) is a
    assert transport.pool(httpx.URL("https://b.example.com/x")) is not a
    assert transport.pool(httpx.URL("http://a.example.com/x")) is not a
    assert isinstance(a._pool._network_backend, GuardedBackend)
    asyncio.run(client.aclose())
