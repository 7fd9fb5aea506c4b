"""Webhook connections go only to addresses vetted as they are connected to.

The pre-check (webhooks.check_destination) resolves the host, then httpx would resolve it
again on its own: a hostile DNS server can answer a public address to the first and
127.0.0.1 to the second (rebinding, TTL 0). Here the host is resolved once, every address
vetted (is_public), and the TCP connection made to a vetted IP. TLS is unaffected:
httpcore then calls ``stream.start_tls(server_hostname=<the URL's host>)`` on the stream
returned, so the certificate is still verified for, and SNI still names, the hostname;
the Host header comes from the URL as before.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Iterable

import httpcore
import httpx

from comments.integrations.webhooks import (
    Resolver,
    WebhookRefused,
    refuse_non_public,
    resolve_host,
)

# httpx's own defaults (its DEFAULT_LIMITS is not public).
LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20)


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """An httpcore network backend that resolves, vets and then connects by IP address
    through ``inner``. With ``allow_private`` nothing is refused, but the connection is
    still made the same way (one code path, tested on loopback receivers)."""

    def __init__(
        self,
        *,
        allow_private: bool,
        resolve: Resolver = resolve_host,
        inner: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        self.allow_private = allow_private
        self.resolve = resolve
        self.inner = inner if inner is not None else httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        # One deadline for resolving and every address tried, as httpx's connect timeout.
        try:
            async with asyncio.timeout(timeout):
                addresses = await self._vetted(host, port)
                return await self._first_to_connect(
                    addresses, port, timeout, local_address, socket_options
                )
        except TimeoutError:
            raise httpcore.ConnectTimeout(f"connecting to {host}:{port} timed out") from None

    async def _vetted(self, host: str, port: int) -> list[str]:
        try:
            addresses = await self.resolve(host, port)
        except OSError as exc:
            raise httpcore.ConnectError(f"{host} does not resolve: {exc}") from None
        if not addresses:
            raise httpcore.ConnectError(f"{host} resolves to no address")
        if not self.allow_private:
            try:
                refuse_non_public(host, addresses)
            except WebhookRefused as exc:
                # Not an httpcore error: httpx passes it through unchanged, and the
                # deliverer records it as a failed attempt like the pre-check's refusal.
                raise WebhookRefused(f"refused when connecting: {exc}") from None
        return addresses

    async def _first_to_connect(
        self,
        addresses: list[str],
        port: int,
        timeout: float | None,
        local_address: str | None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None,
    ) -> httpcore.AsyncNetworkStream:
        options = list(socket_options) if socket_options is not None else None
        failure: Exception = httpcore.ConnectError("no address to connect to")
        for address in addresses:
            try:
                # An IP literal: the inner backend connects to it without resolving again.
                return await self.inner.connect_tcp(
                    address,
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        # Webhooks are URLs; a socket path would bypass the address check entirely.
        raise httpcore.ConnectError("webhooks do not connect to Unix sockets")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport, its connection pool connecting through a GuardedBackend.

    httpx's transport takes no network backend, so its pool is replaced by one built with
    the same settings plus the backend: ``_pool`` is the one private name used, checked
    first so that an httpx that renamed it fails loudly instead of running unguarded."""

    def __init__(
        self,
        *,
        allow_private: bool,
        resolve: Resolver = resolve_host,
        verify: ssl.SSLContext | bool = True,
        limits: httpx.Limits = LIMITS,
    ) -> None:
        super().__init__(verify=verify, trust_env=False, limits=limits)
        if not isinstance(getattr(self, "_pool", None), httpcore.AsyncConnectionPool):
            raise RuntimeError("httpx's transport changed: cannot guard webhook connections")
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(verify=verify, trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=GuardedBackend(allow_private=allow_private, resolve=resolve),
        )
