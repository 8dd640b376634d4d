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
from urllib.parse import urlsplit

import httpcore
import httpx

from loyalty_stream.settings import Settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_SHARED = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT, private in all but name


class DestinationRefused(httpcore.ConnectError):
    """The destination resolves to an address the settings do not allow."""


def refusal(address: IPAddress, *, allow_loopback: bool, allow_private: bool) -> str | None:
    """Why a connection to ``address`` is refused, or None when it is allowed."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.is_loopback or address.is_unspecified:  # 0.0.0.0 reaches this host too
        return None if allow_loopback else f"{address} is a loopback address"
    if address.is_multicast:
        return f"{address} is a multicast address"
    if address.is_link_local:
        return None if allow_private else f"{address} is a link-local address"
    if address.is_private or address in _SHARED or address.is_reserved:
        return None if allow_private else f"{address} is a private address"
    return None


def settings_refusal(address: IPAddress, settings: Settings) -> str | None:
    return refusal(
        address, allow_loopback=settings.webhook_allow_loopback, allow_private=settings.webhook_allow_private
    )


def literal_refusal(url: str, settings: Settings) -> str | None:
    """For a URL whose host is an IP literal: why it is refused, or None (names are checked at delivery)."""
    host = (urlsplit(url).hostname or "").strip("[]")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None  # a name: checked when the sender connects, after DNS resolution
    return settings_refusal(address, settings)


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


def make_client(settings: Settings) -> httpx.AsyncClient:
    """One client for every endpoint: no redirects, no proxies from the environment, no pool-wide cap.

    Concurrency is limited per subscription by the sender, so one hanging endpoint can never use up a
    shared connection pool. The guarded pool is swapped into httpx's transport (httpx does not take a
    network backend); ``tests/unit/test_webhook_destinations.py`` catches an httpx that moves it.
    """
    transport = httpx.AsyncHTTPTransport(trust_env=False)
    transport._pool = httpcore.AsyncConnectionPool(
        ssl_context=httpx.create_ssl_context(trust_env=False),
        max_connections=None,
        max_keepalive_connections=200,
        keepalive_expiry=30.0,
        network_backend=GuardedBackend(settings),
    )
    return httpx.AsyncClient(
        transport=transport,
        timeout=httpx.Timeout(settings.webhook_timeout_seconds),
        follow_redirects=False,
        trust_env=False,
    )
