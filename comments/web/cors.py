"""CORS for the public API, ``/api/v1/sites/{site}/…``, driven by each site's origins.

A request from an origin among the site's allowed origins gets that origin echoed back
(never ``*``); any other origin gets no grant at all, so the browser keeps the answer from
the page. Every answer under these paths carries ``Vary: Origin`` so that caches keep one
copy per origin. Preflights (``OPTIONS`` with ``Access-Control-Request-Method``) are
answered here. The WebSocket ``Origin`` check lives with the socket (web/live.py).
"""

from __future__ import annotations

import logging
import re

from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from comments.models import SITE_SLUG
from comments.node import Node
from comments.sites import normalize_origin
from comments.store import StoreUnavailable
from comments.web.errors import error_response

log = logging.getLogger("comments.cors")

SITE_PATH = re.compile(r"^/api/v1/sites/([^/]+)/")
ALLOW_METHODS = "GET, POST, PUT, PATCH, DELETE, OPTIONS"  # PUT: likes
ALLOW_HEADERS = "Authorization, Content-Type, X-Comments-Guest"
# The widget reads Retry-After to tell a rate-limited reader how long to wait.
EXPOSE_HEADERS = "Retry-After"
PREFLIGHT_MAX_AGE = "600"


async def allowed_origin(node: Node | None, slug: str, origin: str | None) -> str | None:
    """The origin to grant, as the browser sent it, or None for no grant."""
    if origin is None or node is None or not SITE_SLUG.fullmatch(slug):
        return None
    try:
        normalized = normalize_origin(origin)
    except ValueError:
        return None
    try:
        site = await node.sites.get(slug)
    except StoreUnavailable as exc:
        log.warning("no CORS grant while the store is unavailable: %s", exc)
        return None
    if site is None or normalized not in site.origins:
        return None
    return origin


class SiteCors:
    """ASGI middleware: per-site CORS on the public API; everything else passes through."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        match = SITE_PATH.match(scope["path"]) if scope["type"] == "http" else None
        if match is None:
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        node: Node | None = (scope.get("state") or {}).get("node")
        granted = await allowed_origin(node, match.group(1), headers.get("origin"))

        if scope["method"] == "OPTIONS" and "access-control-request-method" in headers:
            response: Response
            if granted is None:
                response = error_response(
                    403, "origin_not_allowed", "this origin is not allowed for this site"
                )
            else:
                response = Response(
                    status_code=204,
                    headers={
                        "Access-Control-Allow-Origin": granted,
                        "Access-Control-Allow-Methods": ALLOW_METHODS,
                        "Access-Control-Allow-Headers": ALLOW_HEADERS,
                        "Access-Control-Max-Age": PREFLIGHT_MAX_AGE,
                    },
                )
            response.headers.add_vary_header("Origin")
            await response(scope, receive, send)
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                if granted is None:
                    # Every cached read passes here: the raw list, not MutableHeaders.
                    message["headers"] = vary_origin(list(message.get("headers", ())))
                else:
                    out = MutableHeaders(scope=message)
                    out.add_vary_header("Origin")
                    out["Access-Control-Allow-Origin"] = granted
                    out["Access-Control-Expose-Headers"] = EXPOSE_HEADERS
            await send(message)

        await self.app(scope, receive, send_with_cors)


def vary_origin(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """``headers`` (raw, names in lower case as Starlette makes them) with Origin in
    Vary, as ``MutableHeaders.add_vary_header("Origin")`` would make them."""
    for i, (name, value) in enumerate(headers):
        if name == b"vary":
            headers[i] = (name, value + b", Origin")
            return headers
    headers.append((b"vary", b"Origin"))
    return headers
