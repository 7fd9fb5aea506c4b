"""Moderator HTTP API and live queue socket (docs/api.md, "Moderation")."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from comments.live.pump import pump
from comments.models import SITE_SLUG
from comments.moderation.console import audit_about
from comments.node import Node
from comments.sites import Site
from comments.store.review import SCOPES, Moderator
from comments.web.article_pages import page_edit
from comments.web.common import (
    article_of,
    author_id_of,
    node_of,
    parse_json_object,
    read_body,
    storable,
)
from comments.web.errors import ApiError, error_response
from comments.web.mod_access import (
    expected_status,
    feed_filter,
    require_author_in_scope,
    visible_entries,
)
from comments.web.mod_queue import queue_params
from comments.web.writes import WRITE_METHODS, check_write, origin_allowed

TICKET_TTL = timedelta(seconds=30)
AUDIT_PAGE_MAX = 200
AUDIT_ID_MAX = 2**31 - 1  # audit.id is a 32-bit integer on PostgreSQL


async def moderator_of(request: Request) -> Moderator:
    """The moderator a token names; for a write, then checked to come from the server's
    own console (or from no browser at all: scripts send no Origin).

    Raises:
        ApiError: 401; for writes 415 ``unsupported_media_type``, 403
            ``origin_not_allowed``.
    """
    moderator = await _token_holder(request)
    if request.method in WRITE_METHODS:
        check_write(request, None)
    return moderator


async def _token_holder(request: Request) -> Moderator:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "unauthenticated", "send a moderator token as 'Bearer <token>'")
    moderator = await node_of(request).review.moderator_by_token(token.strip())
    if moderator is None:
        raise ApiError(401, "unauthenticated", "unknown or revoked moderator token")
    return moderator


async def site_for(request: Request, moderator: Moderator) -> Site:
    slug = request.path_params["site"]
    site = await node_of(request).sites.get(slug) if SITE_SLUG.fullmatch(slug) else None
    if site is None:
        raise ApiError(404, "unknown_site", f"no site {slug!r}")
    if site.slug != moderator.site:
        raise ApiError(403, "forbidden", "your token is for another site")
    return site


async def tickets(request: Request) -> JSONResponse:
    moderator = await moderator_of(request)
    ticket = await node_of(request).review.create_ticket(moderator, TICKET_TTL)
    return JSONResponse({"ticket": ticket, "expires_in": int(TICKET_TTL.total_seconds())})


async def get_queue(request: Request) -> JSONResponse:
    moderator = await moderator_of(request)
    site = await site_for(request, moderator)
    node = node_of(request)
    limit, cursor, only = queue_params(request)
    page = await node.reviewing.queue(
        site, limit=limit, cursor=cursor, only=only, prefixes=list(moderator.scopes) or None
    )
    # The console's banner while the bundled model scores (it misses threats and hate).
    return JSONResponse(
        {
            "items": [i.to_json() for i in page.items],
            "next": page.next,
            "counts": page.counts,
            "classifier": node.scorer.console_status(),
        }
    )


async def approve(request: Request) -> JSONResponse:
    moderator = await moderator_of(request)
    expected = await expected_status(request)
    comment = await node_of(request).reviewing.approve(
        moderator, request.path_params["id"], expected
    )
    return JSONResponse({"comment": comment.to_json()})


async def reject(request: Request) -> JSONResponse:
    moderator = await moderator_of(request)
    expected = await expected_status(request)
    comment = await node_of(request).reviewing.reject(
        moderator, request.path_params["id"], expected
    )
    return JSONResponse({"comment": comment.to_json()})


def _until(value: object) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        # "timestamp" in docs/api.md: Unix seconds are one too.
        try:
            return datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError, ValueError):
            raise ApiError(422, "invalid_body", "until is out of range") from None
    if not isinstance(value, str):
        raise ApiError(422, "invalid_body", "until is an ISO 8601 timestamp, Unix seconds or null")
    try:
        at = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ApiError(422, "invalid_body", "until is an ISO 8601 timestamp or null") from None
    if at.tzinfo is None:
        raise ApiError(422, "invalid_body", "until needs a time zone (e.g. Z)")
    try:
        # Stored in UTC: an offset can carry year 9999 or year 1 past the calendar's end
        # (the database refused it: a 503 that no retry cures).
        return at.astimezone(UTC)
    except OverflowError:
        raise ApiError(422, "invalid_body", "until is out of range") from None


async def ban(request: Request) -> JSONResponse:
    moderator = await moderator_of(request)
    site = await site_for(request, moderator)
    author_id = author_id_of(request)
    await require_author_in_scope(request, moderator, author_id)
    svc = node_of(request)
    if request.method == "DELETE":
        lifted = await svc.reviewing.unban(moderator.name, site.slug, author_id)
        return JSONResponse(
            {
                "author": author_id,
                "banned": False,
                "lifted": None if lifted is None else lifted.to_json(),
            }
        )
    data = parse_json_object(await read_body(request))
    reason = data.get("reason", "")
    if not isinstance(reason, str) or len(reason) > 1000 or not storable(reason):
        raise ApiError(422, "invalid_body", "reason is a string of at most 1,000 characters")
    until = _until(data.get("until"))
    scope = data.get("scope")
    if scope is not None and scope not in SCOPES:
        raise ApiError(422, "invalid_body", "scope is 'author' or 'author+network'")
    shadow = data.get("shadow", False)
    if not isinstance(shadow, bool):
        raise ApiError(422, "invalid_body", "shadow must be true or false")
    new = await svc.reviewing.ban(
        moderator.name,
        site.slug,
        author_id,
        reason=reason,
        until=until,
        scope=scope,
        shadow=shadow,
    )
    shown = None if until is None else until.isoformat()
    return JSONResponse(
        {
            "author": author_id,
            "banned": True,
            "until": shown,
            "scope": new.scope,
            "shadow": new.shadow,
            "ban": new.to_json(),
        }
    )


async def list_bans(request: Request) -> JSONResponse:
    moderator = await moderator_of(request)
    site = await site_for(request, moderator)
    found = await node_of(request).reviewing.bans(site.slug)
    return JSONResponse({"bans": [b.to_json() for b in found]})


async def patch_article(request: Request) -> JSONResponse:
    moderator = await moderator_of(request)
    site = await site_for(request, moderator)
    article = article_of(request)
    data = parse_json_object(await read_body(request))
    values: dict[str, bool | None] = {"closed": None, "premoderated": None}
    for key in values:
        if key in data:
            if not isinstance(data[key], bool):
                raise ApiError(422, "invalid_body", f"{key} must be true or false")
            values[key] = data[key]
    page = page_edit(data)
    if values["closed"] is None and values["premoderated"] is None and not page:
        raise ApiError(422, "invalid_body", "send closed, premoderated, title and/or url")
    state = await node_of(request).reviewing.set_article(
        moderator,
        site.slug,
        article,
        closed=values["closed"],
        premoderated=values["premoderated"],
        page=page,
    )
    return JSONResponse(state)


async def get_audit(request: Request) -> JSONResponse:
    moderator = await moderator_of(request)
    site = await site_for(request, moderator)
    try:
        before = int(request.query_params["before"]) if request.query_params.get("before") else None
        limit = int(request.query_params.get("limit") or 50)
    except ValueError:
        raise ApiError(422, "invalid_parameter", "before and limit are whole numbers") from None
    if limit < 1:
        raise ApiError(422, "invalid_parameter", "limit must be at least 1")
    if before is not None and before < 0:
        raise ApiError(422, "invalid_parameter", "before must not be negative")
    if before is not None and before > AUDIT_ID_MAX:
        # Every entry id is below it; the database could not bind it (500/503 before).
        before = None
    entries, nxt = await node_of(request).review.audit_log(
        site.slug, before=before, limit=min(limit, AUDIT_PAGE_MAX)
    )
    # What each target names (comment excerpt, article title): the log without bare ids.
    about = await audit_about(node_of(request).reviewing, site.slug, entries)
    for entry in entries:
        entry["about"] = about.get(entry["target"])
    # A scoped moderator's page may hold fewer entries; `next` pages on all the same.
    return JSONResponse({"entries": visible_entries(moderator, entries), "next": nxt})


async def queue_socket(websocket: WebSocket) -> None:
    svc: Node = websocket.state.node
    # The console is the server's own page: its socket comes from the server's own origin
    # (or from no browser). Checked before the ticket is spent.
    if not origin_allowed(websocket.headers.get("origin"), svc.settings.own_origins):
        await websocket.send_denial_response(
            error_response(403, "origin_not_allowed", "this origin may not open this socket")
        )
        return
    ticket = websocket.query_params.get("ticket")
    moderator = await svc.review.redeem_ticket(ticket) if ticket else None
    if moderator is None:
        await websocket.send_denial_response(
            error_response(401, "unauthenticated", "open this socket with a fresh ticket")
        )
        return
    slug = websocket.path_params["site"]
    if slug != moderator.site:
        await websocket.send_denial_response(
            error_response(403, "forbidden", "your ticket is for another site")
        )
        return
    sub = await svc.feed.attach(slug, moderator.id, moderator, feed_filter(moderator))
    try:
        await websocket.accept()
        await pump(websocket, sub, close_reason="too slow; reload the queue")
    finally:
        await svc.feed.detach(sub)


routes = [
    Route("/api/v1/moderation/tickets", tickets, methods=["POST"]),
    Route("/api/v1/moderation/sites/{site}/queue", get_queue, methods=["GET"]),
    Route("/api/v1/moderation/comments/{id}/approve", approve, methods=["POST"]),
    Route("/api/v1/moderation/comments/{id}/reject", reject, methods=["POST"]),
    Route(
        "/api/v1/moderation/sites/{site}/authors/{author_id:path}/ban",
        ban,
        methods=["POST", "DELETE"],
    ),
    Route(
        "/api/v1/moderation/sites/{site}/articles/{article:path}",
        patch_article,
        methods=["PATCH"],
    ),
    Route("/api/v1/moderation/sites/{site}/bans", list_bans, methods=["GET"]),
    Route("/api/v1/moderation/sites/{site}/audit", get_audit, methods=["GET"]),
    WebSocketRoute("/ws/v1/moderation/sites/{site}", queue_socket),
]
