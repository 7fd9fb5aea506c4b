"""``create_app(settings)``: routes, error handling and the node's resources."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Match, Route
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket

from comments.errors import Refused
from comments.infra.broker import BrokerUnavailable
from comments.node import Node
from comments.observability.metrics import allowed, parse_allow
from comments.server.gc_tuning import GcTuning
from comments.settings import Settings
from comments.store import StoreUnavailable
from comments.web import (
    assets,
    edits,
    erasure,
    feeds,
    live,
    live_counts,
    mail,
    metrics,
    mod_console,
    mod_search,
    mod_settings,
    moderation,
    openapi,
    permalinks,
    public,
    reactions,
    reports,
    webhooks,
)
from comments.web.errors import ApiError, error_response, handle_api_error, handle_refused
from comments.web.fast_reads import answer_cached
from comments.web.write_order import AnswerAfterPublish

log = logging.getLogger("comments.app")
READY_TIMEOUT_S = 2.0


async def openapi_json(request: Request) -> JSONResponse:
    return JSONResponse(openapi.document())


async def healthz(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> JSONResponse:
    svc: Node = request.state.node
    database = await _check(svc.store.ping(), StoreUnavailable)
    broker = await _check(svc.broker.ping(), BrokerUnavailable)
    ready = database["state"] == "ok" and broker["state"] == "ok"
    # A failed classifier does not make the node unready: it still serves reads and
    # sockets, and holds every new comment (fail closed) until the classifier is back.
    classifier = await svc.classifier_status()
    client = request.client.host if request.client else None
    if not allowed(client, parse_allow(svc.settings.metrics_allow)):
        # Details name files, addresses and errors: for the addresses that may scrape
        # /metrics (the operators'); everyone else learns the states.
        database, broker = _discreet(database), _discreet(broker)
        classifier = {**classifier, "detail": DISCREET_CLASSIFIER.get(classifier["state"], "")}
    return JSONResponse(
        {"database": database, "broker": broker, "classifier": classifier},
        status_code=200 if ready else 503,
    )


DISCREET = "details are shown to the addresses in COMMENTS_METRICS_ALLOW"
DISCREET_CLASSIFIER = {
    "ok": "",
    "fallback": f"running the bundled model instead of the configured one; {DISCREET}",
    "failed": f"not available: new comments are held; {DISCREET}",
}


def _discreet(check: dict[str, str]) -> dict[str, str]:
    if check["state"] == "ok":
        return check
    return {"state": check["state"], "detail": f"unavailable; {DISCREET}"}


async def _check(probe: Any, errors: type[Exception]) -> dict[str, str]:
    try:
        await asyncio.wait_for(probe, READY_TIMEOUT_S)
    except (TimeoutError, errors, OSError) as exc:
        return {"state": "failed", "detail": str(exc) or type(exc).__name__}
    return {"state": "ok"}


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    codes = {404: "not_found", 405: "method_not_allowed"}
    return error_response(
        exc.status_code,
        codes.get(exc.status_code, "http_error"),
        str(exc.detail),
        dict(exc.headers or {}),
    )


async def _unavailable(request: Request, exc: Exception) -> Response:
    log.warning("storage unavailable: %s", exc)
    return error_response(
        503, "unavailable", "storage is unavailable; retry shortly", {"Retry-After": "5"}
    )


async def _server_error(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(500, "internal", "internal error")


class App(Starlette):
    """Starlette, with one shortcut: a reader's live sockets go straight to their endpoint.

    An idle socket keeps alive every coroutine frame between the server and the await it
    sleeps in, and Starlette puts about ten there (its error and exception middleware,
    ours, the router, the route's wrappers): some 4 kB a socket, a sixth of what it
    cost. None of them does anything for this endpoint: it answers its own errors with
    docs/api.md's denial responses (storage away included, which Starlette's exception
    handler answered before), and the unexpected reaches the server's log."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            for route in SHORTCUT:
                match, child = route.matches(scope)
                if match is Match.FULL:
                    scope["app"] = self
                    scope.update(child)
                    await route.endpoint(WebSocket(scope, receive, send))
                    return
        # A cached anonymous read: answered here when kept and known (web/fast_reads).
        elif (
            scope["type"] == "http"
            and scope["method"] == "GET"
            and await answer_cached(scope, send)
        ):
            return
        await super().__call__(scope, receive, send)


# Public sockets, which every reader's page holds open: threads, and count.js's counts.
SHORTCUT = (live.route, live_counts.route)


def create_app(
    settings: Settings,
    *,
    node: Node | None = None,
    freeze_gc: bool = False,
    demo: assets.Demo | None = None,
) -> Starlette:
    """The ASGI app. Resources start in the lifespan, so importing builds nothing.

    ``freeze_gc`` (``comments serve``; ``COMMENTS_GC_TUNING=0`` turns it off): apply
    :mod:`comments.server.gc_tuning`. Once started, hide every object alive then from
    the garbage collector (:func:`gc.freeze`). They are the libraries, the model and the
    node's resources, which live as long as the process; a full collection walked some
    330,000 of them on a node with the bundled model, 0.24 s during which no socket was
    written, before any reader had connected. Not for a process that starts many apps
    (the tests): the garbage frozen with them would never be freed.
    """

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        svc = node or Node.build(settings)
        await svc.start()
        tuning: GcTuning | None = None
        if freeze_gc:
            # Garbage cycles among these are never freed; they are bounded by what
            # start-up made (and each interval's survivors: see gc_tuning).
            tuning = GcTuning(
                enabled=settings.gc_tuning, freeze_interval_s=settings.gc_freeze_interval_s
            )
            tuning.start()
        app.state.node = svc
        app.state.gc_tuning = tuning
        try:
            yield {"node": svc}
        finally:
            if tuning is not None:
                await tuning.stop()
            await svc.stop()

    routes = [
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/openapi.json", openapi_json),
        *metrics.routes,
        *public.routes,
        *edits.routes,
        *reactions.routes,
        *permalinks.routes,
        *feeds.routes,
        *reports.routes,
        *moderation.routes,
        *mod_settings.routes,
        *mod_console.routes,
        *erasure.routes,
        *mod_search.routes,
        *webhooks.routes,
        *mail.routes,
        *mod_console.last_routes,
        *live.routes,
        *live_counts.routes,
        *assets.routes,
    ]
    app = App(
        routes=routes,
        lifespan=lifespan,
        middleware=[*assets.middleware, Middleware(AnswerAfterPublish)],
        exception_handlers={
            ApiError: handle_api_error,
            Refused: handle_refused,
            HTTPException: _http_error,
            StoreUnavailable: _unavailable,
            Exception: _server_error,
        },
    )
    # Only `comments demo` serves the demo page.
    app.state.demo = demo
    return app
