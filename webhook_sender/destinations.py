"""Where webhooks may go, and the HTTP client that takes them there.

Loopback, private and link-local destinations are refused unless allowed. Two checks use one policy
(``loyalty_stream/config/destinations.py``):

- when a subscription is saved, a URL whose host is a literal IP address (``literal_refusal``);
- when the sender connects: a literal address before the request, every address a host name resolves to
  in the client's resolver (``GuardedResolver``). The connection is made to the addresses that resolver
  returned, so a DNS answer that changes between the check and the connect (DNS rebinding) cannot slip
  past it, and TLS still uses the URL's host name for SNI and certificate checks.

A refused destination raises ``DestinationRefused``; aiohttp wraps it and ``refused_reason`` digs it out
again, so the sender dead-letters instead of retrying.

The client is aiohttp's (``WebhookClient``): in make bench's A/B (docs/decisions.md) it took a sixth to a
ninth of httpx's CPU per webhook, and one sender core was the bound. ``Poster`` is what the sender needs of a
client: the unit tests drive the sender's logic through another one (``tests/support/posters.py``).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from loyalty_stream.config.destinations import settings_refusal
from loyalty_stream.config.settings import Settings
from loyalty_stream.domain.errors import LoyaltyError

ERROR_BODY_BYTES = 512  # of an answer's body, kept for the error text
DRAIN_BYTES = 64 * 1024  # read to the end up to this, so the connection can serve the next request


class DestinationRefused(LoyaltyError, OSError):
    """The destination is, or resolves to, an address the settings do not allow."""


class TransportFailed(LoyaltyError):
    """No HTTP answer: the connection could not be made or broke (timeouts are ``TimeoutError``)."""


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    headers: Mapping[str, str]  # case-insensitive lookups, as HTTP has them
    head: bytes  # the first ERROR_BODY_BYTES of the body


class Poster(Protocol):
    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> Answer:
        """POST once, without following redirects; raises TransportFailed, DestinationRefused or TimeoutError."""
        ...

    async def aclose(self) -> None: ...


def refused_reason(exc: BaseException) -> str | None:
    """The refusal message when ``exc`` (or what it wraps) is a ``DestinationRefused``."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, DestinationRefused):
            return str(seen)
        seen = seen.__cause__ or seen.__context__ or getattr(seen, "os_error", None)
    return None


class GuardedResolver(AbstractResolver):
    """aiohttp's resolver with the destination policy applied to every address a name resolves to."""

    def __init__(self, settings: Settings, inner: AbstractResolver | None = None) -> None:
        self._settings = settings
        self._inner = inner or DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found = await self._inner.resolve(host, port, family)
        if not found:
            raise OSError(f"{host} does not resolve")
        for result in found:
            why = settings_refusal(ipaddress.ip_address(result["host"].split("%")[0]), self._settings)
            if why:
                raise DestinationRefused(f"destination refused: {host} resolves to {why}")
        return found

    async def close(self) -> None:
        await self._inner.close()


class WebhookClient:
    """One aiohttp session for every endpoint: no redirects, no proxies from the environment, no cookies,
    connections kept alive per destination (aiohttp keys its pool by host, so a hanging endpoint's
    connections cost nobody else's requests); concurrency is capped per subscription by the sender's lanes."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._session: aiohttp.ClientSession | None = None
        self._literals: dict[str, str | None] = {}  # host → why refused (None: allowed); IPs skip the resolver

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = aiohttp.TCPConnector(
                resolver=GuardedResolver(self._settings), limit=0, keepalive_timeout=30.0, ttl_dns_cache=10
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                trust_env=False,
                cookie_jar=aiohttp.DummyCookieJar(),
                skip_auto_headers=("Accept-Encoding",),  # an answer's body is only ever an error's text
                timeout=aiohttp.ClientTimeout(total=None),  # the attempt's own deadline bounds it (delivery.py)
            )
        return self._session

    def _literal_refusal(self, url: str) -> str | None:
        host = (urlsplit(url).hostname or "").strip("[]")
        if host not in self._literals:
            try:
                address = ipaddress.ip_address(host)
            except ValueError:
                self._literals[host] = None  # a name: the resolver checks it
            else:
                self._literals[host] = settings_refusal(address, self._settings)
        return self._literals[host]

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> Answer:
        why = self._literal_refusal(url)
        if why:
            raise DestinationRefused(f"destination refused: {why}")
        try:
            async with self._open().post(url, data=body, headers=dict(headers), allow_redirects=False) as response:
                head, size = b"", 0
                while size <= DRAIN_BYTES:  # past it: not worth reading, the connection is closed instead
                    chunk = await response.content.readany()
                    if not chunk:
                        break
                    if len(head) < ERROR_BODY_BYTES:
                        head += chunk[: ERROR_BODY_BYTES - len(head)]
                    size += len(chunk)
                return Answer(response.status, response.headers, head)
        except aiohttp.ClientError as exc:
            if isinstance(exc, TimeoutError):
                raise
            raise TransportFailed(f"{type(exc).__name__}: {exc}") from exc

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
