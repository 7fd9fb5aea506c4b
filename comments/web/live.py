"""The live stream: ``/ws/v1/sites/{site}/articles/{article}?since=`` (docs/api.md)."""

from __future__ import annotations

import asyncio
import logging

from starlette.datastructures import QueryParams
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket

from comments.live.pump import pump
from comments.models import SEQ_MAX, SITE_SLUG
from comments.node import Node
from comments.store import StoreUnavailable
from comments.web.common import valid_article
from comments.web.errors import error_response
from comments.web.writes import origin_allowed

log = logging.getLogger("comments.live")
ATTACH_TIMEOUT_S = 10.0


async def _deny(websocket: WebSocket, status: int, code: str, message: str) -> None:
    await websocket.send_denial_response(error_response(status, code, message))


async def live(websocket: WebSocket) -> None:
    svc: Node = websocket.state.node
    slug = websocket.path_params["site"]
    article = websocket.path_params["article"]
    try:
        site = await svc.sites.get(slug) if SITE_SLUG.fullmatch(slug) else None
    except StoreUnavailable:
        return await _deny(websocket, 503, "unavailable", "storage is unavailable; retry")
    if site is None:
        return await _deny(websocket, 404, "unknown_site", f"no site {slug!r}")
    if not valid_article(article):
        return await _deny(
            websocket, 422, "invalid_article", "an article id has 1 to 200 characters, no NUL"
        )
    # No Origin (servers, apps), the server's own (configured, never from Host), or the
    # site's.
    if not origin_allowed(websocket.headers.get("origin"), svc.settings.own_origins, site.origins):
        return await _deny(websocket, 403, "origin_not_allowed", "this origin is not allowed")
    since: int | None = None
    # Not websocket.query_params, which the socket would keep for its whole life.
    raw_since = QueryParams(websocket.scope["query_string"]).get("since")
    if raw_since:
        try:
            since = int(raw_since)
        except ValueError:
            return await _deny(websocket, 422, "invalid_parameter", "since must be a whole number")
        if not 0 <= since <= SEQ_MAX:
            return await _deny(websocket, 422, "invalid_parameter", "since is out of range")

    ip = websocket.client.host if websocket.client else "unknown"
    cap = svc.settings.max_sockets_per_ip
    if cap and svc.sockets_per_ip.get(ip, 0) >= cap:
        svc.metrics.rate_limited.inc(limit="sockets_per_ip")
        return await _deny(
            websocket, 429, "too_many_sockets", "too many open sockets from your address"
        )
    svc.sockets_per_ip[ip] = svc.sockets_per_ip.get(ip, 0) + 1
    try:
        try:
            # The channel may wait on a database that is away: answer rather than hang.
            sub = await asyncio.wait_for(
                svc.hub.attach(site.slug, article, since), ATTACH_TIMEOUT_S
            )
        except (StoreUnavailable, TimeoutError):
            return await _deny(websocket, 503, "unavailable", "storage is unavailable; retry")
        try:
            await websocket.accept()
            delivered = svc.metrics.events_delivered
            # Inbound messages are capped by the server: ws_max_size, 64 KiB (server/config.py).
            await pump(
                websocket,
                sub,
                close_reason="too slow; reconnect with since",
                sent=lambda: delivered.inc(sub.taken),
            )
        finally:
            svc.hub.detach(sub)
    finally:
        left = svc.sockets_per_ip.get(ip, 1) - 1
        if left:
            svc.sockets_per_ip[ip] = left
        else:
            svc.sockets_per_ip.pop(ip, None)


route = WebSocketRoute("/ws/v1/sites/{site}/articles/{article:path}", live)
routes = [route]
