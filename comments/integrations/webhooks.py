"""Webhook signing (Standard Webhooks) and the SSRF guard on their addresses."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from urllib.parse import urlsplit

from standardwebhooks.webhooks import Webhook as Signer

from comments.store.outbox import EVENTS


class WebhookRefused(ValueError):
    """The address is not one webhooks may be sent to."""


def check_events(events: Sequence[str]) -> list[str]:
    unknown = sorted(set(events) - set(EVENTS))
    if unknown:
        raise WebhookRefused(f"unknown event(s) {', '.join(unknown)}; known: {', '.join(EVENTS)}")
    return sorted(set(events) or EVENTS)


def sign_headers(secrets: Sequence[str], msg_id: str, at: datetime, body: str) -> dict[str, str]:
    """The Standard Webhooks headers: one ``v1,<base64 HMAC-SHA256>`` per valid secret,
    space-separated (a receiver accepts the message if any one matches)."""
    signatures = " ".join(Signer(secret).sign(msg_id, at, body) for secret in secrets)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signatures,
        "content-type": "application/json",
    }


def check_url_form(url: str) -> str:
    """An absolute http(s) URL with a host and a usable port; returns the host."""
    try:
        # urlsplit and .port raise ValueError on a bad [IPv6] host or port (99999, "abc").
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise WebhookRefused(f"{url!r} is not a usable URL: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise WebhookRefused(f"{url!r} is not an http:// or https:// URL")
    if parts.username or parts.password:
        raise WebhookRefused("webhook URLs may not carry credentials")
    if port == 0:
        raise WebhookRefused(f"{url!r}: the port must be 1 to 65535")
    return parts.hostname


NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # RFC 6052: the last 32 bits are IPv4
LOCAL_NAT64 = ipaddress.IPv6Network("64:ff9b:1::/48")  # RFC 8215: a network's own, not global
IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")  # deprecated ::a.b.c.d


def embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries to (mapped, compatible, NAT64, 6to4), for the
    public check: ``64:ff9b::7f00:1`` reaches 127.0.0.1 through a NAT64 gateway."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in NAT64 or address in IPV4_COMPATIBLE:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Global and unicast; an IPv6 address that embeds an IPv4 one is judged by that one
    (Python's ``is_global`` passes ``64:ff9b::7f00:1`` and ``2002:7f00:1::``, and its
    verdict on ``::ffff:a.b.c.d`` differs between versions)."""
    if isinstance(address, ipaddress.IPv6Address):
        if address in LOCAL_NAT64:
            return False
        inner = embedded_ipv4(address)
        if inner is not None:
            return is_public(inner)
    return address.is_global and not address.is_multicast


Resolver = Callable[[str, int], Awaitable[list[str]]]
"""A host and port to the addresses to connect to; tests pass one to simulate a DNS
server whose answers change (rebinding)."""


async def resolve_host(host: str, port: int) -> list[str]:
    """The system resolver's addresses for ``host``, in its order (OSError if none)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def refuse_non_public(host: str, addresses: Sequence[str]) -> None:
    """WebhookRefused if any of ``host``'s addresses is not public (one private answer
    is enough: which one gets connected to is not ours to choose before connecting)."""
    for found in addresses:
        address = ipaddress.ip_address(found.split("%")[0])
        if not is_public(address):
            inner = embedded_ipv4(address) if isinstance(address, ipaddress.IPv6Address) else None
            shown = f"{address} (IPv4 {inner})" if inner is not None else str(address)
            raise WebhookRefused(
                f"{host} resolves to {shown}, a non-public address "
                "(set COMMENTS_WEBHOOK_ALLOW_PRIVATE=1 to allow it)"
            )


async def check_destination(
    url: str, *, allow_private: bool, resolve: Resolver = resolve_host
) -> None:
    """Refuse URLs whose host resolves to loopback, link-local, private, reserved or
    multicast addresses (any of them), unless the operator allows private ones
    (COMMENTS_WEBHOOK_ALLOW_PRIVATE). Checked when a webhook is added and again before
    each delivery, after DNS resolution (a name may be re-pointed later), for a clear
    early error; the check that cannot be fooled by a changing DNS answer is the one at
    connection time (guarded_connect)."""
    host = check_url_form(url)
    if allow_private:
        return
    port = urlsplit(url).port or (443 if url.startswith("https") else 80)
    try:
        addresses = await resolve(host, port)
    except OSError as exc:
        raise WebhookRefused(f"{host} does not resolve: {exc}") from None
    refuse_non_public(host, addresses)
