"""Where webhooks may go, by the settings: loopback, private and link-local destinations are refused
unless allowed. One policy (``refusal``) serves two checks: the API's when a subscription is saved
(``literal_refusal``: a URL whose host is an IP literal) and the sender's when it connects
(``webhook_sender/destinations.py``: every address the host name resolves to).
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from loyalty_stream.config.settings import Settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_SHARED = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT, private in all but name


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
