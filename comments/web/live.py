"""The live stream: ``/ws/v1/sites/{site}/articles/{article}?since=`` (docs/api.md)."""

from __future__ import annotations

import asyncio
import logging

from starlette.datastructures import QueryParams
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket

from comments.live.pump import pump
from comments.models import SEQ_MAX
from comments.node import Node
from comments.store import StoreUnavailable
from comments.web.common import valid_article
from comments.web.sockets import address_slot, deny, socket_site, too_many

log = logging.getLogger("comments.live")
ATTACH_TIMEOUT_S = 10.0


async def live(websocket: WebSocket) -> None:
    svc: Node = websocket.state.node
    article = websocket.path_params["article"]
    site = await socket_site(websocket)
    if site is None:
        return
    if not valid_article(article):
        return await deny(
            websocket, 422, "invalid_article", "an article id has 1 to 200 characters, no NUL"
        )
    since: int | None = None
    # Not websocket.query_params, which the socket would keep for its whole life.
    raw_since = QueryParams(websocket.scope["query_string"]).get("since")
    if raw_since:
        try:
            since = int(raw_since)
        except ValueError:
            return await deny(websocket, 422, "invalid_parameter", "since must be a whole number")
        if not 0 <= since <= SEQ_MAX:
            return await deny(websocket, 422, "invalid_parameter", "since is out of range")

    with address_slot(websocket) as admitted:
        if not admitted:
            return await too_many(websocket)
        try:
            # The channel may wait on a database that is away: answer rather than hang.
            sub = await asyncio.wait_for(
                svc.hub.attach(site.slug, article, since), ATTACH_TIMEOUT_S
            )
        except (StoreUnavailable, TimeoutError):
            return await deny(websocket, 503, "unavailable", "storage is unavailable; retry")
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


route = WebSocketRoute("/ws/v1/sites/{site}/articles/{article:path}", live)
routes = [route]
