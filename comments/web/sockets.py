"""What the public sockets (a thread's, and live counts) share at their handshake: the
site and origin checks, and the per-address cap on open sockets."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from starlette.websockets import WebSocket

from comments.models import SITE_SLUG
from comments.node import Node
from comments.sites import Site
from comments.store import StoreUnavailable
from comments.web.errors import error_response
from comments.web.writes import origin_allowed


async def deny(websocket: WebSocket, status: int, code: str, message: str) -> None:
    """Refuse the handshake with an HTTP answer carrying the API's JSON error."""
    await websocket.send_denial_response(error_response(status, code, message))


async def socket_site(websocket: WebSocket) -> Site | None:
    """The socket's site, or None once the handshake has been refused (unknown site,
    storage away, an origin neither the server's own nor among the site's)."""
    svc: Node = websocket.state.node
    slug = websocket.path_params["site"]
    try:
        site = await svc.sites.get(slug) if SITE_SLUG.fullmatch(slug) else None
    except StoreUnavailable:
        await deny(websocket, 503, "unavailable", "storage is unavailable; retry")
        return None
    if site is None:
        await deny(websocket, 404, "unknown_site", f"no site {slug!r}")
        return None
    # No Origin (servers, apps), the server's own (configured, never from Host), or the
    # site's.
    if not origin_allowed(websocket.headers.get("origin"), svc.settings.own_origins, site.origins):
        await deny(websocket, 403, "origin_not_allowed", "this origin is not allowed")
        return None
    return site


@contextmanager
def address_slot(websocket: WebSocket) -> Iterator[bool]:
    """Hold one of the client address's sockets for the block; yields False (and holds
    nothing) when the address has COMMENTS_MAX_SOCKETS_PER_IP open already."""
    svc: Node = websocket.state.node
    ip = websocket.client.host if websocket.client else "unknown"
    cap = svc.settings.max_sockets_per_ip
    if cap and svc.sockets_per_ip.get(ip, 0) >= cap:
        svc.metrics.rate_limited.inc(limit="sockets_per_ip")
        yield False
        return
    svc.sockets_per_ip[ip] = svc.sockets_per_ip.get(ip, 0) + 1
    try:
        yield True
    finally:
        left = svc.sockets_per_ip.get(ip, 1) - 1
        if left:
            svc.sockets_per_ip[ip] = left
        else:
            svc.sockets_per_ip.pop(ip, None)


async def too_many(websocket: WebSocket) -> None:
    await deny(websocket, 429, "too_many_sockets", "too many open sockets from your address")
