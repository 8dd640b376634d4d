"""Where webhooks may go: loopback, private and link-local destinations are refused unless allowed.

Two checks use one policy (``refusal``):

- when a subscription is saved, a URL whose host is a literal IP address (``literal_refusal``);
- when the sender opens a connection, every address the host name resolves to (``GuardedBackend``).
  The check runs inside the connection pool, on the addresses the socket then connects to, so a DNS
  answer that changes between a check and the connect (DNS rebinding) cannot slip past it, and TLS
  still uses the URL's host name for SNI and certificate checks.

A refused connection raises ``DestinationRefused``; httpx wraps it in ``httpx.ConnectError`` and
``refused_reason`` digs it out again, so the sender dead-letters instead of retrying.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from typing import Any

import httpcore
import httpx

from loyalty_stream.config.destinations import settings_refusal
from loyalty_stream.config.settings import Settings
from loyalty_stream.domain.errors import LoyaltyError


class DestinationRefused(LoyaltyError, httpcore.ConnectError):
    """The destination resolves to an address the settings do not allow."""


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend with the destination policy applied to the resolved addresses."""

    def __init__(self, settings: Settings, inner: httpcore.AsyncNetworkBackend | None = None) -> None:
        self._settings = settings
        self._inner = inner or httpcore.AnyIOBackend()

    async def resolve(self, host: str, port: int) -> list[str]:
        try:
            literal = ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
            addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
        else:
            addresses = [literal]
        if not addresses:
            raise httpcore.ConnectError(f"{host} does not resolve")
        for address in addresses:
            why = settings_refusal(address, self._settings)
            if why:
                raise DestinationRefused(f"destination refused: {host} resolves to {why}")
        return [str(a) for a in dict.fromkeys(addresses)]

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        last: Exception | None = None
        for address in await self.resolve(host, port):
            try:
                return await self._inner.connect_tcp(address, port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        assert last is not None
        raise last

    async def connect_unix_socket(self, *args: Any, **kwargs: Any) -> httpcore.AsyncNetworkStream:
        raise DestinationRefused("destination refused: unix sockets are not webhook destinations")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def refused_reason(exc: BaseException) -> str | None:
    """The refusal message when ``exc`` (or what it wraps) is a ``DestinationRefused``."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, DestinationRefused):
            return str(seen)
        seen = seen.__cause__ or seen.__context__
    return None


class PoolPerOrigin(httpx.AsyncBaseTransport):
    """A connection pool per destination (scheme, host, port), each with the guarded backend.

    httpcore's pool looks at every connection it holds on every request, so in one shared pool the
    connections held open by a hanging endpoint would make every other endpoint's requests slower. Apart,
    a slow endpoint only ever costs its own pool. Concurrency is capped per subscription by the sender's
    lanes, so the pools have no connection cap of their own. Pools live as long as the sender (one per
    destination host, a handful of objects each).

    The guarded pool is swapped into httpx's transport (httpx does not take a network backend);
    ``tests/unit/test_webhook_destinations.py`` catches an httpx release that moves it.
    """

    def __init__(self, settings: Settings, keepalive: int = 32) -> None:
        self._backend = GuardedBackend(settings)
        self._ssl = httpx.create_ssl_context(trust_env=False)
        self._keepalive = keepalive
        self._pools: dict[tuple[bytes, bytes, int | None], httpx.AsyncHTTPTransport] = {}

    def pool(self, url: httpx.URL) -> httpx.AsyncHTTPTransport:
        key = (url.raw_scheme, url.raw_host, url.port)
        transport = self._pools.get(key)
        if transport is None:
            transport = httpx.AsyncHTTPTransport(trust_env=False)
            transport._pool = httpcore.AsyncConnectionPool(
                ssl_context=self._ssl,
                max_connections=None,
                max_keepalive_connections=self._keepalive,
                keepalive_expiry=30.0,
                network_backend=self._backend,
            )
            self._pools[key] = transport
        return transport

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self.pool(request.url).handle_async_request(request)

    async def aclose(self) -> None:
        for transport in list(self._pools.values()):
            await transport.aclose()
        self._pools.clear()


def make_client(settings: Settings) -> httpx.AsyncClient:
    """One client for every endpoint: no redirects, no proxies from the environment, a pool per origin."""
    return httpx.AsyncClient(
        transport=PoolPerOrigin(settings, keepalive=4 * settings.webhook_endpoint_concurrency),
        timeout=httpx.Timeout(settings.webhook_timeout_seconds),
        follow_redirects=False,
        trust_env=False,
    )
