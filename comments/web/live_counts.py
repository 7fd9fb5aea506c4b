"""Live counts: ``/ws/v1/sites/{site}/counts?article=a&article=b`` (docs/api.md,
"Live counts"), what count.js opens once per page."""

from __future__ import annotations

import asyncio

from starlette.datastructures import QueryParams
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket

from comments.live.counts import CountSocket
from comments.live.pump import pump
from comments.models import ARTICLE_MAX
from comments.node import Node
from comments.store import StoreUnavailable
from comments.web.common import valid_article
from comments.web.public import COUNTS_MAX
from comments.web.sockets import address_slot, deny, socket_site, too_many

ATTACH_TIMEOUT_S = 10.0


async def live_counts(websocket: WebSocket) -> None:
    svc: Node = websocket.state.node
    site = await socket_site(websocket)
    if site is None:
        return
    with address_slot(websocket) as admitted:
        if not admitted:
            return await too_many(websocket)
        sock = await _attach(websocket, svc, site.slug)
        if sock is None:
            return
        try:
            await websocket.accept()
            # Inbound messages are capped by the server (server/config.py), as on every
            # socket; readers have nothing to say.
            await pump(websocket, sock, close_reason="closing")
        finally:
            svc.counts.detach(sock)


async def _attach(websocket: WebSocket, svc: Node, site: str) -> CountSocket | None:
    """The socket's counts, or None once the handshake was refused. A function of its
    own so that the parsed query is not kept alive by the socket's frame."""
    # Not websocket.query_params, which the socket would keep for its whole life.
    articles = list(dict.fromkeys(QueryParams(websocket.scope["query_string"]).getlist("article")))
    if not articles:
        await deny(websocket, 422, "invalid_parameter", "name at least one article")
        return None
    if len(articles) > COUNTS_MAX:
        await deny(websocket, 422, "too_many_articles", f"at most {COUNTS_MAX} articles per socket")
        return None
    if not all(valid_article(a) for a in articles):
        await deny(
            websocket,
            422,
            "invalid_article",
            f"an article id has 1 to {ARTICLE_MAX} characters, none of them NUL",
        )
        return None
    try:
        # Subscribing may wait on a database or broker that is away: answer, not hang.
        return await asyncio.wait_for(svc.counts.attach(site, articles), ATTACH_TIMEOUT_S)
    except (StoreUnavailable, TimeoutError):
        await deny(websocket, 503, "unavailable", "storage is unavailable; retry")
        return None


route = WebSocketRoute("/ws/v1/sites/{site}/counts", live_counts)
routes = [route]
